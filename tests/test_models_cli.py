"""`mirage-cli models list|download|verify|add`: output and exit codes, via the real argparse wiring."""

from __future__ import annotations

import argparse
import io
import json
import socket
import threading
import time
from pathlib import Path

import pytest

from mirage_desktop.cli import models as models_cli
from mirage_desktop.models import DownloadSettings, Manifest, ModelStore
from mirage_desktop.runtime.probe_model import identity_model_bytes
from tests.test_models_httpserver import model_dict, random_bytes, refused_url, running_server, sha256

SWAP = random_bytes(120_000, seed=41)
ENHANCER = random_bytes(80_000, seed=42)


@pytest.fixture
def server():
    with running_server() as running:
        yield running


@pytest.fixture
def cli(tmp_path, server):
    """Runs `models ...` against a store whose manifest points at the local server."""
    enhancer = model_dict("enhancer", ENHANCER, [server.add("/enhancer.onnx", ENHANCER)], required=False)
    enhancer["feature"] = "face_enhancer"
    manifest = Manifest.from_dict(
        {"models": [model_dict("swap", SWAP, [server.add("/swap.onnx", SWAP)]), enhancer]}
    )
    models_dir = tmp_path / "models"

    def factory(**options) -> ModelStore:
        return ModelStore(models_dir, manifest, {}, settings=DownloadSettings(retry_delay=0), **options)

    def run(*argv: str) -> int:
        parser = argparse.ArgumentParser(prog="mirage-cli")
        models_cli.register(parser.add_subparsers(dest="command"), store_factory=factory)
        args = parser.parse_args(["models", *argv])
        return args.func(args)

    run.models_dir = models_dir
    return run


def test_list_shows_states_and_json(cli, capsys):
    assert cli("list") == 0
    out = capsys.readouterr().out
    assert f"Models folder: {cli.models_dir}" in out
    swap_line = next(line for line in out.splitlines() if line.startswith("swap "))
    assert "swap.onnx" in swap_line and "0.1 MB" in swap_line and "missing" in swap_line
    assert "face swap (required)" in swap_line and "test licence" in swap_line

    assert cli("list", "--json") == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["models_dir"] == str(cli.models_dir)
    assert [(m["id"], m["state"], m["sha256"]) for m in payload["models"]] == [
        ("swap", "missing", sha256(SWAP)),
        ("enhancer", "missing", sha256(ENHANCER)),
    ]


def test_download_defaults_to_required_and_draws_progress(cli, capsys, server):
    assert cli("download") == 0
    captured = capsys.readouterr()
    assert f"swap: installed and verified at {cli.models_dir / 'swap.onnx'}" in captured.out
    assert "swap  [" in captured.err and "100.0%" in captured.err  # the bar, on stderr
    assert server.hits_for("/enhancer.onnx") == []

    assert cli("download", "--all") == 0
    out = capsys.readouterr().out
    assert "swap: already installed (verified)" in out
    assert "enhancer: installed and verified" in out
    assert len(server.hits_for("/swap.onnx")) == 1


def test_download_failure_exits_nonzero_with_the_manual_way(tmp_path, capsys):
    manifest = Manifest.from_dict({"models": [model_dict("swap", SWAP, [refused_url()])]})

    def factory(**options) -> ModelStore:
        return ModelStore(tmp_path / "m", manifest, {}, settings=DownloadSettings(retry_delay=0), **options)

    parser = argparse.ArgumentParser()
    models_cli.register(parser.add_subparsers(), store_factory=factory)
    args = parser.parse_args(["models", "download", "swap"])
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert "connection refused" in err
    assert f"and put it in {tmp_path / 'm'}, or run `mirage-cli models add PATH`" in err


def test_unknown_id_is_a_usage_error(cli, capsys):
    assert cli("download", "nope") == 2
    assert "Unknown model 'nope'" in capsys.readouterr().err
    assert cli("verify", "nope") == 2


def test_verify_exit_codes(cli, capsys):
    assert cli("verify") == 0  # nothing present is not an error
    assert "swap: missing" in capsys.readouterr().out

    cli.models_dir.mkdir(parents=True)
    (cli.models_dir / "swap.onnx").write_bytes(SWAP)
    (cli.models_dir / "enhancer.onnx").write_bytes(ENHANCER[:-1] + b"\0")
    assert cli("verify", "swap") == 0
    assert cli("verify") == 1
    out = capsys.readouterr().out
    assert "swap: verified" in out and "enhancer: bad" in out
    assert f"expected {len(ENHANCER):,} bytes, sha256 {sha256(ENHANCER)}" in out


def test_add_with_and_without_allow_unverified(cli, capsys, tmp_path):
    own = tmp_path / "swap.onnx"
    own.write_bytes(identity_model_bytes((1, 43)))  # a real ONNX model, not the manifest's

    assert cli("add", str(own)) == 1
    assert "--allow-unverified" in capsys.readouterr().err
    assert not (cli.models_dir / "swap.onnx").exists()

    assert cli("add", str(own), "--allow-unverified") == 0
    assert "swap: user-supplied, hash not verified" in capsys.readouterr().out

    assert cli("list") == 0
    assert "user-supplied, hash not verified" in capsys.readouterr().out
    assert cli("verify", "swap") == 0
    assert "user-supplied, hash not verified" in capsys.readouterr().out

    real = tmp_path / "downloads" / "enhancer-copy.bin"
    real.parent.mkdir()
    real.write_bytes(ENHANCER)
    assert cli("add", str(real)) == 2  # cannot tell which model it is
    assert cli("add", str(real), "--id", "enhancer") == 0
    assert "enhancer: verified" in capsys.readouterr().out


def test_models_needs_a_subcommand():
    parser = argparse.ArgumentParser()
    models_cli.register(parser.add_subparsers())
    with pytest.raises(SystemExit) as usage:
        parser.parse_args(["models"])
    assert usage.value.code == 2


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_and_on_a_pipe():
    clock = iter([0.0, 0.05, 0.5, 1.0, 2.0]).__next__
    tty = _Tty()
    bar = models_cli.TerminalProgress("swap", tty, clock=clock)
    for done in (0, 10, 500_000, 1_000_000):
        bar(done, 1_000_000)
    bar.close()
    frames = tty.getvalue().split("\r")[1:]
    assert len(frames) == 3  # the 0.05 s update was throttled
    assert frames[1].endswith("0.5/1.0 MB    1.0 MB/s  ETA 0:01")  # half done in 0.5 s
    assert frames[-1].startswith("swap  [############################] 100.0%  1.0/1.0 MB")
    assert tty.getvalue().endswith("\n")

    pipe = io.StringIO()
    bar = models_cli.TerminalProgress("swap", pipe, clock=lambda: 1.0)
    for done in range(0, 1_000_001, 10_000):
        bar(done, 1_000_000)
    assert len(pipe.getvalue().splitlines()) == 11  # one line per 10 %, not one per chunk


def test_register_builds_a_default_store(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MIRAGE_MODELS_DIR", str(tmp_path / "shipped"))
    parser = argparse.ArgumentParser()
    models_cli.register(parser.add_subparsers())
    args = parser.parse_args(["models", "list", "--json"])
    assert args.func(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert Path(payload["models_dir"]) == tmp_path / "shipped"
    assert {m["id"] for m in payload["models"]} >= {"inswapper_128", "det_10g", "codeformer"}


class SilentServer:
    """A real TCP server that accepts every connection and never sends a byte (a stuck mirror)."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}{path}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)  # held open, never answered

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self.accepted:
            conn.close()
        self._sock.close()


def test_a_mirror_that_never_answers_is_named_abandoned_once_and_the_next_one_used(tmp_path, capsys, server):
    silent = SilentServer()
    try:
        stuck = silent.url("/swap.onnx")
        good = server.add("/swap.onnx", SWAP)
        manifest = Manifest.from_dict({"models": [model_dict("swap", SWAP, [stuck, good])]})
        # Three attempts per mirror: a stall must still cost one timeout, not three.
        settings = DownloadSettings(timeout=0.5, attempts_per_mirror=3, retry_delay=0.2)

        def factory(**options) -> ModelStore:
            return ModelStore(tmp_path / "m", manifest, {}, settings=settings, **options)

        parser = argparse.ArgumentParser()
        models_cli.register(parser.add_subparsers(), store_factory=factory)
        args = parser.parse_args(["models", "download", "swap"])
        started = time.monotonic()
        assert args.func(args) == 0
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert f"swap: trying source 1 of 2: {stuck}" in lines
    assert f"swap: gave up on {stuck}: no answer within 0.5 s; trying the next one" in lines
    assert f"swap: trying source 2 of 2: {good}" in lines
    assert lines.index(f"swap: trying source 2 of 2: {good}") > lines.index(
        f"swap: trying source 1 of 2: {stuck}"
    )
    assert "swap: installed and verified" in captured.out
    assert (tmp_path / "m" / "swap.onnx").read_bytes() == SWAP
    assert len(silent.accepted) == 1
    assert elapsed < 1.4  # one 0.5 s timeout; retrying it would take at least 1.5 s + delays
