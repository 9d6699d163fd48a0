"""Issue 17's start-up cases: the window restores what it shows (17.1), one damaged file at start-up
(17.2), and a settings path or log file that is not a regular file (17.7).

Window cases run the real ``.venv/bin/mirage`` (offscreen) in the case's private folders, wait for
its start-up report in MIRAGE_LOG_DIR/mirage.log ("window restored: ..."), let it run a moment,
then close it with SIGTERM (which the window treats as Quit) and judge from outside: the log, the
exit code, stderr, and the files left behind. A window that never reports within its time limit is
a hang; a traceback or a crash is a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from hostile.plumbing import REPO, Env, Fixtures, Outcome, Ran, case, judge, run_cli

WINDOW = REPO / ".venv" / "bin" / "mirage"
RESTORED = "window restored:"
DEEP = "[" * 100_000 + "]" * 100_000


def log_text(env: Env) -> str:
    path = Path(env.vars["MIRAGE_LOG_DIR"]) / "mirage.log"
    try:
        return path.read_text(errors="replace") if path.is_file() else ""
    except OSError:
        return ""


def run_window(
    env: Env,
    until: str = RESTORED,
    timeout: float = 45.0,
    linger: float = 1.5,
    extra_env: dict[str, str] | None = None,
) -> Ran:
    """Start the window; once ``until`` is in its log (or its output), wait ``linger`` s, then
    SIGTERM. ``err`` holds all it printed."""
    seen_at: list[float] = []

    def ready(err: str) -> bool:
        if not seen_at and (until in log_text(env) or until in err):
            seen_at.append(time.monotonic())
        return bool(seen_at) and time.monotonic() - seen_at[0] >= linger

    ran = run_cli(
        env,
        timeout=timeout,
        extra_env=extra_env,
        send=signal.SIGTERM,
        send_when=ready,
        send_after=math.inf,
        program=WINDOW,
    )
    return dataclasses.replace(ran, out="", err=ran.out + ran.err)


def started_and_closed(env: Env, ran: Ran) -> tuple[bool, str]:
    """The window reported its start-up and closed cleanly on SIGTERM (exit 0)."""
    log = log_text(env)
    report = next((line for line in log.splitlines() if RESTORED in line), "")
    if not report:
        return False, "no start-up report in the log"
    if ran.rc != 0:
        return False, f"exit {ran.rc} after SIGTERM"
    return True, report.split(RESTORED, 1)[1].strip()


# -- an identity folder with one file damaged -----------------------------------------------------


def _identity(root: Path, ident: str, name: str, seed: int) -> Path:
    folder = root / ident
    folder.mkdir(parents=True)
    vector = np.random.default_rng(seed).normal(size=512).astype(np.float32)
    np.save(folder / "embedding.npy", vector)
    (folder / "meta.json").write_text(json.dumps({"name": name, "created": float(seed)}))
    cv2.imwrite(str(folder / "thumb.png"), np.full((128, 128, 3), 40 * seed % 255, np.uint8))
    return folder


def _gallery_case(
    name: str, file: str, damage: Callable[[Path], None], expect: str, moved: bool = True
) -> None:
    """A good identity beside one whose ``file`` is damaged: the window shows the good one, sets the
    bad one aside (or its picture) and names it in the log; before, it did not start at all."""

    def fn(fx: Fixtures) -> Outcome:
        env = Env(fx.root, name)
        root = Path(env.vars["MIRAGE_DATA_DIR"]) / "identities"
        _identity(root, "good0000good", "Good", 1)
        bad = _identity(root, "bad00000bad0", "Bad", 2)
        target = bad / file
        target.unlink()
        damage(target)
        ran = run_window(env)
        ok, note = started_and_closed(env, ran)
        log = log_text(env)
        lost = []
        aside = sorted(p.name for p in root.iterdir() if ".corrupt-" in p.name)
        if moved:
            named = "set aside the damaged identity 'bad00000bad0'" in log and expect in log
            kept = len(aside) == 1 and (root / aside[0] / "embedding.npy").exists() if aside else False
            shown = "gallery 1 faces" in note
            lost.append("identity kept aside" if kept else "IDENTITY LOST")
        else:
            named = expect in log
            kept = bad.is_dir()
            shown = "gallery 2 faces" in note
            lost.append("identity kept" if kept else "IDENTITY LOST")
        ok = ok and named and kept and shown
        if not named:
            note += "; the damage is not named in the log"
        return judge(name, "17.2", ran, ok, note, lost)

    case(name, "17.2")(fn)


def _write(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


_gallery_case("window: identity meta.json is null", "meta.json", _write(b"null"), "meta.json is null")
_gallery_case("window: identity meta.json is a list", "meta.json", _write(b'["Bad"]'), "meta.json is a list")
_gallery_case("window: identity name is a number", "meta.json", _write(b'{"name": 5}'), "name is a number")
_gallery_case(
    "window: identity meta.json 100 000 deep", "meta.json", _write(DEEP.encode()), "nested too deeply"
)
_gallery_case("window: identity meta.json is a FIFO", "meta.json", _fifo, "named pipe (FIFO)")
_gallery_case(
    "window: identity embedding.npy truncated",
    "embedding.npy",
    _write(b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (512,), }" + b" " * 40),
    "embedding.npy is not a saved array",
)
_gallery_case(
    "window: identity embedding is NaN",
    "embedding.npy",
    lambda p: np.save(p, np.full(512, np.nan, np.float32)),
    "NaN",
)
_gallery_case(
    "window: identity embedding of the wrong shape",
    "embedding.npy",
    lambda p: np.save(p, np.ones((2, 128), np.float32)),
    "has shape (2, 128)",
)
_gallery_case("window: identity embedding.npy -> /dev/zero", "embedding.npy", _zero, "character device")
_gallery_case("window: identity thumb.png is a FIFO", "thumb.png", _fifo, "picture of 'Bad'", moved=False)
_gallery_case("window: identity thumb.png -> /dev/zero", "thumb.png", _zero, "picture of 'Bad'", moved=False)


def _voices_case(name: str, damage: Callable[[Path], None], expect: str) -> None:
    def fn(fx: Fixtures) -> Outcome:
        env = Env(fx.root, name)
        voices = Path(env.vars["MIRAGE_DATA_DIR"]) / "voices"
        voices.mkdir(parents=True)
        damage(voices / "voices.json")
        ran = run_window(env)
        ok, note = started_and_closed(env, ran)
        log = log_text(env)
        aside = list(voices.glob("voices.json.corrupt-*"))
        named = expect in log and "voice list" in log
        ok = ok and named and len(aside) == 1
        return judge(name, "17.2", ran, ok, note, ["voice list kept aside" if aside else "VOICE LIST LOST"])

    case(name, "17.2")(fn)


_voices_case("window: voices.json 100 000 deep", lambda p: p.write_text(DEEP), "nested too deeply")
_voices_case("window: voices.json -> /dev/zero", _zero, "character device")
_voices_case("window: voices.json is an object", lambda p: p.write_text('{"a.pth": 1}'), "not a list")


# -- settings.json and mirage.log that are not regular files (17.7) ----------------------------------


def _special_settings_case(name: str, make: Callable[[Env], None], expect: str, window: bool = False) -> None:
    """The path must still be what it was afterwards (never replaced by a save), and be named."""

    def fn(fx: Fixtures) -> Outcome:
        env = Env(fx.root, name)
        env.config.mkdir(parents=True)
        make(env)
        before = _describe(env.settings)
        if window:
            ran = run_window(env, timeout=40)
            ok, note = started_and_closed(env, ran)
            said = expect in ran.err or expect in log_text(env)
        else:
            ran = run_cli(env, "doctor", timeout=40)
            ok, note = ran.rc == 0, ""
            said = expect in ran.err
        after = _describe(env.settings)
        kept = after == before
        ok = ok and said and kept
        if not said:
            note = (note + "; " if note else "") + "the path's kind is not named"
        return judge(
            name, "17.7", ran, ok, note, ["settings path untouched" if kept else f"SETTINGS {after}"]
        )

    case(name, "17.7")(fn)


def _describe(path: Path) -> str:
    if path.is_symlink():
        return f"link to {os.readlink(path)}"
    try:
        mode = path.stat().st_mode
    except OSError:
        return "missing"
    import stat

    return {stat.S_IFIFO: "fifo", stat.S_IFDIR: "folder", stat.S_IFSOCK: "socket"}.get(
        stat.S_IFMT(mode), "file"
    )


def _bind_socket(env: Env) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(env.settings))
    sock.close()  # the socket file stays


_special_settings_case(
    "doctor: settings.json is a FIFO",
    lambda e: os.mkfifo(e.settings),
    "is a named pipe (FIFO), not a regular file",
)
_special_settings_case(
    "doctor: settings.json -> /dev/zero",
    lambda e: _zero(e.settings),
    "a link to /dev/zero, a character device",
)
_special_settings_case("doctor: settings.json is a socket", _bind_socket, "is a socket, not a regular file")
_special_settings_case(
    "window: settings.json is a FIFO",
    lambda e: os.mkfifo(e.settings),
    "is a named pipe (FIFO), not a regular file",
    window=True,
)
_special_settings_case(
    "window: settings.json -> /dev/zero",
    lambda e: _zero(e.settings),
    "a link to /dev/zero, a character device",
    window=True,
)


@case("run: settings.json is a folder", "17.7")
def _settings_folder(fx: Fixtures) -> Outcome:
    name = "run: settings.json is a folder"
    env = Env(fx.root, name)
    env.settings.mkdir(parents=True)
    (env.settings / "mine.txt").write_text("kept")
    ran = run_cli(env, "run", "--seconds", "1", "--source", "test", "--no-virtual-camera", timeout=60)
    kept = (env.settings / "mine.txt").read_text() == "kept"
    ok = ran.rc == 0 and "is a folder, not a regular file" in ran.err and kept
    return judge(name, "17.7", ran, ok, "", ["settings folder untouched" if kept else "SETTINGS LOST"])


@case("run: settings.json 40 MB (sparse)", "17.7")
def _settings_huge(fx: Fixtures) -> Outcome:
    name = "run: settings.json 40 MB (sparse)"
    env = Env(fx.root, name)
    env.config.mkdir(parents=True)
    with open(env.settings, "wb") as fh:
        fh.truncate(40 * 1024 * 1024)
    ran = run_cli(env, "run", "--seconds", "1", "--source", "test", "--no-virtual-camera", timeout=60)
    aside = list(env.config.glob("settings.json.corrupt-*"))
    kept = len(aside) == 1 and aside[0].stat().st_size == 40 * 1024 * 1024
    ok = ran.rc == 0 and "set it aside as" in ran.err and kept
    return judge(name, "17.7", ran, ok, "", ["settings kept aside" if kept else "SETTINGS LOST"])


@case("window: settings.json is a link (dotfiles)", "17.7")
def _settings_link(fx: Fixtures) -> Outcome:
    """The window saves at start (first run done); the link must stay a link, the file it names updated."""
    name = "window: settings.json is a link (dotfiles)"
    env = Env(fx.root, name)
    env.config.mkdir(parents=True)
    real = env.base / "dotfiles" / "mirage.json"
    real.parent.mkdir()
    original = {"video": {"fps": 24}, "mine": {"keep": True}}
    real.write_text(json.dumps(original))
    env.settings.symlink_to(real)
    ran = run_window(env, linger=2.0)
    ok, note = started_and_closed(env, ran)
    try:
        saved = json.loads(real.read_text())
    except (OSError, ValueError):
        saved = {}
    still_link = env.settings.is_symlink() and os.readlink(env.settings) == str(real)
    kept = saved.get("mine") == {"keep": True} and saved.get("video", {}).get("fps") == 24
    ok = ok and still_link and kept and saved.get("gui", {}).get("first_run_done") is True
    lost = ["link and settings kept" if still_link and kept else "SETTINGS link replaced or keys lost"]
    return judge(name, "17.7", ran, ok, note, lost)


@case("window: mirage.log is a FIFO", "17.7")
def _log_fifo(fx: Fixtures) -> Outcome:
    name = "window: mirage.log is a FIFO"
    env = Env(fx.root, name)
    log_dir = Path(env.vars["MIRAGE_LOG_DIR"])
    log_dir.mkdir(parents=True)
    os.mkfifo(log_dir / "mirage.log")
    # no log file to read the report from: the warning on stderr says the window got that far
    ran = run_window(env, until="logging to the console only", linger=4.0)
    named = "mirage.log: it is a named pipe (FIFO)" in ran.err
    still = (log_dir / "mirage.log").is_fifo()
    ok = ran.rc == 0 and named and still and not ran.timed_out
    return judge(name, "17.7", ran, ok, "", ["log path untouched" if still else "log path replaced"])


# -- the voice saved as on (17.1) ------------------------------------------------------------------


@case("window: voice saved as on is live, and gone after SIGTERM", "17.1")
def _voice_restored(fx: Fixtures) -> Outcome:
    """A private PulseAudio server with a fake microphone; settings as the window saves them after a
    session with the voice changer on. Before: 'Voice is off.' and no Mirage Microphone."""
    from mirage_desktop.voice.pulse_server import PrivatePulse

    name = "window: voice saved as on is live, and gone after SIGTERM"
    env = Env(fx.root, name)
    env.config.mkdir(parents=True)
    settings = {"voice": {"enabled": True, "converter": "pitch", "input_device": "hostile_mic.monitor"}}
    env.settings.write_text(json.dumps(settings))
    pulse = PrivatePulse(modules=["load-module module-null-sink sink_name=hostile_mic rate=48000 channels=1"])
    pulse.start()
    try:
        ran = run_window(env, until="voice live on", linger=1.0, extra_env=pulse.env)
        log = log_text(env)
    finally:
        left = subprocess.run(
            ["pactl", "list", "short", "sources"],
            capture_output=True,
            text=True,
            env={**os.environ, **pulse.env},
            timeout=10,
        ).stdout
        pulse.stop()
    live = "voice live on Mirage Microphone" in log
    removed = not re.search(r"\bmirage_mic\b", left)
    ok = live and removed and ran.rc == 0 and "voice shut down" in log
    note = f"live: {live}, removed on close: {removed}, exit {ran.rc}"
    return judge(name, "17.1", ran, ok, note, [])


@case("window: settings name a voice no file can have", "17.2")
def _impossible_voice_paths(fx: Fixtures) -> Outcome:
    """A 300-character file name and a NUL in the voice paths: before, Path.is_file raised and the
    window did not start."""
    name = "window: settings name a voice no file can have"
    env = Env(fx.root, name)
    env.config.mkdir(parents=True)
    original = {
        "voice": {
            "converter": "rvc",
            "rvc_model": "/tmp/" + "v" * 300 + ".pth",
            "rvc_index": "/tmp/a\u0000b.index",
        }
    }
    env.settings.write_text(json.dumps(original))
    ran = run_window(env, linger=2.0)
    ok, note = started_and_closed(env, ran)
    try:
        kept = (
            json.loads(env.settings.read_text()).get("voice", {}).get("rvc_model")
            == original["voice"]["rvc_model"]
        )
    except (OSError, ValueError):
        kept = False
    return judge(name, "17.2", ran, ok and kept, note, ["settings kept" if kept else "SETTINGS value lost"])


@case("window: the gallery folder is a file", "17.2")
def _gallery_file(fx: Fixtures) -> Outcome:
    name = "window: the gallery folder is a file"
    env = Env(fx.root, name)
    root = Path(env.vars["MIRAGE_DATA_DIR"]) / "identities"
    root.parent.mkdir(parents=True)
    root.write_text("mine")
    ran = run_window(env)
    ok, note = started_and_closed(env, ran)
    named = "is a file, not a folder" in log_text(env)
    kept = root.read_text() == "mine"
    return judge(name, "17.2", ran, ok and named and kept, note, ["file kept" if kept else "FILE LOST"])
