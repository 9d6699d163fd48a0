"""Issue 17, item 6: processes and signals — every way a command ends (a signal, the terminal
closing, the sound server dying, a reader that went away, SIGKILL) leaves nothing behind, and what
a dead run left is recognised as such (and a live run's never taken for it).

Cases that need PulseAudio start a private one (user mode, temp dirs) and always stop it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import signal
import subprocess
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from hostile.cases_17_models import DET_SIZE, FAST, mirror, trickle
from hostile.plumbing import (
    CLI,
    FACE,
    LONG_CLIP,
    Env,
    Fixtures,
    Outcome,
    Ran,
    case,
    frames_in,
    judge,
    run_cli,
)
from mirage_desktop.system.process_identity import ProcessToken, start_ticks
from mirage_desktop.voice.pulse_server import PrivatePulse

SECTION = "17.6"
FAKE_MIC = "hostile_mic"
VOICE = ("voice", "--input", f"{FAKE_MIC}.monitor", "--converter", "pitch")


# ---------------------------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def private_pulse() -> Iterator[PrivatePulse]:
    server = PrivatePulse(
        modules=[f"load-module module-null-sink sink_name={FAKE_MIC} rate=48000 channels=1"]
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def mirage_modules(server: PrivatePulse) -> list[str]:
    text = server.pactl("list", "short", "modules").stdout
    return [line for line in text.splitlines() if "mirage_sink" in line or "mirage_mic" in line]


def mic_check(server: PrivatePulse) -> str:
    return "microphone removed" if not mirage_modules(server) else "MIRAGE MICROPHONE LEFT BEHIND"


def partials(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if ".partial-" in p.name]


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


class Running:
    """mirage-cli started by a case itself (a terminal of its own, a closed pipe, a signal at a
    moment only the case can see), turned into a ``Ran`` for ``judge``."""

    def __init__(self, env: Env, *args: str, extra_env: dict[str, str] | None = None, **popen) -> None:
        self.args = args
        self.err_path = env.base / f"stderr-{time.monotonic_ns()}.txt"
        self.out_path = self.err_path.with_name(self.err_path.name.replace("stderr", "stdout"))
        popen.setdefault("stdout", open(self.out_path, "w"))  # noqa: SIM115 - closed in finish()
        popen.setdefault("stderr", open(self.err_path, "w"))  # noqa: SIM115
        self._files = [f for f in (popen["stdout"], popen["stderr"]) if hasattr(f, "close")]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [str(CLI), *args],
            stdin=popen.pop("stdin", subprocess.DEVNULL),
            env=env.environ(**(extra_env or {})),
            cwd=env.work,
            **popen,
        )
        self.signalled_at: float | None = None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)
        self.signalled_at = time.monotonic()

    def finish(self, timeout: float = 20.0) -> Ran:
        timed_out = False
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            self.proc.kill()
            self.proc.wait()
        ended = time.monotonic()
        for f in self._files:
            f.close()
        read = lambda p: p.read_text(errors="replace") if p.exists() else ""  # noqa: E731
        return Ran(
            argv=["mirage-cli", *self.args],
            rc=self.proc.returncode,
            out=read(self.out_path),
            err=read(self.err_path),
            elapsed=ended - self.started,
            timed_out=timed_out,
            after_signal=None if self.signalled_at is None else ended - self.signalled_at,
        )


def closed_pipe() -> int:
    """The write end of a pipe whose reader has already gone (`| head -1` after its line)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


def took(ran: Ran) -> str:
    return f"exit {ran.after_signal:.1f} s after the signal" if ran.after_signal is not None else ""


# ---------------------------------------------------------------------------------------------- voice


def own_terminal() -> None:
    """In the child: a session of its own whose controlling terminal is its stdin (a pty)."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@case("SIGHUP: the terminal closes during process", SECTION)
def _terminal_closes_process(fx: Fixtures) -> Outcome:
    name = "SIGHUP: the terminal closes during process"
    env = Env(fx.root, "hup-terminal-process")
    src, _ = fx.clip_copy(env, source=LONG_CLIP)
    out = env.work / "out.mp4"
    master, slave = pty.openpty()
    tty = {"stdin": slave, "stdout": slave, "stderr": slave}
    run = Running(env, "process", "-i", str(src), "-o", str(out), preexec_fn=own_terminal, **tty)
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 40
        while b"frames written" not in seen and run.alive() and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                seen += os.read(master, 4096)  # the progress bar, drawn on the terminal
        os.close(master)  # the terminal window is closed mid-run
        master = -1
        run.signalled_at = time.monotonic()
        ran = run.finish(30)
    finally:
        if master >= 0:
            os.close(master)
    left = partials(env.work)
    frames = frames_in(out)
    lost = [
        f"{frames} frames saved" if frames else "nothing saved",
        "no partial left" if not left else "partial left",
    ]
    ok = ran.rc == 129 and not left and frames > 0
    return judge(name, SECTION, ran, ok, took(ran), lost)


@case("SIGHUP: the terminal closes during voice", SECTION)
def _terminal_closes(fx: Fixtures) -> Outcome:
    name = "SIGHUP: the terminal closes during voice"
    env = Env(fx.root, "hup-terminal")
    master, slave = pty.openpty()
    with private_pulse() as server:
        run = Running(
            env,
            *VOICE,
            extra_env=server.env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            preexec_fn=own_terminal,
        )
        os.close(slave)
        try:
            up = wait_for(lambda: bool(mirage_modules(server)) or not run.alive(), 30)
            time.sleep(1.0)
            os.close(master)  # the terminal window is closed: the kernel hangs up the session
            master = -1
            run.signalled_at = time.monotonic()
            ran = run.finish(15)
        finally:
            if master >= 0:
                os.close(master)
        lost = [mic_check(server)]
    ok = up and ran.rc == 0 and lost == ["microphone removed"]
    return judge(name, SECTION, ran, ok, took(ran), lost)


def _voice_signal_case(sig: signal.Signals, label: str) -> None:
    name = f"{label} during voice"

    def fn(fx: Fixtures) -> Outcome:
        env = Env(fx.root, f"voice-{sig.name}")
        with private_pulse() as server:
            run = Running(env, *VOICE, extra_env=server.env)
            up = wait_for(lambda: bool(mirage_modules(server)) or not run.alive(), 30)
            if run.alive():
                time.sleep(1.0)
                run.signal(sig)
            ran = run.finish(15)
            lost = [mic_check(server)]
        ok = up and ran.rc == 0 and f"{sig.name} received" in ran.err and lost == ["microphone removed"]
        return judge(name, SECTION, ran, ok, took(ran), lost)

    case(name, SECTION)(fn)


_voice_signal_case(signal.SIGHUP, "SIGHUP (kill -HUP)")
_voice_signal_case(signal.SIGQUIT, "SIGTERM's kin: SIGQUIT (Ctrl-\\)")
_voice_signal_case(signal.SIGTERM, "SIGTERM")


@case("voice --stats | head -1 (the reader goes away)", SECTION)
def _stats_closed(fx: Fixtures) -> Outcome:
    name = "voice --stats | head -1 (the reader goes away)"
    env = Env(fx.root, "stats-pipe")
    with private_pulse() as server:
        pipe = closed_pipe()
        try:
            run = Running(env, *VOICE, "--stats", extra_env=server.env, stdout=pipe)
        finally:
            os.close(pipe)
        ran = run.finish(30)
        lost = [mic_check(server)]
    quiet = "BrokenPipe" not in ran.err and ran.err.count("\n") <= 1
    return judge(name, SECTION, ran, ran.rc == 141 and quiet and lost == ["microphone removed"], lost=lost)


@case("PulseAudio killed during voice", SECTION)
def _server_dies(fx: Fixtures) -> Outcome:
    name = "PulseAudio killed during voice"
    env = Env(fx.root, "pulse-dies")
    with private_pulse() as server:
        run = Running(env, *VOICE, extra_env=server.env)
        up = wait_for(lambda: bool(mirage_modules(server)) or not run.alive(), 30)
        time.sleep(1.0)
        if server.pid is not None:
            os.kill(server.pid, signal.SIGKILL)
            server.pid = None
        run.signalled_at = time.monotonic()
        ran = run.finish(20)
    seconds = ran.after_signal or 0.0
    ok = up and ran.rc == 1 and "sound server" in ran.err and seconds < 8
    return judge(name, SECTION, ran, ok, f"exit {seconds:.1f} s after the server died (was: never)")


@case("PulseAudio hung (SIGSTOP) during voice", SECTION)
def _server_hangs(fx: Fixtures) -> Outcome:
    name = "PulseAudio hung (SIGSTOP) during voice"
    env = Env(fx.root, "pulse-hangs")
    with private_pulse() as server:
        run = Running(env, *VOICE, extra_env=server.env)
        up = wait_for(lambda: bool(mirage_modules(server)) or not run.alive(), 30)
        time.sleep(1.0)
        assert server.pid is not None
        os.kill(server.pid, signal.SIGSTOP)
        run.signalled_at = time.monotonic()
        try:
            ran = run.finish(30)
        finally:
            os.kill(server.pid, signal.SIGCONT)  # so that it can be stopped
    seconds = ran.after_signal or 0.0
    ok = up and ran.rc == 1 and "stopped answering" in ran.err and seconds < 15
    return judge(name, SECTION, ran, ok, f"exit {seconds:.1f} s after the server hung (was: never)")


def _leftover_case(name: str, slug: str, props: Callable[[int], str]) -> None:
    def fn(fx: Fixtures) -> Outcome:
        env = Env(fx.root, slug)
        stranger = subprocess.Popen(["sleep", "60"])  # the crashed Mirage's PID, now someone else's
        try:
            with private_pulse() as server:
                server.pactl(
                    "load-module",
                    "module-null-sink",
                    "sink_name=mirage_sink",
                    "channels=1",
                    f"sink_properties='device.description=\"Mirage_Output\" {props(stranger.pid)}'",
                )
                ran = run_cli(env, *VOICE, "--seconds", "2", extra_env=server.env, timeout=40)
                lost = [mic_check(server)]
        finally:
            stranger.kill()
            stranger.wait()
        ok = ran.rc == 0 and "Another Mirage" not in ran.err and lost == ["microphone removed"]
        return judge(name, SECTION, ran, ok, lost=lost)

    case(name, SECTION)(fn)


_leftover_case(
    "leftover microphone whose owner PID is now another program",
    "leftover-reused",
    lambda pid: f"mirage.owner_pid={pid}",
)
_leftover_case(
    "leftover microphone: PID alive, start time not the owner's",
    "leftover-start",
    lambda pid: f"mirage.owner_pid={pid} mirage.owner_start={max(1, start_ticks(pid) - 1)}",
)


# ---------------------------------------------------------------------------------------------- pipes


def _closed_stdout_case(*args: str) -> None:
    name = f"{' '.join(args)} | closed stdout"

    def fn(fx: Fixtures) -> Outcome:
        env = Env(fx.root, "pipe-" + "-".join(args), fx.models_ok)
        pipe = closed_pipe()
        try:
            run = Running(env, *args, stdout=pipe)
        finally:
            os.close(pipe)
        ran = run.finish(60)
        quiet = "BrokenPipe" not in ran.err and "Exception ignored" not in ran.err
        return judge(name, SECTION, ran, quiet and ran.rc in (0, 141))

    case(name, SECTION)(fn)


_closed_stdout_case("devices")
_closed_stdout_case("models", "list")
_closed_stdout_case("models", "list", "--json")
_closed_stdout_case("doctor")


@case("run -o rec.mp4 | closed stdout: the recording is kept", SECTION)
def _run_closed(fx: Fixtures) -> Outcome:
    name = "run -o rec.mp4 | closed stdout: the recording is kept"
    env = Env(fx.root, "run-pipe")
    rec = env.work / "rec.mp4"
    pipe = closed_pipe()
    try:
        run = Running(
            env,
            "run",
            "--source",
            "test",
            "--no-virtual-camera",
            "--seconds",
            "2",
            "-o",
            str(rec),
            stdout=pipe,
        )
    finally:
        os.close(pipe)
    ran = run.finish(60)
    frames = frames_in(rec)
    lost = [f"recording kept ({frames} frames)" if frames else "RECORDING LOST"]
    ok = ran.rc == 141 and frames > 0 and not partials(env.work)
    return judge(name, SECTION, ran, ok, lost=lost)


# ---------------------------------------------------------------------------------------------- files


def _process(env: Env, src: Path, out: Path, *extra: str) -> Running:
    return Running(env, "process", "-i", str(src), "-o", str(out), *extra)


@case("SIGTERM between the partial file and the first frame", SECTION)
def _term_in_setup(fx: Fixtures) -> Outcome:
    name = "SIGTERM between the partial file and the first frame"
    env = Env(fx.root, "term-setup", fx.models_ok)
    src, _ = fx.clip_copy(env)
    out = env.work / "out.mp4"
    run = Running(env, "process", "-i", str(src), "-o", str(out), "--face", str(FACE))
    seen = wait_for(lambda: bool(partials(env.work)) or not run.alive(), 30)
    if run.alive():
        run.signal(signal.SIGTERM)
    ran = run.finish(20)
    left = partials(env.work)
    lost = ["no partial left" if not left else f"partial left: {left[0].name}"]
    ok = seen and ran.rc == 143 and not left and "Traceback" not in ran.err
    return judge(name, SECTION, ran, ok, took(ran), lost)


@case("SIGTERM while the face models load (3 moments)", SECTION)
def _term_while_loading(fx: Fixtures) -> Outcome:
    """onnxruntime's C extension turns an interrupt during its import into "ImportError:
    initialization failed": still the interrupt, not a crash."""
    name = "SIGTERM while the face models load (3 moments)"
    results: list[Ran] = []
    for delay in (0.05, 0.2, 0.5):
        env = Env(fx.root, "term-loading", fx.models_ok)
        src, _ = fx.clip_copy(env)
        run = Running(env, "process", "-i", str(src), "-o", str(env.work / "out.mp4"), "--face", str(FACE))
        wait_for(lambda env=env, run=run: bool(partials(env.work)) or not run.alive(), 30)
        time.sleep(delay)
        run.signal(signal.SIGTERM)
        results.append(run.finish(20))
        if partials(env.work) or results[-1].rc != 143:
            break
    worst = next((r for r in results if r.rc != 143 or "Traceback" in r.err), results[-1])
    ok = all(r.rc == 143 for r in results) and len(results) == 3
    return judge(name, SECTION, worst, ok, ", ".join(f"exit {r.rc}" for r in results))


@case("SIGHUP during process", SECTION)
def _hup_process(fx: Fixtures) -> Outcome:
    name = "SIGHUP during process"
    env = Env(fx.root, "hup-process")
    src, _ = fx.clip_copy(env, source=LONG_CLIP)
    out = env.work / "out.mp4"
    ran = run_cli(
        env,
        "process",
        "-i",
        str(src),
        "-o",
        str(out),
        send=signal.SIGHUP,
        send_when=lambda err: "frames written" in err,
        timeout=90,
    )
    left = partials(env.work)
    ok = ran.rc == 129 and not left and (frames_in(out) > 0 or "Nothing was written" in ran.err)
    return judge(name, SECTION, ran, ok, took(ran), ["no partial left" if not left else "partial left"])


@case("SIGKILL during process, then the next run", SECTION)
def _kill_then_next(fx: Fixtures) -> Outcome:
    name = "SIGKILL during process, then the next run"
    env = Env(fx.root, "kill-next")
    src, _ = fx.clip_copy(env, source=LONG_CLIP)
    short, _ = fx.clip_copy(env, "short.mp4")
    out = env.work / "out.mp4"
    first = _process(env, src, out)
    wait_for(lambda: bool(partials(env.work)) or not first.alive(), 30)
    time.sleep(1.0)
    first.signal(signal.SIGKILL)
    first.finish(10)
    left = partials(env.work)
    ran = run_cli(env, "process", "-i", str(short), "-o", str(out), timeout=90)
    after = partials(env.work)
    named = bool(left) and left[0].name in ran.err
    lost = [f"{len(left)} stale partial(s), {len(after)} after the next run"]
    ok = bool(left) and not after and named and ran.rc == 0 and frames_in(out) > 0
    return judge(name, SECTION, ran, ok, "the next run named and removed it" if named else "", lost)


@case("another run's live partial is not swept", SECTION)
def _live_partial_kept(fx: Fixtures) -> Outcome:
    name = "another run's live partial is not swept"
    env = Env(fx.root, "live-partial", fx.models_ok)
    src, _ = fx.clip_copy(env, source=LONG_CLIP)
    short, _ = fx.clip_copy(env, "short.mp4")
    first = _process(env, src, env.work / "long-out.mp4", "--face", str(FACE))  # slow: still writing
    try:
        wait_for(lambda: bool(partials(env.work)), 30)
        live = partials(env.work)
        ran = run_cli(env, "process", "-i", str(short), "-o", str(env.work / "other.mp4"), timeout=90)
        kept = bool(live) and all(p.exists() for p in live)
    finally:
        first.signal(signal.SIGINT)
        first.finish(60)
    lost = ["live partial kept" if kept else "LIVE RUN'S PARTIAL REMOVED"]
    return judge(name, SECTION, ran, kept and ran.rc == 0, lost=lost)


@case("two process runs write one output at once", SECTION)
def _two_writers(fx: Fixtures) -> Outcome:
    name = "two process runs write one output at once"
    env = Env(fx.root, "two-writers", fx.models_ok)
    src, _ = fx.clip_copy(env, source=LONG_CLIP)
    out = env.work / "out.mp4"
    first = _process(env, src, out, "--face", str(FACE))  # the swap: slow enough to overlap
    try:
        wait_for(lambda: bool(partials(env.work)) or not first.alive(), 30)
        ran = run_cli(env, "process", "-i", str(src), "-o", str(out), timeout=60)
    finally:
        first.signal(signal.SIGINT)
        first_ran = first.finish(60)
    named = f"process {first.proc.pid}" in ran.err
    frames = frames_in(out)
    lost = [f"first run's output kept ({frames} frames)" if frames else "FIRST RUN'S OUTPUT LOST"]
    ok = ran.rc == 2 and named and frames > 0 and first_ran.rc in (0, 130)
    return judge(name, SECTION, ran, ok, "refused, naming the other PID" if named else "", lost)


@case("a dead run's lock file does not block the next", SECTION)
def _stale_lock(fx: Fixtures) -> Outcome:
    name = "a dead run's lock file does not block the next"
    env = Env(fx.root, "stale-lock")
    src, _ = fx.clip_copy(env)
    out = env.work / "out.mp4"
    child = subprocess.Popen(["sleep", "5"])
    dead = ProcessToken(child.pid, start_ticks(child.pid))
    child.kill()
    child.wait()
    (env.work / ".out.mp4.mirage-lock").write_text(f"{dead}\n")  # what SIGKILL leaves
    ran = run_cli(env, "process", "-i", str(src), "-o", str(out), timeout=90)
    clean_folder = sorted(p.name for p in env.work.iterdir()) == ["input.mp4", "out.mp4"]
    return judge(name, SECTION, ran, ran.rc == 0 and frames_in(out) > 0 and clean_folder)


@case("SIGHUP during voice --input-file conversion", SECTION)
def _hup_file_voice(fx: Fixtures) -> Outcome:
    name = "SIGHUP during voice --input-file conversion"
    env = Env(fx.root, "hup-file")
    wav = env.work / "long.wav"
    rng = np.random.default_rng(0)
    sf.write(wav, (0.1 * rng.standard_normal(48000 * 240)).astype(np.float32), 48000)
    out = env.work / "out.wav"
    run = Running(env, "voice", "--input-file", str(wav), "--output-file", str(out), "--converter", "pitch")
    wait_for(lambda: bool(partials(env.work)) or not run.alive(), 30)  # converting: past start-up
    if run.alive():
        run.signal(signal.SIGHUP)
    ran = run.finish(20)
    said = "was not written" in ran.err
    ok = ran.rc == 130 and said and not out.exists() and not partials(env.work)
    return judge(name, SECTION, ran, ok, took(ran), ["no output, no partial" if ok else "see note"])


@case("two voice --input-file conversions to one output", SECTION)
def _two_converters(fx: Fixtures) -> Outcome:
    name = "two voice --input-file conversions to one output"
    env = Env(fx.root, "two-converters")
    wav = env.work / "long.wav"
    sf.write(wav, (0.1 * np.random.default_rng(1).standard_normal(48000 * 240)).astype(np.float32), 48000)
    out = env.work / "out.wav"
    args = ("voice", "--input-file", str(wav), "--output-file", str(out), "--converter", "pitch")
    first = Running(env, *args)
    try:
        wait_for(lambda: bool(partials(env.work)) or not first.alive(), 30)
        ran = run_cli(env, *args, timeout=60)
    finally:
        first.signal(signal.SIGINT)
        first.finish(30)
    named = f"process {first.proc.pid}" in ran.err
    return judge(name, SECTION, ran, ran.rc == 2 and named, "refused, naming the other PID" if named else "")


@case("SIGTERM during models download", SECTION)
def _term_download(fx: Fixtures) -> Outcome:
    name = "SIGTERM during models download"
    env = Env(fx.root, "term-download")
    with mirror() as m:
        m.routes = [trickle(m, DET_SIZE)]
        extra = {**FAST, "MIRAGE_DOWNLOAD_STALL_S": "30", "MIRAGE_MODEL_URL_DET_10G": m.url}
        args = ("models", "download", "det_10g")
        started = lambda err: "trying source" in err  # noqa: E731 - past start-up, into the download
        ran = run_cli(
            env, *args, extra_env=extra, send=signal.SIGTERM, send_when=started, send_after=20, timeout=40
        )
    again = run_cli(env, "models", "list", timeout=30)
    ok = ran.rc == 143 and "again" in ran.err and again.rc == 0
    return judge(name, SECTION, ran, ok, took(ran))


@case("voice --metrics-json into a folder that does not exist", SECTION)
def _voice_metrics(fx: Fixtures) -> Outcome:
    name = "voice --metrics-json into a folder that does not exist"
    env = Env(fx.root, "voice-metrics")
    with private_pulse() as server:
        ran = run_cli(
            env, *VOICE, "--seconds", "1", "--metrics-json", "/no/such/dir/m.json", extra_env=server.env
        )
        lost = [mic_check(server)]
    return judge(name, SECTION, ran, ran.rc == 2 and "/no/such/dir" in ran.err, lost=lost)


@case("process --metrics-json - | closed stdout: the output is kept", SECTION)
def _process_closed(fx: Fixtures) -> Outcome:
    name = "process --metrics-json - | closed stdout: the output is kept"
    env = Env(fx.root, "process-pipe")
    src, _ = fx.clip_copy(env)
    out = env.work / "out.mp4"
    pipe = closed_pipe()
    try:
        run = Running(env, "process", "-i", str(src), "-o", str(out), "--metrics-json", "-", stdout=pipe)
    finally:
        os.close(pipe)
    ran = run.finish(90)
    frames = frames_in(out)
    lost = [f"output kept ({frames} frames)" if frames else "OUTPUT LOST"]
    return judge(name, SECTION, ran, ran.rc == 141 and frames > 0 and not partials(env.work), lost=lost)
