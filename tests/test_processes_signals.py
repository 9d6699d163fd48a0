"""Processes and signals (issue 17, item 6), with real processes, a real terminal, real pipes and a
private PulseAudio: every way a command ends leaves nothing behind, and nothing left behind by a
dead run is taken for a live one's — nor a live one's for a dead one's."""

from __future__ import annotations

import fcntl
import logging
import os
import pty
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from mirage_desktop.cli.signals import InterruptOnSignals, StopOnSignals
from mirage_desktop.sinks.output_file import OutputError, PartialFile, sweep_leftovers
from mirage_desktop.sinks.output_lock import lock_path
from mirage_desktop.system.process_identity import Liveness, ProcessToken, start_ticks
from mirage_desktop.voice.errors import VoiceError
from mirage_desktop.voice.pulse_server import PrivatePulse
from mirage_desktop.voice.virtual_mic.pulse import PulseVirtualMic
from tests.pulse_fixture import FAKE_MIC_SINK, FAKE_MIC_SOURCE, pulse_server, wait_for

__all__ = ["pulse_server"]

VOICE = ["voice", "--input", FAKE_MIC_SOURCE, "--converter", "pitch"]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "mirage_desktop.cli", *args]


def _mirage_modules(server: PrivatePulse) -> str:
    text = server.pactl("list", "short", "modules").stdout
    return "\n".join(line for line in text.splitlines() if "mirage_sink" in line or "mirage_mic" in line)


def _wait_mic(server: PrivatePulse, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    ok = wait_for(lambda: "mirage_mic" in _mirage_modules(server) or proc.poll() is not None, timeout)
    if not ok or proc.poll() is not None:
        out, err = proc.communicate(timeout=10)
        pytest.fail(f"the voice never started: {out} {err}")


def _dead_token() -> ProcessToken:
    """A process that really ran and has ended (its PID free again)."""
    child = subprocess.Popen(["sleep", "5"])
    token = ProcessToken(child.pid, start_ticks(child.pid))
    child.kill()
    child.wait()
    return token


# ------------------------------------------------------------------------------ signals during voice


def test_closing_the_terminal_during_voice_removes_the_microphone(pulse_server):
    """The real thing, not `kill -HUP`: voice on a terminal of its own, and the terminal goes away."""
    master, slave = pty.openpty()

    def own_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        _cli(*VOICE), stdin=slave, stdout=slave, stderr=slave, preexec_fn=own_terminal, close_fds=True
    )
    os.close(slave)
    try:
        _wait_mic(pulse_server, proc)
        time.sleep(1.0)
        os.close(master)  # the terminal window is closed: the kernel hangs up the session
        master = -1
        rc = proc.wait(15)
    finally:
        if master >= 0:
            os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rc == 0
    assert _mirage_modules(pulse_server) == ""


# SIGHUP is the terminal test above, SIGTERM and SIGINT were handled before; the battery sends all four
@pytest.mark.parametrize("sig", [signal.SIGQUIT], ids=lambda s: s.name)
def test_every_stop_signal_during_voice_removes_the_microphone(sig, pulse_server):
    proc = subprocess.Popen(_cli(*VOICE), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_mic(pulse_server, proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert f"{sig.name} received" in err and "Traceback" not in err
    assert _mirage_modules(pulse_server) == ""


def test_voice_stats_into_a_closed_pipe_ends_quietly_and_removes_the_microphone(pulse_server):
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| head -1` after its line: every write now fails
    try:
        proc = subprocess.Popen(_cli(*VOICE, "--stats"), stdout=write_end, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write_end)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 141, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert _mirage_modules(pulse_server) == ""


@pytest.mark.parametrize("args", [["devices"], ["models", "list"]], ids=" ".join)
def test_every_printing_command_into_a_closed_pipe_ends_quietly(args, pulse_server):
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(_cli(*args), stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr  # as `yes | head -1`'s `yes`
    assert done.stderr == "", done.stderr


def test_voice_notices_the_sound_server_dying_and_exits(tmp_path):
    server = PrivatePulse(
        modules=[f"load-module module-null-sink sink_name={FAKE_MIC_SINK} rate=48000 channels=1"]
    ).start()
    env = {**os.environ, **server.env}
    proc = subprocess.Popen(_cli(*VOICE), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        _wait_mic(server, proc)
        time.sleep(1.0)
        assert server.pid is not None
        os.kill(server.pid, signal.SIGKILL)
        killed = time.monotonic()
        server.pid = None
        _, err = proc.communicate(timeout=20)
        took = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.stop()
    assert proc.returncode == 1, err
    assert "sound server" in err and "stopped" in err and "Traceback" not in err, err
    assert took < 8.0, f"{took:.1f} s to notice"


# ------------------------------------------------------------------------------ who owns a leftover mic


def _load_leftover(server: PrivatePulse, props: str) -> None:
    server.pactl(
        "load-module",
        "module-null-sink",
        "sink_name=mirage_sink",
        "rate=48000",
        "channels=1",
        f"sink_properties='device.description=\"Mirage_Output\" {props}'",
    )


def test_a_leftover_whose_pid_now_belongs_to_another_program_is_removed(pulse_server):
    stranger = subprocess.Popen(["sleep", "60"])  # took over the crashed Mirage's PID
    try:
        for props in (
            f"mirage.owner_pid={stranger.pid}",  # an older Mirage: no start time recorded
            f"mirage.owner_pid={stranger.pid} mirage.owner_start=1",  # the start time does not match
        ):
            _load_leftover(pulse_server, props)
            mic = PulseVirtualMic()
            status = mic.open()
            try:
                assert len(status.details["removed_leftover_modules"]) == 1
            finally:
                mic.close()
            assert _mirage_modules(pulse_server) == ""
    finally:
        stranger.kill()
        stranger.wait()


def test_a_live_mirage_recorded_with_its_start_time_still_owns_its_microphone(pulse_server):
    owner = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)  # mirage"]
    )  # a live process whose PID and start time are recorded: the owner
    try:
        assert wait_for(lambda: start_ticks(owner.pid) > 0, 5)
        _load_leftover(
            pulse_server, f"mirage.owner_pid={owner.pid} mirage.owner_start={start_ticks(owner.pid)}"
        )
        with pytest.raises(VoiceError, match=f"Another Mirage \\(process {owner.pid}\\)"):
            PulseVirtualMic().open()
        assert PulseVirtualMic().remove_crashed() == []
    finally:
        owner.kill()
        owner.wait()
    assert len(PulseVirtualMic().remove_crashed()) == 1  # dead now: the next start removes it
    assert _mirage_modules(pulse_server) == ""


# ------------------------------------------------------------------------------ partial files and locks


def test_partial_files_of_dead_runs_are_removed_and_live_ones_kept(tmp_path, caplog):
    dead = _dead_token()
    me = ProcessToken.current()
    dead_partial = tmp_path / f".out.mp4.partial-{dead}-0a1b2c3d.mp4"
    live_partial = tmp_path / f".other.mp4.partial-{me}-0a1b2c3d.mp4"
    old_partial = tmp_path / ".out.mp4.partial-0a1b2c3d.mp4"  # an older version's name: owner unknown
    for path in (dead_partial, live_partial, old_partial):
        path.write_bytes(b"x" * 10)
    with caplog.at_level(logging.WARNING):
        partial = PartialFile(tmp_path / "out.mp4")
        partial.create()
        partial.discard()
    assert not dead_partial.exists()
    assert live_partial.exists() and old_partial.exists()
    assert str(dead_partial) in caplog.text and str(old_partial) in caplog.text
    assert str(live_partial) not in caplog.text
    assert partial.leftovers.removed == [dead_partial]


def test_a_partial_left_by_sigkill_is_removed_by_the_next_run(tmp_path):
    dest = tmp_path / "out.mp4"
    code = (
        "import time; from pathlib import Path; from mirage_desktop.sinks.output_file import PartialFile; "
        f"p = PartialFile(Path({str(dest)!r})); p.create(); print(p.path, flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    left = Path(proc.stdout.readline().strip())
    assert left.is_file() and str(proc.pid) in left.name
    # while it runs, its partial is not touched and its output is refused, naming it
    with pytest.raises(OutputError, match=f"another Mirage \\(process {proc.pid}\\)"):
        PartialFile(dest).create()
    assert sweep_leftovers(tmp_path).removed == [] and left.is_file()
    proc.kill()
    proc.wait()
    partial = PartialFile(dest)
    partial.create()  # the dead run's lock is no obstacle, and its partial goes
    partial.path.write_bytes(b"done")
    partial.commit()
    assert not left.exists()
    assert dest.read_bytes() == b"done"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]  # no lock file either


def test_the_output_lock_is_released_on_every_way_out(tmp_path):
    dest = tmp_path / "out.json"
    for finish in ("commit", "discard", "raise"):
        partial = PartialFile(dest)
        try:
            partial.create()
            if finish == "raise":
                raise RuntimeError("boom")
            getattr(partial, finish)()
        except RuntimeError:
            partial.discard()
        assert not lock_path(dest).exists()
        again = PartialFile(dest)
        again.create()
        again.discard()


def test_two_process_runs_to_one_output_the_second_is_refused(testdata, tmp_path):
    clip = testdata / "video" / "talking_head_long_d9.mp4"
    out = tmp_path / "out.mp4"
    first = subprocess.Popen(
        _cli("process", "-i", str(clip), "-o", str(out)), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert wait_for(lambda: lock_path(out).exists(), 30)
        second = subprocess.run(
            _cli("process", "-i", str(clip), "-o", str(out)), capture_output=True, text=True, timeout=60
        )
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert second.returncode == 2
    assert f"another Mirage (process {first.pid})" in second.stderr and "Traceback" not in second.stderr


# ------------------------------------------------------------------------------ the signal scopes


def test_a_signal_outside_the_live_loop_unwinds_with_its_exit_code():
    with pytest.raises(KeyboardInterrupt) as caught, InterruptOnSignals():
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(1)
    assert caught.value.exit_code == 129
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL


def test_a_stop_in_the_live_loop_is_not_turned_into_an_interrupt_of_the_cleanup():
    with InterruptOnSignals() as outer:
        with StopOnSignals() as inner:
            os.kill(os.getpid(), signal.SIGTERM)
            assert inner.event.wait(2)
        os.kill(os.getpid(), signal.SIGTERM)  # a second one during the cleanup: no exception
        time.sleep(0.1)
    assert outer.signum == signal.SIGTERM and inner.exit_code == 143


def test_a_process_token_tells_a_reused_pid_apart():
    me = ProcessToken.current()
    assert me.start > 0 and me.liveness() is Liveness.ALIVE
    assert ProcessToken(me.pid, me.start + 1).liveness() is Liveness.DEAD
    assert _dead_token().liveness() is Liveness.DEAD
    assert ProcessToken.parse(str(me)) == me and ProcessToken.parse("x-1") is None


def test_a_recording_survives_a_closed_stdout(tmp_path):
    """`run -o rec.mp4 | head -1`: the summary line that failed used to unwind the run before the
    recording was finished, and it was discarded."""
    rec = tmp_path / "rec.mp4"
    read_end, write_end = os.pipe()
    os.close(read_end)
    argv = _cli("run", "--source", "test", "--no-virtual-camera", "--seconds", "1", "-o", str(rec))
    try:
        done = subprocess.run(argv, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert done.returncode == 141 and "Traceback" not in done.stderr, done.stderr
    assert rec.is_file() and rec.stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.mp4"]


def test_the_server_watch_says_so_once_the_server_stays_gone(monkeypatch, tmp_path):
    from mirage_desktop.voice.routing import ServerWatch

    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/no-server-here")
    now = [0.0]
    watch = ServerWatch(PulseVirtualMic(), grace_s=1.0, clock=lambda: now[0])
    assert watch.check("running", 10) == ""  # audio moving: the server is not even asked
    assert watch.check("running", 10) == ""  # stuck at "running" (a hung server): asked, first miss
    now[0] = 1.5
    assert "sound server" in watch.check("audio device unavailable, retrying", 10)
    assert ServerWatch(None).check("stopped", 0) == ""  # no PulseAudio in play (Windows, macOS)
