"""ModelStore.download against a real local HTTP server: resume, mirrors, hashes, archives, overrides."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from mirage_desktop.models import DownloadSettings, Manifest, ModelDownloadError, ModelStore
from mirage_desktop.models.sidecar import read_record
from tests.test_models_httpserver import model_dict, random_bytes, refused_url, running_server, sha256

FAST = DownloadSettings(timeout=5.0, attempts_per_mirror=3, retry_delay=0.0, chunk_size=16384)
SIZE = 200_000


@pytest.fixture
def server():
    with running_server() as running:
        yield running


def make_store(tmp_path: Path, models: list[dict], archives: dict | None = None, **options) -> ModelStore:
    manifest = Manifest.from_dict({"models": models, "archives": archives or {}})
    options.setdefault("environ", {})
    options.setdefault("settings", FAST)
    return ModelStore(tmp_path / "models", manifest, **options)


def test_download_verifies_installs_and_reports_progress(tmp_path, server):
    data = random_bytes(SIZE)
    store = make_store(tmp_path, [model_dict("swap", data, [server.add("/swap.onnx", data)])])
    seen: list[tuple[int, int]] = []

    path = store.download("swap", progress=lambda done, total: seen.append((done, total)))

    assert path == tmp_path / "models" / "swap.onnx"
    assert path.read_bytes() == data
    assert not (tmp_path / "models" / "swap.onnx.part").exists()
    assert seen[-1] == (SIZE, SIZE)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert read_record(path).sha256 == sha256(data)
    assert store.status("swap").state == "verified"
    # Already installed: no second request.
    store.download("swap")
    assert len(server.hits_for("/swap.onnx")) == 1


def test_cut_connection_resumes_with_a_range_request(tmp_path, server):
    data = random_bytes(SIZE, seed=2)
    url = server.add("/swap.onnx", data, cut_after=70_000, cuts=1)
    store = make_store(tmp_path, [model_dict("swap", data, [url])])

    path = store.download("swap")

    hits = server.hits_for("/swap.onnx")
    assert [(hit.status, hit.range) for hit in hits] == [(200, None), (206, "bytes=70000-")]
    assert sha256(path.read_bytes()) == sha256(data)


def test_part_is_kept_after_failure_and_the_next_call_resumes(tmp_path, server):
    data = random_bytes(SIZE, seed=3)
    # Every attempt of the first call is cut: the call fails but keeps what arrived.
    url = server.add("/swap.onnx", data, cut_after=50_000, cuts=3)
    store = make_store(tmp_path, [model_dict("swap", data, [url])])

    with pytest.raises(ModelDownloadError) as failed:
        store.download("swap")

    part = tmp_path / "models" / "swap.onnx.part"
    assert part.stat().st_size == 150_000  # three cut attempts, each resumed the previous one
    assert "connection closed early" in str(failed.value)
    assert "resumes from there" in str(failed.value)

    path = store.download("swap")  # the server is healthy now
    assert server.hits_for("/swap.onnx")[-1].range == "bytes=150000-"
    assert path.read_bytes() == data
    assert not part.exists()


def test_server_that_ignores_range_restarts_cleanly(tmp_path, server):
    data = random_bytes(SIZE, seed=4)
    url = server.add("/swap.onnx", data, ignore_range=True)
    store = make_store(tmp_path, [model_dict("swap", data, [url])])
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "swap.onnx.part").write_bytes(data[:60_000])

    path = store.download("swap")

    assert [(hit.status, hit.range) for hit in server.hits_for("/swap.onnx")] == [(200, "bytes=60000-")]
    assert path.read_bytes() == data  # not the old prefix followed by the whole file


def test_416_on_a_stale_part_starts_over(tmp_path, server):
    data = random_bytes(SIZE, seed=5)
    url = server.add("/swap.onnx", data)
    # No published size, so the downloader cannot tell the stale part is too long before asking.
    store = make_store(tmp_path, [model_dict("swap", data, [url], size=None)])
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "swap.onnx.part").write_bytes(random_bytes(SIZE + 1000, seed=99))

    path = store.download("swap")

    statuses = [hit.status for hit in server.hits_for("/swap.onnx")]
    assert statuses == [416, 200]
    assert path.read_bytes() == data


def test_wrong_hash_is_rejected_and_deleted(tmp_path, server):
    data = random_bytes(SIZE, seed=6)
    wrong = "0" * 64
    store = make_store(tmp_path, [model_dict("swap", data, [server.add("/swap.onnx", data)], sha=wrong)])

    with pytest.raises(ModelDownloadError) as failed:
        store.download("swap")

    message = str(failed.value)
    assert f"expected sha256 {wrong}, got {sha256(data)}" in message
    assert "deleted" in message
    assert not (tmp_path / "models" / "swap.onnx").exists()
    assert not (tmp_path / "models" / "swap.onnx.part").exists()


def test_mirrors_are_tried_in_order(tmp_path, server):
    data = random_bytes(SIZE, seed=7)
    missing = server.url("/gone/swap.onnx")  # 404
    refused = refused_url()
    good = server.add("/ok/swap.onnx", data)
    store = make_store(tmp_path, [model_dict("swap", data, [missing, refused, good])])

    path = store.download("swap")

    assert path.read_bytes() == data
    assert [hit.status for hit in server.hits_for("/gone/swap.onnx")] == [404]
    assert len(server.hits_for("/ok/swap.onnx")) == 1


def test_offline_error_lists_every_mirror_and_the_manual_way(tmp_path):
    first, second = refused_url("/a/swap.onnx"), refused_url("/b/swap.onnx")
    store = make_store(tmp_path, [model_dict("swap", b"x" * 10, [first, second])])

    with pytest.raises(ModelDownloadError) as failed:
        store.download("swap")

    message = str(failed.value)
    models_dir = tmp_path / "models"
    assert (
        f"Download swap.onnx from {first} and put it in {models_dir}, or run `mirage-cli models add PATH`."
        in message
    )
    assert f"{first}: connection refused" in message
    assert f"{second}: connection refused" in message
    assert [attempt.url for attempt in failed.value.attempts] == [first, second]


def test_a_stalled_server_times_out(tmp_path, server):
    data = random_bytes(1000)
    url = server.add("/slow.onnx", data, hang=1.5)
    settings = DownloadSettings(timeout=0.3, attempts_per_mirror=1, retry_delay=0.0)
    store = make_store(tmp_path, [model_dict("swap", data, [url])], settings=settings)

    with pytest.raises(ModelDownloadError, match=r"no answer within 0\.3 s"):
        store.download("swap")


def test_a_different_file_on_a_mirror_is_refused_before_writing(tmp_path, server):
    data = random_bytes(SIZE, seed=8)
    other = server.add("/other.onnx", random_bytes(SIZE + 5, seed=9))
    good = server.add("/swap.onnx", data)
    store = make_store(tmp_path, [model_dict("swap", data, [other, good])])

    store.download("swap")

    assert len(server.hits_for("/swap.onnx")) == 1
    assert (tmp_path / "models" / "swap.onnx").read_bytes() == data


def test_environment_url_overrides_come_first(tmp_path, server):
    data = random_bytes(SIZE, seed=10)
    mirror = server.add("/mirror/inswapper_128.onnx", data)
    override = server.add("/mine/inswapper_128.onnx", data)
    entry = model_dict("inswapper_128", data, [mirror])
    store = make_store(tmp_path, [entry], environ={"MIRAGE_INSWAPPER_URL": override})

    store.download("inswapper_128")

    assert len(server.hits_for("/mine/inswapper_128.onnx")) == 1
    assert server.hits_for("/mirror/inswapper_128.onnx") == []


def test_generic_override_and_a_bad_override_are_reported(tmp_path, server):
    data = random_bytes(1000, seed=11)
    entry = model_dict("gfpgan_1.4", data, [refused_url()])
    environ = {"MIRAGE_MODEL_URL_GFPGAN_1_4": "ftp://example.invalid/x.onnx"}
    store = make_store(tmp_path, [entry], environ=environ)

    with pytest.raises(ModelDownloadError) as failed:
        store.download("gfpgan_1.4")
    assert "MIRAGE_MODEL_URL_GFPGAN_1_4: not an http(s) URL" in str(failed.value)

    environ["MIRAGE_MODEL_URL_GFPGAN_1_4"] = server.add("/gfp.onnx", data)
    assert store.download("gfpgan_1.4").read_bytes() == data


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return buffer.getvalue()


def test_members_are_extracted_from_an_archive_and_the_archive_is_dropped(tmp_path, server):
    det, rec = random_bytes(40_000, seed=12), random_bytes(60_000, seed=13)
    pack = _zip({"det_10g.onnx": det, "w600k_r50.onnx": rec, "genderage.onnx": b"unused"})
    pack_url = server.add("/v0.7/buffalo_l.zip", pack)
    archives = {
        "buffalo_l": {"file": "buffalo_l.zip", "size": None, "sha256": None, "urls": [pack_url]},
    }
    models = [
        model_dict(
            "det_10g",
            det,
            [server.url("/hf/det_10g.onnx")],
            archive={"id": "buffalo_l", "member": "det_10g.onnx"},
        ),
        model_dict("w600k_r50", rec, [], archive={"id": "buffalo_l", "member": "w600k_r50.onnx"}),
    ]
    store = make_store(tmp_path, models, archives)
    archive_path = tmp_path / "models" / ".archives" / "buffalo_l.zip"

    assert store.download("det_10g").read_bytes() == det
    assert archive_path.exists()  # w600k_r50 still needs it
    assert store.download("w600k_r50").read_bytes() == rec

    assert len(server.hits_for("/v0.7/buffalo_l.zip")) == 1  # one zip download served both
    assert [hit.status for hit in server.hits_for("/hf/det_10g.onnx")] == [404]  # direct mirror first
    assert not archive_path.exists()
    assert store.status("det_10g").state == store.status("w600k_r50").state == "verified"
    assert sorted(p.name for p in (tmp_path / "models").iterdir() if p.suffix == ".onnx") == [
        "det_10g.onnx",
        "w600k_r50.onnx",
    ]


def test_archive_with_a_wrong_member_is_reported_and_discarded(tmp_path, server):
    det = random_bytes(40_000, seed=14)
    pack = _zip({"det_10g.onnx": random_bytes(40_000, seed=15)})  # same size, other bytes
    archives = {"pack": {"file": "pack.zip", "urls": [server.add("/pack.zip", pack)]}}
    models = [model_dict("det_10g", det, [], archive={"id": "pack", "member": "det_10g.onnx"})]
    store = make_store(tmp_path, models, archives)

    with pytest.raises(ModelDownloadError, match="wrong content: expected sha256") as failed:
        store.download("det_10g")

    assert "take det_10g.onnx out of pack.zip" in str(failed.value)
    assert not (tmp_path / "models" / "det_10g.onnx").exists()
    assert not (tmp_path / "models" / ".archives" / "pack.zip").exists()
