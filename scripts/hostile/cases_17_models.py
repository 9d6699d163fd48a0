"""Issue 17's model cases: downloads without bounds (17.3) and model sidecars and lock files (17.2).

Each download case points the real ``mirage-cli models download`` at a misbehaving HTTP server on
127.0.0.1 through the model's MIRAGE_MODEL_URL_* override (tried first; the shipped mirrors then fail
at once: there is no network here). The bounds are shrunk through MIRAGE_DOWNLOAD_* so every case
takes seconds; disk use is bounded by the cap under test (at most det_10g's 16.9 MB).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from hostile.mirror import ONNX_START, body, cut, endless, mirror, ranged, redirect_to_itself, trickle
from hostile.plumbing import PYTHON, REPO, Env, Fixtures, Outcome, case, judge, run_cli, sha256
from mirage_desktop.runtime.probe_model import identity_model_bytes

DET_SIZE = 16_923_827  # det_10g.onnx in the shipped manifest (size and sha256 published)
UNKNOWN = "rmvpe"  # no size, no hash published: only the kind of file can be checked
HTML = b"<!DOCTYPE html>\n<html><head><title>Model moved</title></head><body>See our site.</body></html>\n"
FAST = {
    "MIRAGE_DOWNLOAD_STALL_S": "2",
    "MIRAGE_DOWNLOAD_TIMEOUT_S": "5",
    "MIRAGE_DOWNLOAD_RETRY_DELAY_S": "0",
}


def _override(model_id: str, url: str) -> dict[str, str]:
    return {**FAST, "MIRAGE_MODEL_URL_" + model_id.upper(): url}


def _parts(env: Env) -> list[Path]:
    return list(env.models.glob("*.part")) if env.models.is_dir() else []


def _installed(env: Env, name: str) -> Path | None:
    path = env.models / name
    return path if path.is_file() and not path.is_symlink() else None


# ---------------------------------------------------------------------------------------------- 17.3


@case("download: mirror sends bytes past det_10g's 16.9 MB", "17.3")
def _past_size(fx: Fixtures) -> Outcome:
    name = "download: mirror sends bytes past det_10g's 16.9 MB"
    env = Env(fx.root, "past-size")
    with mirror() as m:
        m.routes = [endless(m)]
        ran = run_cli(env, "models", "download", "det_10g", timeout=40, extra_env=_override("det_10g", m.url))
    ok = ran.rc == 1 and f"more than the {DET_SIZE:,} bytes" in ran.err and not _parts(env)
    return judge(name, "17.3", ran, ok, f"{ran.elapsed:.1f} s; .part left: {[p.name for p in _parts(env)]}")


@case("download: Content-Length 10 GB for det_10g", "17.3")
def _content_length(fx: Fixtures) -> Outcome:
    name = "download: Content-Length 10 GB for det_10g"
    env = Env(fx.root, "content-length")
    with mirror(body(b"", length=10 * 10**9)) as m:
        ran = run_cli(env, "models", "download", "det_10g", timeout=30, extra_env=_override("det_10g", m.url))
    ok = ran.rc == 1 and "a different file); not downloaded" in ran.err and not _parts(env)
    return judge(name, "17.3", ran, ok)


@case("download: Content-Length 10 GB for rmvpe (size unknown)", "17.3")
def _content_length_unknown(fx: Fixtures) -> Outcome:
    name = "download: Content-Length 10 GB for rmvpe (size unknown)"
    env = Env(fx.root, "content-length-unknown")
    with mirror(body(ONNX_START, length=10 * 10**9)) as m:
        ran = run_cli(env, "models", "download", UNKNOWN, timeout=30, extra_env=_override(UNKNOWN, m.url))
    ok = ran.rc == 1 and "more than the 2,147,483,648-byte limit" in ran.err and not _parts(env)
    return judge(name, "17.3", ran, ok, f"{m.hits} request(s)")


@case("download: unknown size, endless body, limit 1 MB", "17.3")
def _unknown_endless(fx: Fixtures) -> Outcome:
    name = "download: unknown size, endless body, limit 1 MB"
    env = Env(fx.root, "unknown-endless")
    with mirror() as m:
        m.routes = [endless(m)]
        extra = {**_override(UNKNOWN, m.url), "MIRAGE_DOWNLOAD_MAX_BYTES": "1000000"}
        ran = run_cli(env, "models", "download", UNKNOWN, timeout=40, extra_env=extra)
    ok = ran.rc == 1 and "more than the 1,000,000-byte limit" in ran.err and not _parts(env)
    return judge(name, "17.3", ran, ok, f"{ran.elapsed:.1f} s")


@case("download: mirror trickles a byte every 0.5 s", "17.3")
def _trickle(fx: Fixtures) -> Outcome:
    name = "download: mirror trickles a byte every 0.5 s"
    env = Env(fx.root, "trickle")
    with mirror() as m:
        m.routes = [trickle(m, DET_SIZE)]
        ran = run_cli(env, "models", "download", "det_10g", timeout=30, extra_env=_override("det_10g", m.url))
        hits = m.hits
    ok = ran.rc == 1 and "stalled" in ran.err and ran.elapsed < 15 and hits == 1
    return judge(name, "17.3", ran, ok, f"gave up after {ran.elapsed:.1f} s (stall 2 s); {hits} request(s)")


@case("download: HTML page for a model without a hash", "17.3")
def _html(fx: Fixtures) -> Outcome:
    name = "download: HTML page for a model without a hash"
    env = Env(fx.root, "html-page")
    with mirror(body(HTML, Content_Type="text/html")) as m:
        ran = run_cli(env, "models", "download", UNKNOWN, timeout=30, extra_env=_override(UNKNOWN, m.url))
    listed = run_cli(env, "models", "list", "--json", timeout=30)
    state = next(
        (m["state"] for m in json.loads(listed.out or "{}").get("models", []) if m["id"] == UNKNOWN), "?"
    )
    ok = ran.rc == 1 and "it is an HTML page, not an ONNX model" in ran.err and state == "missing"
    return judge(name, "17.3", ran, ok, f"state afterwards: {state}")


@case("download: redirect loop", "17.3")
def _redirect_loop(fx: Fixtures) -> Outcome:
    name = "download: redirect loop"
    env = Env(fx.root, "redirect-loop")
    with mirror(redirect_to_itself) as m:
        ran = run_cli(env, "models", "download", "det_10g", timeout=30, extra_env=_override("det_10g", m.url))
    ok = ran.rc == 1 and "redirects in a loop" in ran.err and "last 30x" not in ran.err
    return judge(name, "17.3", ran, ok)


@case("download: cut mid-body, resumed from another file", "17.3")
def _spliced(fx: Fixtures) -> Outcome:
    name = "download: cut mid-body, resumed from another file"
    env = Env(fx.root, "spliced")
    first = identity_model_bytes((1, 3000))
    second = first.replace(b"mirage", b"MIRAGE", 1)  # same size, differs from byte 4: a splice shows
    with mirror(cut(first, len(first) // 2, '"v1"'), ranged(second, '"v2"')) as m:
        ran = run_cli(env, "models", "download", UNKNOWN, timeout=30, extra_env=_override(UNKNOWN, m.url))
    got = _installed(env, f"{UNKNOWN}.onnx")
    whole = got is not None and got.read_bytes() == second
    return judge(
        name, "17.3", ran, ran.rc == 0 and whole, "installed the new file whole" if whole else "spliced"
    )


def _part_case(name: str, slug: str, make: Callable[[Path], None], expect: str) -> None:
    def fn(fx: Fixtures) -> Outcome:
        env = Env(fx.root, slug)
        env.models.mkdir(parents=True)
        part = env.models / f"{UNKNOWN}.onnx.part"
        make(part)
        model = identity_model_bytes((2, 2))
        with mirror(body(model)) as m:
            extra = {**_override(UNKNOWN, m.url), "MIRAGE_DOWNLOAD_MAX_BYTES": "100000"}
            ran = run_cli(env, "models", "download", UNKNOWN, timeout=30, extra_env=extra)
        got = _installed(env, f"{UNKNOWN}.onnx")
        ok = ran.rc == 0 and got is not None and got.read_bytes() == model and expect in ran.err
        return judge(name, "17.3", ran, ok, "installed a regular file" if got else "not installed")

    case(name, "17.3")(fn)


def _oversized(part: Path) -> None:
    with open(part, "wb") as fh:
        fh.truncate(200_000)


_part_case(".part left over, larger than the limit", "part-oversized", _oversized, "discarding")
_part_case(".part is a link to /dev/zero", "part-devzero", lambda p: p.symlink_to("/dev/zero"), "removing")
_part_case(".part is a FIFO", "part-fifo", os.mkfifo, "removing")


def _add_refused(name: str, slug: str, make: Callable[[Path], Path], expect: str) -> None:
    def fn(fx: Fixtures) -> Outcome:
        env = Env(fx.root, slug)
        src = make(env.work)
        ran = run_cli(env, "models", "add", str(src), "--id", UNKNOWN, "--allow-unverified", timeout=20)
        ok = ran.rc == 2 and expect in ran.err and _installed(env, f"{UNKNOWN}.onnx") is None
        return judge(name, "17.3", ran, ok)

    case(name, "17.3")(fn)


def _write(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        (folder / name).write_bytes(data)
        return folder / name

    return make


def _fifo(folder: Path) -> Path:
    os.mkfifo(folder / "model.onnx")
    return folder / "model.onnx"


_add_refused("models add: an HTML page saved as .onnx", "add-html", _write("m.onnx", HTML), "an HTML page")
_add_refused("models add: an empty file", "add-empty", _write("m.onnx", b""), "it is empty")
_add_refused("models add: a FIFO", "add-fifo", _fifo, "is a named pipe (FIFO)")

HOLD = """
import fcntl, json, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, sys.argv[2].encode())
print("locked", flush=True)
time.sleep(float(sys.argv[3]))
"""


def _hold(lock: Path, record: dict, seconds: float) -> subprocess.Popen:
    lock.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [str(PYTHON), "-c", HOLD, str(lock), json.dumps(record), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    proc.stdout.readline()
    return proc


@case("models add waits for another process's lock, says who", "17.3")
def _add_waits(fx: Fixtures) -> Outcome:
    name = "models add waits for another process's lock, says who"
    env = Env(fx.root, "add-waits")
    lock = env.models / ".locks" / "det_10g.onnx.lock"
    holder = _hold(lock, {}, 8.0)  # longer than the CLI takes to start
    try:
        from mirage_desktop.models.lockowner import process_start

        record = {"pid": holder.pid, "command": "mirage-cli models download det_10g", "since": time.time()}
        record["started"] = process_start(holder.pid)
        lock.write_text(json.dumps(record))
        ran = run_cli(
            env, "models", "add", str(fx.models_ok / "det_10g.onnx"), "--allow-unverified", timeout=20
        )
    finally:
        holder.kill()
        holder.wait()
    said = f"Waiting for process {holder.pid} (mirage-cli models download det_10g, since" in ran.err
    return judge(name, "17.3", ran, ran.rc == 0 and said, f"{ran.elapsed:.1f} s (lock held 8 s)")


@case("models add: lock held, recorded owner long dead", "17.3")
def _add_stale(fx: Fixtures) -> Outcome:
    name = "models add: lock held, recorded owner long dead"
    env = Env(fx.root, "add-stale")
    gone = subprocess.Popen(["true"])
    gone.wait()
    holder = _hold(env.models / ".locks" / "det_10g.onnx.lock", {"pid": gone.pid, "command": "mirage"}, 60)
    try:
        ran = run_cli(
            env, "models", "add", str(fx.models_ok / "det_10g.onnx"), "--allow-unverified", timeout=20
        )
    finally:
        holder.kill()
        holder.wait()
    ok = ran.rc == 0 and "Taking over the lock on det_10g.onnx" in ran.err and ran.elapsed < 10
    return judge(name, "17.3", ran, ok, f"{ran.elapsed:.1f} s")


def _full_disk() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


@case("download into a full disk (200 kB file-size limit)", "17.3")
def _disk_full(fx: Fixtures) -> Outcome:
    name = "download into a full disk (200 kB file-size limit)"
    env = Env(fx.root, "disk-full")
    with mirror() as m:
        m.routes = [endless(m)]
        ran = run_cli(
            env,
            "models",
            "download",
            "det_10g",
            timeout=30,
            extra_env=_override("det_10g", m.url),
            preexec=_full_disk,
        )
    ok = ran.rc == 1 and "the disk is full" in ran.err and "Free some space" in ran.err
    return judge(name, "17.3", ran, ok)


# ---------------------------------------------------------------------------------------------- 17.2


def _private_standin(fx: Fixtures, env: Env) -> Path:
    """det_10g's stand-in and its record, copied: the shared fixture folder stays untouched."""
    env.models.mkdir(parents=True, exist_ok=True)
    model = env.models / "det_10g.onnx"
    shutil.copy2(fx.models_ok / "det_10g.onnx", model)
    return model


def _sidecar_case(name: str, slug: str, damage: Callable[[Path], None], command: str = "list") -> None:
    def fn(fx: Fixtures) -> Outcome:
        env = Env(fx.root, slug)
        model = _private_standin(fx, env)
        before = sha256(model)
        damage(model.with_name(model.name + ".verified.json"))
        ran = run_cli(env, "models", command, timeout=20)
        kept = sha256(model) == before
        set_aside = bool(list(env.models.glob("det_10g.onnx.verified.json.corrupt-*")))
        ok = ran.rc in (0, 1) and "verification record" in ran.err and set_aside and kept
        lost = [] if kept else ["MODEL FILE CHANGED"]
        return judge(name, "17.2", ran, ok, "record set aside" if set_aside else "record not set aside", lost)

    case(name, "17.2")(fn)


def _text(text: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(text)


def _sparse(path: Path) -> None:
    with open(path, "wb") as fh:
        fh.truncate(1 << 30)  # 1 GiB, sparse: no disk used


_sidecar_case("models list: sidecar is null", "sidecar-null", _text("null"))
_sidecar_case("models list: sidecar is a list", "sidecar-list", _text("[1, 2, 3]"))
_sidecar_case("models list: sidecar has wrong types", "sidecar-types", _text('{"size": "big", "sha256": 5}'))
_sidecar_case("models list: sidecar nested 100k deep", "sidecar-nested", _text("[" * 100_000))
_sidecar_case("models list: sidecar is a FIFO", "sidecar-fifo", os.mkfifo)
_sidecar_case(
    "models list: sidecar links to /dev/zero", "sidecar-devzero", lambda p: p.symlink_to("/dev/zero")
)
_sidecar_case("models verify: sidecar is 1 GiB", "sidecar-huge", _sparse, command="verify")


def _lock_case(name: str, slug: str, damage: Callable[[Path], None]) -> None:
    def fn(fx: Fixtures) -> Outcome:
        env = Env(fx.root, slug)
        lock = env.models / ".locks" / "det_10g.onnx.lock"
        lock.parent.mkdir(parents=True)
        damage(lock)
        ran = run_cli(
            env, "models", "add", str(fx.models_ok / "det_10g.onnx"), "--allow-unverified", timeout=20
        )
        ok = ran.rc == 0 and "set it aside" in ran.err and _installed(env, "det_10g.onnx") is not None
        return judge(name, "17.2", ran, ok)

    case(name, "17.2")(fn)


_lock_case("models add: lock file is a folder", "lock-folder", lambda p: p.mkdir())
_lock_case("models add: lock file links to /dev/zero", "lock-devzero", lambda p: p.symlink_to("/dev/zero"))
_lock_case("models add: lock file is a FIFO", "lock-fifo", os.mkfifo)


@case("download into an unwritable models folder (/sys)", "17.3")
def _unwritable(fx: Fixtures) -> Outcome:
    # Root may write anywhere on a normal disk, so the folder is one the kernel refuses to anyone.
    name = "download into an unwritable models folder (/sys)"
    env = Env(fx.root, "unwritable", models=Path("/sys/mirage-models-hostile"))
    with mirror(body(ONNX_START)) as m:
        ran = run_cli(env, "models", "download", UNKNOWN, timeout=30, extra_env=_override(UNKNOWN, m.url))
        hits = m.hits
    ok = ran.rc == 1 and "permission denied" in ran.err and "MIRAGE_MODELS_DIR" in ran.err and hits == 0
    return judge(name, "17.3", ran, ok, f"{hits} request(s) before the folder was checked")
