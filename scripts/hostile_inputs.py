"""The hostile-input battery of issue 10 (sections 2 and 3), run against the real `mirage-cli`.

    .venv/bin/python scripts/hostile_inputs.py [--jobs N] [--only SUBSTRING] [--json FILE]

Every case runs `.venv/bin/mirage-cli` as a subprocess in its own temporary user environment
(MIRAGE_CONFIG_DIR / DATA_DIR / MODELS_DIR / LOG_DIR / CACHE_DIR), with stand-in face models built
here, and is judged from outside: the exit code, stderr, and what happened to the files involved.

    clean      the case's expectation is met (refused with exit code 2 / a clear message, a file kept, ...)
    partly     no traceback, but the expectation is not met (silently accepted, exit 0 on failure, ...)
    traceback  a Python traceback, "Exception ignored", an abort (SIGABRT/SIGSEGV) or a hang

"lost" lists what happened to the user's data: the input video (by SHA-256), an output file that
existed before the command, and settings.json (unchanged, backed up, or LOST). Upper-case entries
count as data lost. The script only measures; it changes nothing in the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
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
) -> Ran:
    """Run mirage-cli; with ``send``, deliver that signal once ``send_when(stderr so far)`` holds
    (or ``send_after`` seconds passed), then allow 15 s for a clean exit."""
    argv = [str(CLI), *args]
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
    if mark:
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


def _refused(name: str, *args: str, expect: str = "out of range", timeout: float = 25.0) -> None:
    """A bad number: clean when refused with exit code 2 and the allowed range, before anything runs."""

    def fn(fx: Fixtures) -> Outcome:
        env = Env(fx.root, name)
        ran = run_cli(env, *args, timeout=timeout)
        ok = ran.rc == 2 and expect in ran.err
        note = "" if not ran.timed_out else f"still running after {timeout:g} s: accepted (killed)"
        return judge(name, "3", ran, ok, note)

    case(name, "3")(fn)


_refused("run --width 0", "run", "--width", "0", "--source", "test", "--no-virtual-camera", "--seconds", "1")
_refused(
    "run --width -1", "run", "--width", "-1", "--source", "test", "--no-virtual-camera", "--seconds", "1"
)
_refused(
    "run --width 100000 --height 100000",
    "run",
    "--width",
    "100000",
    "--height",
    "100000",
    "--source",
    "test",
    "--no-virtual-camera",
    "--seconds",
    "1",
)
_refused(
    "run --seconds nan", "run", "--seconds", "nan", "--source", "test", "--no-virtual-camera", expect="finite"
)
_refused(
    "run --seconds inf", "run", "--seconds", "inf", "--source", "test", "--no-virtual-camera", expect="finite"
)
_refused("run --seconds -5", "run", "--seconds", "-5", "--source", "test", "--no-virtual-camera")
_refused("run --fps 0", "run", "--fps", "0", "--source", "test", "--no-virtual-camera", "--seconds", "1")
_refused("voice --block-ms -5", "voice", "--block-ms", "-5", "--seconds", "1")
_refused("voice --sample-rate 1", "voice", "--sample-rate", "1", "--seconds", "1")
_refused("voice --gate-db nan", "voice", "--gate-db", "nan", "--seconds", "1", expect="finite")
_refused(
    "run --virtual-camera-backend nosuch",
    "run",
    "--virtual-camera-backend",
    "nosuch",
    "--source",
    "test",
    "--seconds",
    "1",
    expect="unknown virtual camera backend",
)


@case("run --metrics-json /no/such/dir/m.json", "3")
def _metrics_run(fx: Fixtures) -> Outcome:
    env = Env(fx.root, "metrics-run")
    ran = run_cli(
        env,
        "run",
        "--source",
        "test",
        "--no-virtual-camera",
        "--seconds",
        "1",
        "--metrics-json",
        "/no/such/dir/m.json",
    )
    return judge(
        "run --metrics-json /no/such/dir/m.json",
        "3",
        ran,
        ran.rc not in (0, None) and "/no/such/dir" in ran.err,
    )


@case("process --metrics-json /no/such/dir/m.json", "3")
def _metrics_process(fx: Fixtures) -> Outcome:
    env = Env(fx.root, "metrics-process")
    src, before = fx.clip_copy(env)
    ran = run_cli(
        env, "process", "-i", str(src), "-o", str(env.work / "o.mp4"), "--metrics-json", "/no/such/dir/m.json"
    )
    ok = ran.rc not in (0, None) and "/no/such/dir" in ran.err
    return judge("process --metrics-json /no/such/dir/m.json", "3", ran, ok, lost=[input_check(src, before)])


@case("model passes I/O check, fails when run", "3")
def _failing_model(fx: Fixtures) -> Outcome:
    env = Env(fx.root, "failing-model", fx.models_failing)
    src, before = fx.clip_copy(env)
    ran = run_cli(env, "process", "--face", str(FACE), "-i", str(src), "-o", str(env.work / "o.mp4"))
    lines = [line for line in ran.err.splitlines() if "failed when run" in line]
    ok = len(lines) == 1 and "inswapper_128.onnx" in lines[0]
    note = "" if ran.rc != 0 else "exit 0: frames passed through unswapped"
    outcome = judge("model passes I/O check, fails when run", "3", ran, ok, note, [input_check(src, before)])
    if lines:
        outcome.message = lines[0].strip()
    return outcome


@case("process --input DIR", "3")
def _input_dir(fx: Fixtures) -> Outcome:
    env = Env(fx.root, "input-dir")
    folder = env.work / "clips"
    folder.mkdir()
    out = env.work / "o.mp4"
    ran = run_cli(env, "process", "-i", str(folder), "-o", str(out))
    ok = "is a folder" in ran.err and ran.rc != 0
    note = "" if not out.exists() else "an output file was created"
    return judge("process --input DIR", "3", ran, ok, note)


@case("process --face DIR", "2+3")
def _face_dir(fx: Fixtures) -> Outcome:
    env = Env(fx.root, "face-dir", fx.models_ok)
    src, before = fx.clip_copy(env)
    out, old = fx.old_output(env)
    folder = env.work / "photos"
    folder.mkdir()
    ran = run_cli(env, "process", "--face", str(folder), "-i", str(src), "-o", str(out))
    ok = "is a folder" in ran.err and ran.rc not in (0, None)
    note = "exit 0: wrote an unswapped video" if ran.rc == 0 else ""
    return judge(
        "process --face DIR", "2+3", ran, ok, note, [input_check(src, before), old_output_check(out, old)]
    )


def _models_file_env(fx: Fixtures, name: str) -> Env:
    env = Env(fx.root, name)
    blocker = env.base / "models-file"
    blocker.write_text("not a folder\n")
    env.vars["MIRAGE_MODELS_DIR"] = str(blocker)
    return env


@case("MIRAGE_MODELS_DIR is a file: models list", "3")
def _models_file_list(fx: Fixtures) -> Outcome:
    env = _models_file_env(fx, "mfile-list")
    ran = run_cli(env, "models", "list")
    return judge(
        "MIRAGE_MODELS_DIR is a file: models list",
        "3",
        ran,
        "is a file, not a folder" in ran.err and ran.rc != 0,
    )


@case("MIRAGE_MODELS_DIR is a file: doctor", "3")
def _models_file_doctor(fx: Fixtures) -> Outcome:
    env = _models_file_env(fx, "mfile-doctor")
    ran = run_cli(env, "doctor", timeout=90)
    outcome = judge("MIRAGE_MODELS_DIR is a file: doctor", "3", ran, "is a file, not a folder" in ran.out)
    line = next((x for x in ran.out.splitlines() if x.startswith("Folder models")), "")
    outcome.message = line.strip() or outcome.message
    return outcome


@case("MIRAGE_MODELS_DIR is a file: process --face", "3")
def _models_file_process(fx: Fixtures) -> Outcome:
    env = _models_file_env(fx, "mfile-process")
    src, before = fx.clip_copy(env)
    ran = run_cli(env, "process", "--face", str(FACE), "-i", str(src), "-o", str(env.work / "o.mp4"))
    ok = "is a file, not a folder" in ran.err
    outcome = judge(
        "MIRAGE_MODELS_DIR is a file: process --face", "3", ran, ok, lost=[input_check(src, before)]
    )
    line = next((x for x in ran.err.splitlines() if "is a file, not a folder" in x), "")
    outcome.message = line.strip() or outcome.message
    return outcome


@case("models list: size of a user-supplied file", "3")
def _user_supplied_size(fx: Fixtures) -> Outcome:
    env = Env(fx.root, "user-size")
    own = env.work / "inswapper_128.onnx"
    own.write_bytes(b"\0" * 3000)
    run_cli(env, "models", "add", str(own), "--allow-unverified")
    ran = run_cli(env, "models", "list")
    row = next((line for line in ran.out.splitlines() if line.startswith("inswapper_128 ")), "")
    outcome = judge("models list: size of a user-supplied file", "3", ran, "3.0 kB" in row)
    outcome.message = " ".join(row.split()[:5]) or outcome.message
    return outcome


@case("mirror accepts and never answers", "3")
def _silent_mirror(fx: Fixtures) -> Outcome:
    env = Env(fx.root, "silent-mirror")
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/det_10g.onnx"
    try:
        ran = run_cli(
            env, "models", "download", "det_10g", timeout=150, extra_env={"MIRAGE_MODEL_URL_DET_10G": url}
        )
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        server.close()
    told = f"gave up on {url}" in ran.err
    ok = told and ran.elapsed < 45
    outcome = judge(
        "mirror accepts and never answers",
        "3",
        ran,
        ok,
        f"{ran.elapsed:.0f} s in all, {len(held)} connection(s)",
    )
    line = next((x for x in ran.err.splitlines() if f"gave up on {url}" in x), "")
    outcome.message = line.strip() or outcome.message
    return outcome


def _settings_case(
    name: str, section: str, content: str, expect: tuple[str, ...], save_roundtrip: bool
) -> None:
    """Run the CLI on a hostile settings.json, then (optionally) save through the store as the GUI does."""

    def fn(fx: Fixtures) -> Outcome:
        env = Env(fx.root, name)
        env.config.mkdir(parents=True)
        original = content.encode("utf-8")
        env.settings.write_bytes(original)
        ran = run_cli(env, "run", "--source", "test", "--no-virtual-camera", "--seconds", "0.5")
        said = all(word in ran.err for word in expect)
        notes = []
        if save_roundtrip:
            code = (
                "from mirage_desktop.config.paths import AppPaths\n"
                "from mirage_desktop.config.settings import SettingsStore\n"
                "store = SettingsStore(AppPaths.from_env().settings_file)\n"
                "settings, _ = store.load()\n"
                "settings.video.fps = 24.0\n"  # a change made in the window, then saved on quit
                "store.save(settings)\n"
            )
            saved = run_python(env, code)
            if saved.rc != 0:
                notes.append("GUI-style save failed: " + first_message(saved))
        lost = [settings_check(env, original)] if not save_roundtrip else []
        if save_roundtrip:
            lost.append(_after_save(env, original, content))
        ok = said and not any(item.isupper() or "LOST" in item for item in lost)
        return judge(name, section, ran, ok, "; ".join(notes), lost)

    case(name, section)(fn)


def _after_save(env: Env, original: bytes, content: str) -> str:
    """After a save: the original bytes must survive somewhere, or every key of theirs be in the file."""
    check = settings_check(env, original)
    if check != "SETTINGS LOST":
        return check.replace("preserved", "preserved after save")
    try:
        wanted = json.loads(content)
        now = json.loads(env.settings.read_text())
    except (ValueError, OSError):
        return "SETTINGS LOST"

    def contains(big: object, small: object) -> bool:
        if isinstance(small, dict):
            return isinstance(big, dict) and all(k in big and contains(big[k], v) for k, v in small.items())
        return True  # the value itself may be rewritten by the save (e.g. fps); the key must remain

    return "unknown keys kept after save" if contains(now, wanted) else "SETTINGS LOST (keys dropped on save)"


_settings_case(
    "settings.json corrupt",
    "2",
    '{"video": {"source": "camera:1", "width": 1920}, "face": {"max_faces": 2,',
    ("settings.json",),
    save_roundtrip=True,
)
_settings_case(
    "settings.json wrongly typed values",
    "2",
    json.dumps({"video": {"source": "camera:1", "width": "wide", "fps": [30]}, "face": {"max_faces": "two"}}),
    ("width",),
    save_roundtrip=True,
)
_settings_case(
    "settings.json unknown keys",
    "2",
    json.dumps({"video": {"source": "test", "future_option": 3}, "plugins": {"glow": {"level": 2}}}),
    (),
    save_roundtrip=True,
)
_settings_case(
    'settings voice.converter "robot"',
    "3",
    json.dumps({"voice": {"converter": "robot"}}),
    ("converter", "robot"),
    save_roundtrip=False,
)
_settings_case(
    "settings voice.block_ms -10",
    "3",
    json.dumps({"voice": {"block_ms": -10}}),
    ("block_ms",),
    save_roundtrip=False,
)


def _same_file_case(name: str, make: Callable[[Path, Path], Path]) -> None:
    """``make(input, a free path)`` returns the output path to give: a link to the input, or the input."""

    def fn(fx: Fixtures) -> Outcome:
        env = Env(fx.root, name)
        src, before = fx.clip_copy(env)
        out = make(src, env.work / "out.mp4")
        ran = run_cli(env, "process", "-i", str(src), "-o", str(out))
        lost = [input_check(src, before)]
        return judge(name, "2", ran, ran.rc not in (0, None) and lost[0] == "input intact", lost=lost)

    case(name, "2")(fn)


def _linked(kind: str) -> Callable[[Path, Path], Path]:
    def make(src: Path, out: Path) -> Path:
        if kind == "hard":
            os.link(src, out)
        else:
            out.symlink_to(src)
        return out

    return make


_same_file_case("output is a hard link to the input", _linked("hard"))
_same_file_case("output is the input (same path)", lambda src, out: src)
_same_file_case("output is a symlink to the input", _linked("symlink"))


def _interrupt_case(
    name: str, sig: int, args_for: Callable[[Path, Path], list[str]], models: str = ""
) -> None:
    def fn(fx: Fixtures) -> Outcome:
        env = Env(fx.root, name, fx.models_ok if models == "ok" else None)
        src, before = fx.clip_copy(env, source=LONG_CLIP)
        out = env.work / "out.mp4"
        ran = run_cli(
            env,
            *args_for(src, out),
            send=sig,
            send_when=lambda err: "frames written" in err and err.count("frames written") >= 2,
            send_after=10.0,
            timeout=90,
        )
        frames = frames_in(out)
        leftovers = [
            p.name for p in env.work.iterdir() if p.name not in (src.name, out.name) and not p.is_dir()
        ]
        state = (
            f"output playable ({frames} frames)"
            if frames
            else ("output removed" if not out.exists() else "OUTPUT UNPLAYABLE")
        )
        stopped = not ran.timed_out and ran.after_signal is not None and ran.after_signal < 15
        said = any(w in ran.err.lower() for w in ("interrupt", "stopped", "removed", "kept", "saved"))
        ok = stopped and "UNPLAYABLE" not in state and said and ran.rc != 0
        note = [] if stopped else ["the signal was ignored (killed after 15 s)"]
        if ran.rc == -signal.SIGTERM:
            note.append("died of SIGTERM: no handler")
        if ran.after_signal is not None and stopped:
            note.append(f"exited {ran.after_signal:.1f} s after the signal")
        if leftovers:
            note.append("left behind: " + ", ".join(leftovers))
        lost = [input_check(src, before), state]
        return judge(name, "2", ran, ok, "; ".join(note), lost)

    case(name, "2")(fn)


_interrupt_case(
    "Ctrl-C during process --face",
    signal.SIGINT,
    lambda src, out: ["process", "--face", str(FACE), "-i", str(src), "-o", str(out)],
    models="ok",
)
_interrupt_case(
    "Ctrl-C during process (no face)",
    signal.SIGINT,
    lambda src, out: ["process", "-i", str(src), "-o", str(out)],
)
_interrupt_case(
    "SIGTERM during process", signal.SIGTERM, lambda src, out: ["process", "-i", str(src), "-o", str(out)]
)
_interrupt_case(
    "SIGTERM during run --output",
    signal.SIGTERM,
    lambda src, out: ["run", "--source", str(src), "--no-virtual-camera", "--stats", "-o", str(out)],
)


def _fail_fast_case(
    name: str, face: Callable[[Fixtures, Env], str], models: str, expect: tuple[str, ...]
) -> None:
    """process cannot do what was asked: clean = non-zero exit, reason printed, old output untouched."""

    def fn(fx: Fixtures) -> Outcome:
        env = Env(fx.root, name, fx.models_ok if models == "ok" else None)
        src, before = fx.clip_copy(env)
        out, old = fx.old_output(env)
        ran = run_cli(env, "process", "--face", face(fx, env), "-i", str(src), "-o", str(out))
        said = any(word in ran.err for word in expect)
        ok = ran.rc not in (0, None) and said
        note = "exit 0: wrote an unswapped video" if ran.rc == 0 else f"{ran.elapsed:.1f} s"
        return judge(name, "2", ran, ok, note, [input_check(src, before), old_output_check(out, old)])

    case(name, "2")(fn)


_fail_fast_case(
    "process --face missing file", lambda fx, env: str(env.work / "nobody.jpg"), "ok", ("does not exist",)
)
_fail_fast_case("process --face photo without a face", lambda fx, env: str(fx.no_face), "ok", ("face",))
_fail_fast_case("process --face, models missing", lambda fx, env: str(FACE), "none", ("models",))


@case("process -o in a folder that does not exist", "2")
def _uncreatable(fx: Fixtures) -> Outcome:
    env = Env(fx.root, "uncreatable")
    src, before = fx.clip_copy(env)
    ran = run_cli(env, "process", "-i", str(src), "-o", str(env.work / "no" / "such" / "out.mp4"))
    ok = ran.rc not in (0, None) and "processed 78 frames" not in ran.out
    return judge(
        "process -o in a folder that does not exist",
        "2",
        ran,
        ok,
        "still processed the whole input" if "processed 78 frames" in ran.out else "",
        [input_check(src, before)],
    )


def _file_size_limit() -> None:
    # A full disk, without root: writes past 100 kB fail with EFBIG instead of killing the process
    # (the clip's H.264 output is ~165 kB; mp4v's was over 300 kB).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))


@case("disk full during process (file size limit)", "2")
def _disk_full(fx: Fixtures) -> Outcome:
    env = Env(fx.root, "disk-full")
    src, before = fx.clip_copy(env)
    out, old = fx.old_output(env)
    ran = run_cli(env, "process", "-i", str(src), "-o", str(out), preexec=_file_size_limit)
    ok = ran.rc not in (0, None) and bool(ran.err.strip())
    return judge(
        "disk full during process (file size limit)",
        "2",
        ran,
        ok,
        lost=[input_check(src, before), old_output_check(out, old)],
    )


@case("truncated input video (3 runs)", "2")
def _truncated(fx: Fixtures) -> Outcome:
    env = Env(fx.root, "truncated")
    src, _ = fx.clip_copy(env)
    with open(src, "r+b") as fh:
        fh.truncate(src.stat().st_size * 2 // 5)
    before = sha256(src)
    results = []
    last = None
    for attempt in range(3):
        out = env.work / f"out{attempt}.mp4"
        ran = run_cli(env, "process", "-i", str(src), "-o", str(out))
        frames = frames_in(out)
        claims_missing_file = f"→ {out}" in ran.out and not out.exists()
        good = (ran.rc == 0 and frames > 0) or (
            ran.rc not in (0, None) and bool(ran.err.strip()) and not claims_missing_file
        )
        results.append((ran, good, frames, claims_missing_file))
        if last is None or not good:
            last = ran
    ok = all(good for _, good, _, _ in results)
    note = ", ".join(
        f"exit {r.rc}/{f} frames" + (" (reports an output never created)" if claims else "")
        for r, _, f, claims in results
    )
    return judge("truncated input video (3 runs)", "2", last, ok, note, [input_check(src, before)])


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
    counts = {k: sum(o.handled == k for o in outcomes) for k in ("clean", "partly", "traceback")}
    lost = sum(o.data_lost for o in outcomes)
    print(
        f"\ntried {len(outcomes)}, clean {counts['clean']}, partly {counts['partly']}, "
        f"traceback {counts['traceback']}, data lost {lost}"
    )


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once (default 2)")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this")
    parser.add_argument("--json", type=Path, help="also write the outcomes as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if not CLI.is_file():
        print(f"{CLI} not found: run scripts/install.sh first", file=sys.stderr)
        return 2
    selected = [c for c in CASES if args.only.lower() in c[0].lower()]
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="mirage-hostile-"))
    try:
        fx = Fixtures(root)
        # the signal cases measure reaction time: run them alone, after the others
        timed = [c for c in selected if c[0].startswith(("Ctrl-C", "SIGTERM"))]
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
