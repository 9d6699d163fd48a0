"""The hostile-input battery's parts: ``plumbing`` (environments, running, judging) and one
``cases_*`` module per area, each registering its cases with ``plumbing.case``."""

from __future__ import annotations

import importlib
import pkgutil


def load_cases() -> None:
    """Import every ``cases_*`` module in name order (registration order is the table's order)."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("cases_"):
            importlib.import_module(f"{__name__}.{info.name}")
