"""Linux: Mirage creates its own virtual microphone through PulseAudio (or PipeWire's pulse server).

A null sink receives Mirage's voice; a remap source over its monitor is what apps list as
"Mirage Microphone". Every module Mirage loads carries ``mirage.owner_pid=<pid>`` and
``mirage.owner_start=<start time>`` in its arguments, so a crashed run's leftovers can be recognised
and unloaded on the next start without touching a second Mirage that is still alive. The start time
is what makes the PID proof: after a crash the kernel gives the number to the next program started,
and a leftover whose owner PID merely exists would otherwise block the microphone for as long as
that unrelated program lives (leftovers of older versions, without a start time, are believed only
while the PID's command line is a Mirage's).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mirage_desktop import VIRTUAL_MICROPHONE_NAME
from mirage_desktop.system.process_identity import Liveness, ProcessToken, looks_like_mirage, start_ticks
from mirage_desktop.voice.errors import VoiceError
from mirage_desktop.voice.virtual_mic.base import VirtualMicStatus

SINK_NAME = "mirage_sink"
SOURCE_NAME = "mirage_mic"
OWNER_KEY = "mirage.owner_pid"
OWNER_START_KEY = "mirage.owner_start"

Runner = Callable[..., subprocess.CompletedProcess]
#: how long "is the server there?" may take: a hung server must not hold up a stop for long
PROBE_TIMEOUT_S = 2.0


def run_pactl(args: Sequence[str], timeout: float = 5.0) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise VoiceError(
            "pactl was not found. Install PulseAudio's tools (Debian/Ubuntu: `sudo apt install "
            "pulseaudio-utils`; with PipeWire also `pipewire-pulse`)."
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise VoiceError(
            f"PulseAudio did not answer within {timeout:g} s; restart it (`pulseaudio -k`)."
        ) from exc


@dataclass(frozen=True, slots=True)
class PulseModule:
    index: int
    name: str
    args: dict[str, str]
    raw_args: str


def parse_module_args(raw: str) -> dict[str, str]:
    """Split ``key=value`` pairs the way PulseAudio does (values may be quoted)."""
    try:
        tokens = shlex.split(raw)
    except ValueError:
        tokens = raw.split()
    out: dict[str, str] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if sep:
            out[key] = value
    return out


def owner_alive(owner: ProcessToken) -> bool:
    """Whether the Mirage that loaded a module still runs (a reused PID is not that Mirage)."""
    liveness = owner.liveness()
    if liveness is Liveness.DEAD:
        return False
    if owner.start and liveness is Liveness.ALIVE:
        return True  # the PID and its start time match: the very process that loaded it
    # an older Mirage recorded no start time: believe the PID only while a Mirage holds it
    return looks_like_mirage(owner.pid) is not False


class PulseVirtualMic:
    def __init__(
        self,
        sink_name: str = SINK_NAME,
        source_name: str = SOURCE_NAME,
        description: str = VIRTUAL_MICROPHONE_NAME,
        rate: int = 48000,
        runner: Runner = run_pactl,
        pid: int | None = None,
    ) -> None:
        self.sink_name = sink_name
        self.source_name = source_name
        self.description = description
        self.rate = rate
        self._pactl = runner
        self.pid = os.getpid() if pid is None else pid
        self.owner = ProcessToken(self.pid, start_ticks(self.pid))
        self.loaded: list[int] = []

    # --- pactl helpers -----------------------------------------------------------------------------
    def _run(self, *args: str, timeout: float = 5.0) -> str:
        result = self._pactl(list(args), timeout=timeout)
        if result.returncode != 0:
            err = (result.stderr or result.stdout).strip()
            if "Connection refused" in err or "Connection failure" in err or "No such file" in err:
                raise VoiceError(
                    "PulseAudio is not running, so the virtual microphone cannot be created. Start it "
                    "(`pulseaudio --start`, or `systemctl --user start pipewire-pulse` on PipeWire) "
                    f"and try again. ({err})"
                )
            raise VoiceError(f"pactl {' '.join(args)} failed: {err}")
        return result.stdout

    def server_info(self) -> dict[str, str]:
        info: dict[str, str] = {}
        for line in self._run("info").splitlines():
            key, sep, value = line.partition(":")
            if sep:
                info[key.strip()] = value.strip()
        return info

    def modules(self) -> list[PulseModule]:
        out = []
        for line in self._run("list", "short", "modules").splitlines():
            parts = line.split("\t")
            if len(parts) >= 2 and parts[0].strip().isdigit():
                raw = parts[2] if len(parts) > 2 else ""
                out.append(PulseModule(int(parts[0]), parts[1], parse_module_args(raw), raw))
        return out

    def _names(self, kind: str) -> list[str]:
        return [line.split("\t")[1] for line in self._run("list", "short", kind).splitlines() if "\t" in line]

    def sources(self) -> list[str]:
        return self._names("sources")

    def sinks(self) -> list[str]:
        return self._names("sinks")

    def _is_ours(self, module: PulseModule) -> bool:
        a = module.args
        props = " ".join(v for k, v in a.items() if k.endswith("_properties"))
        return (
            a.get("sink_name") == self.sink_name
            or a.get("source_name") == self.source_name
            or a.get("master") == f"{self.sink_name}.monitor"
            or a.get("source") == f"{self.sink_name}.monitor"
            or f"{OWNER_KEY}=" in props
        )

    @staticmethod
    def _owner(module: PulseModule) -> ProcessToken | None:
        for key, value in module.args.items():
            if key.endswith("_properties"):
                props = parse_module_args(value)
                pid, start = props.get(OWNER_KEY, ""), props.get(OWNER_START_KEY, "0")
                if pid.isdigit():
                    return ProcessToken(int(pid), int(start) if start.isdigit() else 0)
        return None

    def _owned_by_other_live(self, module: PulseModule) -> ProcessToken | None:
        """The live Mirage other than this one that owns ``module``, or None."""
        owner = self._owner(module)
        if owner is None or owner.pid == self.pid or not owner_alive(owner):
            return None
        return owner

    def _owner_props(self) -> str:
        return f"{OWNER_KEY}={self.owner.pid} {OWNER_START_KEY}={self.owner.start}"

    # --- lifecycle -----------------------------------------------------------------------------------
    def cleanup_leftovers(self) -> list[int]:
        """Unload modules a crashed Mirage left behind; refuse if a live Mirage owns them."""
        ours = [m for m in self.modules() if self._is_ours(m)]
        for module in ours:
            owner = self._owned_by_other_live(module)
            if owner is not None:
                raise VoiceError(
                    f"Another Mirage (process {owner.pid}) is already providing '{self.description}'. "
                    "Close it first, or use that one."
                )
        removed = []
        for module in sorted(ours, key=lambda m: m.index, reverse=True):
            if module.index not in self.loaded:
                self._run("unload-module", str(module.index))
                removed.append(module.index)
        return removed

    def remove_crashed(self) -> list[int]:
        """Unload only what a Mirage that no longer runs left behind (safe while another one is live).

        Run at every app start, so a crash's "Mirage Microphone" is gone by the next start even
        when voice stays off; ``open()`` then also clears ownerless leftovers of older versions.
        """
        removed = []
        for module in sorted(self.modules(), key=lambda m: m.index, reverse=True):
            owner = self._owner(module) if self._is_ours(module) else None
            if owner is None or owner.pid == self.pid or self._owned_by_other_live(module):
                continue
            self._run("unload-module", str(module.index))
            removed.append(module.index)
        return removed

    def _load(self, *args: str) -> int:
        index = int(self._run("load-module", *args).strip())
        self.loaded.append(index)
        return index

    def open(self) -> VirtualMicStatus:
        self.server_info()  # clear message if the server is down
        leftovers = self.cleanup_leftovers()
        owner = self._owner_props()
        sink_desc = "Mirage_Output"
        try:
            self._load(
                "module-null-sink",
                f"sink_name={self.sink_name}",
                f"rate={self.rate}",
                "channels=1",
                f"sink_properties='device.description=\"{sink_desc}\" {owner}'",
            )
            self._load(
                "module-remap-source",
                f"master={self.sink_name}.monitor",
                f"source_name={self.source_name}",
                f"rate={self.rate}",
                "channels=1",
                f"source_properties='device.description=\"{self.description}\" {owner}'",
            )
        except VoiceError:
            self.close()
            raise
        return self.status(details={"removed_leftover_modules": leftovers})

    def start_monitor(self, sink: str | None = None, latency_ms: int = 30) -> int:
        """Play the converted voice to the user's headphones inside the sound server (no 2nd stream here)."""
        args = [
            "module-loopback",
            f"source={self.sink_name}.monitor",
            f"latency_msec={latency_ms}",
            f"source_output_properties='media.name=\"Mirage monitor\" {self._owner_props()}'",
            f"sink_input_properties='media.name=\"Mirage monitor\" {self._owner_props()}'",
        ]
        if sink:
            args.append(f"sink={sink}")
        return self._load(*args)

    def close(self) -> None:
        errors = []
        for index in reversed(self.loaded):
            try:
                self._run("unload-module", str(index))
            except VoiceError as exc:
                if not self.reachable():
                    # the server is gone, and every module it had went with it (a hung one keeps
                    # them: the next start removes them, their owner being dead by then)
                    self.loaded = []
                    return
                errors.append(str(exc))
        self.loaded = []
        if errors:
            raise VoiceError("could not remove every virtual microphone module: " + "; ".join(errors))

    def forget(self) -> None:
        """The server is gone (or hung): there is nothing to unload, and asking would only wait.
        Should a hung server come back, the next start removes the modules (their owner is dead)."""
        self.loaded = []

    def own_sources(self) -> set[str]:
        """Sources that carry Mirage's own output: recording one would feed the voice back into itself."""
        return {self.source_name, f"{self.sink_name}.monitor"}

    def reachable(self) -> bool:
        try:
            self._run("info", timeout=PROBE_TIMEOUT_S)
        except VoiceError:
            return False
        return True

    def input_feedback(self, requested: str | None, pid: int | None = None) -> str:
        """A message when this process records (or a reopen would record) Mirage's own output, else "".

        PulseAudio moves a stream whose microphone was unplugged to the default source, and when the
        only other source is "Mirage Microphone" that is the default: the converted voice would be
        fed back into itself and howl into the call.
        """
        pid = os.getpid() if pid is None else pid
        own = self.own_sources()
        names = {}
        for line in self._run("list", "short", "sources").splitlines():
            parts = line.split("\t")
            if len(parts) >= 2 and parts[0].strip().isdigit():
                names[parts[0].strip()] = parts[1]
        for block in self._run("list", "source-outputs").split("Source Output #")[1:]:
            source = owner = ""
            for line in block.splitlines():
                key, _, value = line.strip().partition(":")
                if key == "Source":
                    source = value.strip()
                elif line.strip().startswith("application.process.id = "):
                    owner = line.split("=", 1)[1].strip().strip('"')
            if owner == str(pid) and names.get(source) in own:
                return (
                    f"the microphone went away and the sound server moved Mirage's input to "
                    f"'{self.description}' itself (it would echo for ever); voice is paused until "
                    "the microphone is back"
                )
        target = requested or self.server_info().get("Default Source", "")
        if target in own:
            return (
                f"the system's default input is '{self.description}' itself; voice is paused until "
                "a real microphone is connected or chosen"
            )
        return ""

    def output_env(self) -> dict[str, str]:
        return {"PULSE_SINK": self.sink_name}

    @property
    def output_device(self) -> str:
        return "pulse"

    def status(self, details: dict | None = None) -> VirtualMicStatus:
        return VirtualMicStatus(
            platform="linux",
            backend="pulse",
            available=True,
            visible_name=self.description,
            output_device=f"pulse (PULSE_SINK={self.sink_name})",
            details=details or {},
        )

    def probe(self) -> VirtualMicStatus:
        """Report without changing anything: can Mirage create its microphone here?"""
        try:
            info = self.server_info()
            present = self.source_name in self.sources()
        except VoiceError as exc:
            return VirtualMicStatus(platform="linux", backend="", available=False, message=str(exc))
        return VirtualMicStatus(
            platform="linux",
            backend="pulse",
            available=True,
            visible_name=self.description,
            output_device=f"pulse (PULSE_SINK={self.sink_name})",
            message="" if present else "created when voice starts",
            details={"server": info.get("Server Name", ""), "version": info.get("Server Version", "")},
        )
