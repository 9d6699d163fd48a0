"""A private, throw-away PulseAudio daemon (user mode, temp dirs) for tests and benchmarks.

It never touches a user's real sound server: runtime, state, config and home all live in a temp
directory, and clients are pointed at it with PULSE_SERVER. ``stop()`` kills exactly the daemon it
started (by the pid file it wrote) and removes the directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mirage_desktop.voice.errors import VoiceError


@dataclass
class PrivatePulse:
    #: extra `load-module ...` lines for the startup script (e.g. the tests' fake microphone)
    modules: Sequence[str] = ()
    rate: int = 48000
    root: Path | None = None
    pid: int | None = None
    env: dict[str, str] = field(default_factory=dict)

    def start(self, timeout: float = 10.0) -> PrivatePulse:
        if shutil.which("pulseaudio") is None or shutil.which("pactl") is None:
            raise VoiceError(
                "pulseaudio and pactl are needed (Debian: `apt install pulseaudio pulseaudio-utils`)."
            )
        self.root = Path(tempfile.mkdtemp(prefix="mirage-pulse-"))
        runtime = self.root / "runtime"
        config = self.root / "config"
        for sub in (runtime, config / "pulse", self.root / "state", self.root / "home"):
            sub.mkdir(parents=True, exist_ok=True)
        runtime.chmod(0o700)
        daemon_conf = f"default-sample-rate = {self.rate}\nexit-idle-time = -1\nflat-volumes = no\n"
        (config / "pulse" / "daemon.conf").write_text(daemon_conf)
        script = self.root / "mirage.pa"
        lines = ["load-module module-native-protocol-unix", *self.modules]
        script.write_text("\n".join(lines) + "\n")
        pulse_runtime = runtime / "pulse"
        self.env = {
            "XDG_RUNTIME_DIR": str(runtime),
            "XDG_CONFIG_HOME": str(config),
            "HOME": str(self.root / "home"),
            "PULSE_RUNTIME_PATH": str(pulse_runtime),
            "PULSE_STATE_PATH": str(self.root / "state"),
            "PULSE_CONFIG_PATH": str(config / "pulse"),
            "PULSE_SERVER": f"unix:{pulse_runtime / 'native'}",
        }
        env = {**os.environ, **self.env}
        cmd = ["pulseaudio", "-n", "-F", str(script), "--daemonize=yes", "--exit-idle-time=-1"]
        cmd += ["--disallow-exit", "--disable-shm=no", "--log-target=stderr"]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        deadline = time.monotonic() + timeout
        last = proc.stderr.strip()
        while time.monotonic() < deadline:
            info = subprocess.run(["pactl", "info"], env=env, capture_output=True, text=True, check=False)
            if info.returncode == 0:
                pid_file = pulse_runtime / "pid"
                if pid_file.exists():
                    self.pid = int(pid_file.read_text().strip())
                return self
            last = (info.stderr or last).strip()
            time.sleep(0.1)
        self.stop()
        raise VoiceError(f"PulseAudio did not start within {timeout:.0f} s: {proc.stderr.strip()} {last}")

    def pactl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["pactl", *args], env={**os.environ, **self.env}, capture_output=True, text=True, check=False
        )

    def stop(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGTERM)
                for _ in range(50):
                    os.kill(self.pid, 0)
                    time.sleep(0.05)
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.pid = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> PrivatePulse:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
