"""`mirage-cli models ...`: list, download, verify and add model files."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from mirage_desktop.models import ModelError, ModelStatus, ModelStore, UnknownModelError
from mirage_desktop.models.errors import ModelInputError, ModelKindError

#: builds the store; receives keyword options such as on_lock_wait (tests hand in their own)
StoreFactory = Callable[..., ModelStore]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_STATE_LABELS = {
    "verified": "verified",
    "size-only": "verified (size only)",
    "user-supplied": "user-supplied, hash not verified",
    "unverifiable": "present, unverifiable",
    "bad": "bad",
    "missing": "missing",
}


def register(subparsers: argparse._SubParsersAction, store_factory: StoreFactory | None = None) -> None:
    factory = store_factory or ModelStore
    parser = subparsers.add_parser(
        "models",
        help="list, download, verify and add the model files",
        description="Manage the model files Mirage needs (face detector, identity, swapper, enhancers).",
    )
    commands = parser.add_subparsers(dest="models_command", metavar="COMMAND")
    commands.required = True

    p = commands.add_parser("list", help="show every model and the state of its local file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=partial(_list, factory))

    p = commands.add_parser("download", help="download models (resumable, verified)")
    p.add_argument("ids", nargs="*", metavar="ID", help="model ids (default: the required ones)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="every model in the manifest")
    which.add_argument("--required", action="store_true", help="the models face swap needs")
    p.set_defaults(func=partial(_download, factory))

    p = commands.add_parser("verify", help="re-hash local model files (exit code 1 if any is bad)")
    p.add_argument("ids", nargs="*", metavar="ID", help="model ids (default: all)")
    p.set_defaults(func=partial(_verify, factory))

    p = commands.add_parser("add", help="copy a model file you already have into the models folder")
    p.add_argument("path", type=Path, metavar="PATH")
    p.add_argument("--id", dest="model_id", metavar="ID", help="which model it is (default: from its name)")
    p.add_argument(
        "--allow-unverified",
        action="store_true",
        help="keep it even if its size/hash differ from the manifest (marked user-supplied)",
    )
    p.set_defaults(func=partial(_add, factory))


# ---------------------------------------------------------------------------- handlers


def _list(factory: StoreFactory, args: argparse.Namespace) -> int:
    try:
        store = factory()
        rows = [(entry, store.status(entry.id)) for entry in store.manifest]
    except ModelError as exc:
        return _fail(exc)
    problem = store.folder_problem()
    if args.json:
        payload = {
            "models_dir": str(store.models_dir),
            "models_dir_problem": problem,
            "models": [_as_json(entry, status) for entry, status in rows],
        }
        print(json.dumps(payload, indent=2))
        return EXIT_FAILED if problem else EXIT_OK
    print(f"Models folder: {store.models_dir}" + (" (UNUSABLE: it is not a folder)" if problem else ""))
    table = [("ID", "FILE", "SIZE", "STATE", "FOR", "LICENCE")]
    for entry, status in rows:
        feature = entry.feature.replace("_", " ") + (" (required)" if entry.required else "")
        state = _STATE_LABELS[status.state]
        if entry.verification != "sha256" and status.state == "missing":
            state += " (no published hash)" if entry.size is not None else " (unverifiable)"
        # A present file shows its own size: a user-supplied one need not have the manifest's.
        size = status.size if status.present else entry.size
        table.append((entry.id, entry.file, _megabytes(size), state, feature, entry.licence))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _download(factory: StoreFactory, args: argparse.Namespace) -> int:
    try:
        store = factory(on_lock_notice=_tell_mirror, on_mirror=_tell_mirror)
        if args.all:
            ids = list(store.manifest.ids)
        elif args.required or not args.ids:
            ids = [entry.id for entry in store.manifest.required()]
        else:
            ids = [store.manifest.get(model_id).id for model_id in args.ids]
    except UnknownModelError as exc:
        return _fail(exc, EXIT_USAGE)
    except ModelError as exc:
        return _fail(exc)
    failures = 0
    for model_id in ids:
        bar = TerminalProgress(model_id, sys.stderr)
        try:
            status = store.status(model_id)
            if status.usable:
                print(f"{model_id}: already installed ({_STATE_LABELS[status.state]}) at {status.path}")
                continue
            path = store.download(model_id, progress=bar)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP/SIGQUIT (cli.signals.Interrupted)
            bar.close()
            print("Interrupted. Run the same command again to resume the download.", file=sys.stderr)
            return getattr(exc, "exit_code", EXIT_INTERRUPTED)
        except ModelError as exc:
            bar.close()
            failures += 1
            _fail(exc)
            continue
        bar.close()
        print(f"{model_id}: installed and verified at {path}")
    return EXIT_FAILED if failures else EXIT_OK


def _verify(factory: StoreFactory, args: argparse.Namespace) -> int:
    try:
        store = factory()
        ids = [store.manifest.get(model_id).id for model_id in args.ids] or list(store.manifest.ids)
    except UnknownModelError as exc:
        return _fail(exc, EXIT_USAGE)
    except ModelError as exc:
        return _fail(exc)
    bad = 0
    for model_id in ids:
        try:
            status = store.status(model_id, rehash=True)
        except ModelError as exc:
            bad += 1
            _fail(exc)
            continue
        print(f"{model_id}: {_STATE_LABELS[status.state]}")
        if status.state in ("bad", "user-supplied", "unverifiable"):
            print(f"  {status.message}")
        bad += status.state == "bad"
    return EXIT_FAILED if bad else EXIT_OK


def _add(factory: StoreFactory, args: argparse.Namespace) -> int:
    try:
        # Told who holds the lock while it waits: a silent wait looks like a hung command.
        store = factory(on_lock_notice=_tell_mirror)
        path = store.add(args.path, args.model_id, allow_unverified=args.allow_unverified)
        entry = next(entry for entry in store.manifest if entry.file == path.name)
        status = store.status(entry.id)
    except (UnknownModelError, ModelInputError, ModelKindError) as exc:
        # the user named the wrong thing: a missing path, a FIFO, an HTML page saved as .onnx
        return _fail(exc, EXIT_USAGE)
    except ModelError as exc:
        return _fail(exc)
    print(f"{entry.id}: {_STATE_LABELS[status.state]}, stored at {path}")
    return EXIT_OK


# ---------------------------------------------------------------------------- output helpers


class TerminalProgress:
    """A one-line progress bar on a terminal; on a pipe or log file, a line every 10 %."""

    def __init__(
        self,
        label: str,
        stream: TextIO,
        min_interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        width: int = 28,
    ) -> None:
        self.label = label
        self.stream = stream
        self.min_interval = min_interval
        self.clock = clock
        self.width = width
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._started: tuple[float, int] | None = None
        self._last_draw = float("-inf")
        self._last_decile = -1
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self._started is None:
            self._started = (now, done)  # resumed downloads start above zero
        finished = total > 0 and done >= total
        if self._tty:
            if finished or now - self._last_draw >= self.min_interval:
                self._last_draw = now
                self.stream.write("\r" + self.render(done, total, now))
                self.stream.flush()
                self._drawn = True
        elif total > 0:
            decile = min(10, done * 10 // total)
            if decile > self._last_decile:
                self._last_decile = decile
                self.stream.write(self.render(done, total, now) + "\n")
                self.stream.flush()

    def render(self, done: int, total: int, now: float) -> str:
        start_time, start_bytes = self._started or (now, done)
        elapsed = now - start_time
        speed = (done - start_bytes) / elapsed if elapsed > 0 else 0.0
        rate = f"  {speed / 1e6:5.1f} MB/s" if speed > 0 else ""
        if total <= 0:
            return f"{self.label}  {done / 1e6:8.1f} MB{rate}"
        fraction = min(1.0, done / total)
        filled = int(fraction * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        eta = ""
        if speed > 0 and done < total:
            minutes, seconds = divmod(math.ceil((total - done) / speed), 60)
            eta = f"  ETA {minutes}:{seconds:02d}"
        return (
            f"{self.label}  [{bar}] {fraction * 100:5.1f}%  {done / 1e6:.1f}/{total / 1e6:.1f} MB{rate}{eta}"
        )

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _tell_mirror(line: str) -> None:
    # stderr, like the progress bar: a mirror that never answers must not look like a hung command
    print(line, file=sys.stderr, flush=True)


def _fail(exc: BaseException, code: int = EXIT_FAILED) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return code


def _megabytes(size: int | None) -> str:
    if size is None:
        return "unknown"
    # a stand-in or truncated file would read "0.0 MB", as if it were empty
    return f"{size / 1e3:.1f} kB" if size < 100_000 else f"{size / 1e6:.1f} MB"


def _as_json(entry: Any, status: ModelStatus) -> dict[str, Any]:
    return {
        "id": entry.id,
        "file": entry.file,
        "size": entry.size,
        "sha256": entry.sha256,
        "hash_source": entry.hash_source,
        "verification": entry.verification,
        "licence": entry.licence,
        "feature": entry.feature,
        "required": entry.required,
        "state": status.state,
        "present": status.present,
        "verified": status.verified,
        "sha256_ok": status.sha256_ok,
        "user_supplied": status.user_supplied,
        "local_size": status.size,
        "path": str(status.path),
        "message": status.message,
    }
