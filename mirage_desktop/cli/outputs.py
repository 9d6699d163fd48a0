"""The files a CLI command writes besides its video: checked before the work, written whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mirage_desktop.sinks.output_file import OutputError, PartialFile, check_destination, describe_os_error


def check_json_output(path: str | None, inputs: tuple[str | Path, ...] = ()) -> Path | None:
    """Where ``--metrics-json`` goes (None: nowhere or stdout). Raises OutputError now, not after
    the work, when it cannot be written."""
    if not path or path == "-":
        return None
    return check_destination(path, inputs=inputs, what="metrics file")


def write_json_file(path: Path, data: Any) -> None:
    """Write ``data`` as JSON through a partial file, so a failed write leaves any old file whole."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    partial = PartialFile(path)
    partial.create()
    try:
        assert partial.path is not None
        partial.path.write_text(text, encoding="utf-8")
        partial.commit()
    except OSError as exc:
        raise OutputError(f"Cannot write the metrics file {path}: {describe_os_error(exc)}.") from exc
    finally:
        partial.discard()


def emit_metrics(path_arg: str | None, dest: Path | None, data: Any) -> str | None:
    """Print or write the metrics; the reason when writing failed."""
    if not path_arg:
        return None
    if dest is None:
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
        return None
    try:
        write_json_file(dest, data)
    except OutputError as exc:
        return str(exc)
    return None
