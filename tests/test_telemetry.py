"""ONNX Runtime's telemetry stays off: no device id / event store on disk, no connection attempt.

Each check runs Mirage's session code in a fresh process whose HOME and XDG_CACHE_HOME are a temp
folder and whose environment lacks ORT_DISABLE_TELEMETRY (Mirage must set it itself), next to a
control process that loads onnxruntime before Mirage could: the control must show the telemetry
(folder created; under strace, DNS queries for Microsoft's collector), or the check proves nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mirage_desktop.runtime.telemetry import TELEMETRY_ENV, TELEMETRY_FOLDER
from tests.test_face_swap_models import face_models

SHARED_FIXTURES = (face_models,)
REPO_ROOT = Path(__file__).resolve().parents[1]
CHILD = REPO_ROOT / "tests" / "telemetry_child.py"
#: measured: ORT's 1DS uploader first resolves its collector ~10 s after the library loaded
UPLOADER_DELAY_S = 14.0
LOOPBACK = re.compile(r"'(127\.\d+\.\d+\.\d+|::1|localhost)'")


#: measured: ORT 1.31 turns its telemetry off by itself when one of these is set (CI=true was, on our
#: CI), so a control child that inherits one shows nothing and proves nothing; a user's desktop has none
CI_MARKERS = frozenset(
    {
        "CI",
        "TF_BUILD",
        "GITHUB_ACTIONS",
        "GITLAB_CI",
        "CIRCLECI",
        "TRAVIS",
        "JENKINS_URL",
        "CODEBUILD_BUILD_ID",
        "BUILDKITE",
        "TEAMCITY_VERSION",
        "APPVEYOR",
        "BITBUCKET_BUILD_NUMBER",
    }
)


def fresh_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != TELEMETRY_ENV and k not in CI_MARKERS}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), PYTHONPATH=str(REPO_ROOT))
    return env


def child_command(models: Path, control: bool, sleep: float) -> list[str]:
    cmd = [sys.executable, str(CHILD), "--models", str(models), "--sleep", str(sleep)]
    return cmd + (["--control"] if control else [])


def telemetry_files(home: Path) -> list[str]:
    folder = home / ".cache" / TELEMETRY_FOLDER
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def internet_socket_events(events: list[list[str]]) -> list[list[str]]:
    """Python-level socket use that is not loopback or a local (AF_UNIX) socket."""
    flagged = []
    for name, args in events:
        if "AddressFamily.AF_UNIX" in args or LOOPBACK.search(args):
            continue
        flagged.append([name, args])
    return flagged


@pytest.fixture(scope="module")
def models(face_models) -> Path:
    return face_models.det.parent


def test_sessions_opened_through_mirage_create_no_telemetry_store(models, tmp_path):
    homes = {mode: tmp_path / mode for mode in ("mirage", "control")}
    procs = {}
    for mode, home in homes.items():
        home.mkdir()
        procs[mode] = subprocess.Popen(
            child_command(models, mode == "control", 0.0),
            env=fresh_env(home),
            cwd=home,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    results = {}
    for mode, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results[mode] = json.loads(out.strip().splitlines()[-1])

    mirage, control = results["mirage"], results["control"]
    # the sessions really ran on ORT
    assert mirage["probe_working"] and mirage["session_providers"] == [["CPUExecutionProvider"]] * 2
    assert mirage["ort_version"]
    assert telemetry_files(homes["mirage"]) == []
    assert not mirage["telemetry_folder_exists"]
    assert mirage["telemetry"]["off"] is True and mirage["telemetry"]["env"] == "1"
    # the audit hook was live (it saw the child's own loopback lookup) and saw nothing else
    assert any(name == "socket.getaddrinfo" and "localhost" in a for name, a in mirage["socket_events"])
    assert internet_socket_events(mirage["socket_events"]) == []
    # control: the same code without Mirage's switch in time does write ORT's device id and event queue
    assert {"deviceid", "onnxruntime.db"} <= set(telemetry_files(homes["control"]))
    assert control["telemetry"]["off"] is False and control["telemetry"]["onnxruntime_loaded_before_mirage"]


def test_cli_doctor_creates_no_telemetry_store(tmp_path):
    """The CLI entry path (doctor opens a probe session per provider) with a fresh home."""
    proc = subprocess.run(
        [sys.executable, "-m", "mirage_desktop.cli", "doctor", "--json"],
        env=fresh_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert "CPUExecutionProvider" in data["execution_providers"]["working"]
    assert telemetry_files(tmp_path) == []
    assert not (tmp_path / ".cache" / "Microsoft").exists()


def _strace_works() -> str | None:
    exe = shutil.which("strace")
    if exe is None:
        return "strace is not installed (Debian: apt-get install strace)"
    probe = subprocess.run([exe, "-f", "-e", "trace=none", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"strace cannot trace here: {probe.stderr.strip()[:200]}"
    return None


NETWORK_CALL = re.compile(r"\b(connect|sendto|sendmsg)\(\d+, ")


def network_calls(trace: str) -> list[str]:
    """connect/sendto/sendmsg towards IPv4/IPv6 addresses (a local DNS resolver included), and any
    datagram naming Microsoft (a DNS query on an already connected socket carries no address)."""
    return [
        line
        for line in trace.splitlines()
        if NETWORK_CALL.search(line) and ("sa_family=AF_INET" in line or "microsoft" in line.lower())
    ]


@pytest.mark.skipif(_strace_works() is not None, reason=str(_strace_works()))
def test_no_native_connection_attempt_under_strace(models, tmp_path):
    """Native code (ORT's 1DS uploader) is invisible to Python's audit hooks: strace sees every
    connect/sendto of the process and its threads, for longer than the uploader takes to start."""
    procs = {}
    for mode in ("mirage", "control"):
        home = tmp_path / mode
        home.mkdir()
        trace = tmp_path / f"{mode}.strace"
        cmd = ["strace", "-f", "-s", "96", "-e", "trace=connect,sendto,sendmsg", "-o", str(trace)]
        procs[mode] = (
            subprocess.Popen(
                cmd + child_command(models, mode == "control", UPLOADER_DELAY_S),
                env=fresh_env(home),
                cwd=home,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
            trace,
        )
    calls = {}
    for mode, (proc, trace) in procs.items():
        _out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        calls[mode] = network_calls(trace.read_text())
    assert calls["mirage"] == [], "\n".join(calls["mirage"][:10])
    # control: ORT resolves its collector (mobile.events.data.microsoft.com) when not switched off
    assert any("events" in line and "microsoft" in line for line in calls["control"]), calls["control"][:5]
