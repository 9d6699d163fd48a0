"""Plumbing of the hostile-input battery: temporary user environments, running the real CLI, judging."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / ".venv" / "bin" / "mirage-cli"
PYTHON = REPO / ".venv" / "bin" / "python"
TESTDATA = REPO.parent / "shared" / "testdata"
CLIP = TESTDATA / "video" / "talking_head_d0.mp4"  # 78 frames, 512×512
LONG_CLIP = TESTDATA / "video" / "talking_head_long_d9.mp4"  # 587 frames: long enough to interrupt
FACE = TESTDATA / "faces" / "obama.jpg"

CRASH_MARKS = (
    "Traceback (most recent call last)",
    "Exception ignored",
    "Fatal Python error",
    "terminate called",
)
#: libav's own log lines ("[h264 @ 0x7f...] Invalid NAL unit size"): OpenCV's, not Mirage's words
FFMPEG_LOG = re.compile(r"^\[[\w,]+ @ 0x[0-9a-f]+\]")
NOISE = (
    "frames written",
    "added with --allow-unverified",
    "hash not verified",
    "does not match the manifest",
)


# ---------------------------------------------------------------------------------------------- plumbing


@dataclass
class Ran:
    argv: list[str]
    rc: int | None
    out: str
    err: str
    elapsed: float
    timed_out: bool = False
    #: seconds from the signal to the exit (signal cases)
    after_signal: float | None = None


@dataclass
class Outcome:
    case: str
    section: str
    rc: str
    handled: str
    message: str
    lost: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def data_lost(self) -> bool:
        return any(
            item.isupper() or item.startswith(("INPUT", "OLD OUTPUT", "SETTINGS")) for item in self.lost
        )


class Env:
    """A fresh per-user environment for one case; ``models`` may be shared (read-only use)."""

    def __init__(self, root: Path, name: str, models: Path | None = None) -> None:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24]
        self.base = Path(tempfile.mkdtemp(prefix=f"{slug}-", dir=root))
        self.config = self.base / "config"
        self.models = models or self.base / "models"
        self.work = self.base / "work"
        self.work.mkdir()
        self.vars = {
            "MIRAGE_CONFIG_DIR": str(self.config),
            "MIRAGE_DATA_DIR": str(self.base / "data"),
            "MIRAGE_MODELS_DIR": str(self.models),
            "MIRAGE_LOG_DIR": str(self.base / "logs"),
            "MIRAGE_CACHE_DIR": str(self.base / "cache"),
        }

    @property
    def settings(self) -> Path:
        return self.config / "settings.json"

    def environ(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MIRAGE_")}
        env.update(self.vars)
        env.update(extra)
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        return env


def run_cli(
    env: Env,
    *args: str,
    timeout: float = 60.0,
    extra_env: dict[str, str] | None = None,
    send: int | None = None,
    send_when: Callable[[str], bool] | None = None,
    send_after: float = 8.0,
    preexec: Callable[[], None] | None = None,
    program: Path = CLI,
) -> Ran:
    """Run mirage-cli (or ``program``, e.g. the window); with ``send``, deliver that signal once
    ``send_when(stderr so far)`` holds (or ``send_after`` seconds passed), then allow 15 s for a
    clean exit."""
    argv = [str(program), *args]
    err_path = env.base / f"stderr-{time.monotonic_ns()}.txt"
    out_path = err_path.with_name(err_path.name.replace("stderr", "stdout"))
    started = time.monotonic()
    with open(err_path, "w") as err_file, open(out_path, "w") as out_file:
        proc = subprocess.Popen(
            argv,
            stdout=out_file,
            stderr=err_file,
            stdin=subprocess.DEVNULL,
            env=env.environ(**(extra_env or {})),
            cwd=env.work,
            preexec_fn=preexec,
            start_new_session=send is None,
        )
        signalled_at = None
        deadline = started + timeout
        timed_out = False
        while proc.poll() is None:
            now = time.monotonic()
            if send is not None and signalled_at is None:
                so_far = err_path.read_text(errors="replace")
                if (send_when and send_when(so_far)) or now - started >= send_after:
                    proc.send_signal(send)
                    signalled_at = now
                    deadline = now + 15.0
            if now >= deadline:
                timed_out = True
                proc.kill()
                proc.wait()
                break
            time.sleep(0.05)
        ended = time.monotonic()
    return Ran(
        argv=[Path(argv[0]).name, *args],
        rc=proc.returncode,
        out=out_path.read_text(errors="replace"),
        err=err_path.read_text(errors="replace"),
        elapsed=ended - started,
        timed_out=timed_out,
        after_signal=None if signalled_at is None else ended - signalled_at,
    )


def run_python(env: Env, code: str, timeout: float = 60.0) -> Ran:
    started = time.monotonic()
    done = subprocess.run(
        [str(PYTHON), "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env.environ(),
        cwd=REPO,
    )
    return Ran(["python", "-c", "..."], done.returncode, done.stdout, done.stderr, time.monotonic() - started)


#: an abort or a segfault; dying of an unhandled SIGTERM is judged by the case ("partly"), not here
CRASH_SIGNALS = {-signal.SIGABRT, -signal.SIGSEGV, 128 + signal.SIGABRT, 128 + signal.SIGSEGV}


def crashed(ran: Ran) -> str | None:
    text = ran.err + ran.out
    for mark in CRASH_MARKS:
        if mark in text:
            return mark
    if ran.rc in CRASH_SIGNALS:
        return f"crashed (exit {ran.rc})"
    return None


def _exception_line(text: str) -> str:
    """The last line of the first traceback: the exception itself."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "Traceback (most recent call last)" in line)
    for line in lines[start + 1 :]:
        if line and not line.startswith((" ", "Traceback")):
            return line.strip()
    return lines[start].strip()


def first_message(ran: Ran) -> str:
    lines = [line.strip() for line in (ran.err or ran.out).splitlines() if line.strip()]
    lines = [
        line for line in lines if not any(noise in line for noise in NOISE) and not FFMPEG_LOG.match(line)
    ]
    for line in lines:
        if "error:" in line or "Traceback" in line or "Exception ignored" in line:
            return line
    for line in lines:
        if not line.startswith("usage:"):
            return line
    return lines[0] if lines else "(nothing printed)"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def frames_in(path: Path) -> int:
    if not path.is_file() or path.stat().st_size == 0:
        return 0
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.isOpened():
        ok, _ = cap.read()
        if not ok:
            break
        count += 1
    cap.release()
    return count


def judge(
    case: str, section: str, ran: Ran, ok: bool, note: str = "", lost: list[str] | None = None
) -> Outcome:
    mark = crashed(ran)
    rc = "timeout" if ran.timed_out else str(ran.rc)
    if ran.timed_out and not mark:
        handled = "hang"
        message = first_message(ran)
    elif mark:
        handled = "traceback"
        text = ran.err + ran.out
        detail = _exception_line(text) if "Traceback (most recent" in text else first_message(ran)
        message = f"{mark}: {detail}" if mark != detail else detail
    else:
        handled = "clean" if ok else "partly"
        message = first_message(ran)
    return Outcome(case, section, rc, handled, message, lost or [], note)


def input_check(path: Path, before: str) -> str:
    return "input intact" if path.is_file() and sha256(path) == before else "INPUT CHANGED OR LOST"


def old_output_check(path: Path, before: str) -> str:
    if path.is_file() and sha256(path) == before:
        return "old output intact"
    if frames_in(path) > 0:
        return "old output replaced (playable)"
    return "OLD OUTPUT LOST"


def settings_check(env: Env, original: bytes) -> str:
    if env.settings.is_file() and env.settings.read_bytes() == original:
        return "settings preserved"
    for path in env.config.rglob("*"):
        if path.is_file() and path != env.settings and path.read_bytes() == original:
            return f"settings backed up ({path.name})"
    return "SETTINGS LOST"


# ---------------------------------------------------------------------------------------------- fixtures


class Fixtures:
    """Built once: stand-in models (good and failing), an input copy, a photo without a face."""

    def __init__(self, root: Path) -> None:
        from mirage_desktop.testmodels import arcface, inswapper
        from mirage_desktop.testmodels.scrfd import build_scrfd, obama_template

        self.root = root
        built = root / "built"
        built.mkdir()
        det = build_scrfd(built / "det_10g.onnx", obama_template(TESTDATA))
        arc = arcface.build_arcface(built / "w600k_r50.onnx")
        visible = inswapper.build_visible(built / "visible" / "inswapper_128.onnx")
        failing = inswapper.build_fails_when_run(built / "failing" / "inswapper_128.onnx")
        self.models_ok = self._place(root / "models-ok", [det, arc, visible])
        self.models_failing = self._place(root / "models-failing", [det, arc, failing])
        self.no_face = root / "no_face.png"
        rng = np.random.default_rng(0)
        cv2.imwrite(str(self.no_face), rng.integers(90, 160, (320, 320, 3), dtype=np.uint8))

    def _place(self, models: Path, files: list[Path]) -> Path:
        env = Env(self.root, "place", models)
        for path in files:
            ran = run_cli(env, "models", "add", str(path), "--allow-unverified")
            if ran.rc != 0:
                raise SystemExit(f"could not place {path}: {ran.err}")
        return models

    def clip_copy(self, env: Env, name: str = "input.mp4", source: Path = CLIP) -> tuple[Path, str]:
        path = env.work / name
        shutil.copyfile(source, path)
        return path, sha256(path)

    def old_output(self, env: Env, name: str = "out.mp4") -> tuple[Path, str]:
        path = env.work / name
        shutil.copyfile(TESTDATA / "video" / "hamilton_clip.mp4", path)
        return path, sha256(path)


# ---------------------------------------------------------------------------------------------- cases

CASES: list[tuple[str, str, Callable[[Fixtures], Outcome]]] = []


def case(name: str, section: str):
    def register(fn: Callable[[Fixtures], Outcome]) -> Callable[[Fixtures], Outcome]:
        CASES.append((name, section, fn))
        return fn

    return register
