"""The hostile-input battery (issues 10 and 17), run against the real `mirage-cli` and `mirage`.

    .venv/bin/python scripts/hostile_inputs.py [--jobs N] [--only SUBSTRING] [--json FILE]

Every case runs `.venv/bin/mirage-cli` as a subprocess in its own temporary user environment
(MIRAGE_CONFIG_DIR / DATA_DIR / MODELS_DIR / LOG_DIR / CACHE_DIR), with stand-in face models built
here, and is judged from outside: the exit code, stderr, and what happened to the files involved.

    clean      the case's expectation is met (refused with exit code 2 / a clear message, a file kept, ...)
    partly     no traceback, but the expectation is not met (silently accepted, exit 0 on failure, ...)
    traceback  a Python traceback, "Exception ignored", an abort (SIGABRT/SIGSEGV)
    hang       still running at the case's time limit (killed)

"lost" lists what happened to the user's data: the input video (by SHA-256), an output file that
existed before the command, and settings.json (unchanged, backed up, or LOST). Upper-case entries
count as data lost. The script only measures; it changes nothing in the repository.

The cases live in ``scripts/hostile/cases_*.py`` (one module per area, each registering its cases with
``@case``); the section column names the issue's item ("17.4" = issue 17, item 4).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hostile import load_cases
from hostile.plumbing import (
    CASES,
    CLI,
    Fixtures,
    Outcome,
)

# ---------------------------------------------------------------------------------------------- report


def run_case(fx: Fixtures, name: str, section: str, fn: Callable[[Fixtures], Outcome]) -> Outcome:
    started = time.monotonic()
    try:
        outcome = fn(fx)
    except Exception as exc:  # the battery itself must report, not die
        outcome = Outcome(name, section, "-", "partly", f"battery error: {type(exc).__name__}: {exc}")
    outcome.note = (outcome.note + "; " if outcome.note else "") + f"{time.monotonic() - started:.1f} s"
    return outcome


def print_table(outcomes: list[Outcome]) -> None:
    headers = ("case", "§", "exit", "handled", "message (first line)", "data")
    rows = [
        (o.case, o.section, o.rc, o.handled, _clip(o.message, 95), ", ".join(o.lost) or "-") for o in outcomes
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row, outcome in zip(rows, outcomes, strict=True):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if outcome.note:
            print(" " * (widths[0] + 2) + f"note: {outcome.note}")
    counts = {k: sum(o.handled == k for o in outcomes) for k in ("clean", "partly", "traceback", "hang")}
    lost = sum(o.data_lost for o in outcomes)
    print(
        f"\ntried {len(outcomes)}, clean {counts['clean']}, partly {counts['partly']}, "
        f"traceback {counts['traceback']}, hang {counts['hang']}, data lost {lost}"
    )


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once (default 2)")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this")
    parser.add_argument("--section", default="", help="run only the cases whose section starts with this")
    parser.add_argument("--json", type=Path, help="also write the outcomes as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if not CLI.is_file():
        print(f"{CLI} not found: run scripts/install.sh first", file=sys.stderr)
        return 2
    load_cases()
    selected = [c for c in CASES if args.only.lower() in c[0].lower() and c[1].startswith(args.section)]
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="mirage-hostile-"))
    try:
        fx = Fixtures(root)
        # the signal cases measure reaction time: run them alone, after the others
        timed = [c for c in selected if c[0].startswith(("Ctrl-C", "SIGTERM", "SIGHUP", "SIGKILL"))]
        rest = [c for c in selected if c not in timed]
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            outcomes = list(pool.map(lambda c: run_case(fx, *c), rest))
        outcomes += [run_case(fx, *c) for c in timed]
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept {root}", file=sys.stderr)
    order = {name: i for i, (name, _, _) in enumerate(CASES)}
    outcomes.sort(key=lambda o: order.get(o.case, 999))
    print_table(outcomes)
    print(f"({time.monotonic() - started:.0f} s)")
    if args.json:
        args.json.write_text(
            json.dumps([o.__dict__ | {"data_lost": o.data_lost} for o in outcomes], indent=2) + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
