"""Downloads without bounds (issue 17.3): size caps, stalls, file kinds, redirect loops, resumes.

Against a real HTTP server on 127.0.0.1 whose handlers misbehave (tests/hostile_http.py). Every
timeout is shrunk through DownloadSettings, so the whole file runs in seconds.
"""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from mirage_desktop.models import (
    DownloadSettings,
    Manifest,
    ModelDownloadError,
    ModelStorageError,
    ModelStore,
)
from mirage_desktop.models.errors import ModelInputError, ModelKindError
from mirage_desktop.models.limits import STALL_MIN_BYTES, STALL_TIMEOUT_S, UNKNOWN_SIZE_LIMIT
from mirage_desktop.runtime.probe_model import identity_model_bytes
from tests.hostile_http import BIG, FAST, HTML, ONNX, hostile, store_for, timed
from tests.test_models_httpserver import model_dict


@pytest.fixture
def server():
    with hostile() as running:
        yield running


# ---------------------------------------------------------------------------------------------- size caps


def test_bytes_past_the_expected_size_stop_the_source_and_the_next_one_is_used(tmp_path, server):
    endless = server.add("/endless/m.onnx", server.endless())
    good = server.add("/good/m.onnx", server.body(BIG))
    told: list[str] = []
    store = store_for(tmp_path, model_dict("m", BIG, [endless, good]), on_mirror=told.append)

    path, elapsed = timed(lambda: store.download("m"))

    assert path == tmp_path / "models" / "m.onnx" and path.read_bytes() == BIG
    assert elapsed < 5
    gave_up = next(line for line in told if "gave up on" in line and "/endless/" in line)
    assert f"more than the {len(BIG):,} bytes this file can have" in gave_up
    assert server.count("/endless/m.onnx") == 1  # not retried: more bytes will not make it right


def test_an_endless_body_for_a_model_of_unknown_size_stops_at_the_stated_limit(tmp_path, server):
    settings = DownloadSettings(**{**_fields(FAST), "unknown_size_limit": 300_000})
    url = server.add("/m.onnx", server.endless())
    store = store_for(tmp_path, model_dict("m", None, [url]), settings=settings)

    failed, elapsed = timed(lambda: store.download("m"))

    assert isinstance(failed, ModelDownloadError) and elapsed < 5
    assert "more than the 300,000-byte limit for a model whose size is not published" in str(failed)
    assert not (tmp_path / "models" / "m.onnx.part").exists()  # discarded, not kept for a resume
    assert UNKNOWN_SIZE_LIMIT == 2 * 1024**3  # the product's stated limit


def test_a_content_length_over_the_expected_size_is_refused_before_any_byte_is_written(tmp_path, server):
    url = server.add("/m.onnx", server.body(b"", length=len(BIG) + 1))
    unknown = server.add("/u.onnx", server.body(b"", length=50 * 1024**3))
    store = store_for(tmp_path, model_dict("m", BIG, [url]), model_dict("u", None, [unknown]))

    with pytest.raises(ModelDownloadError, match="a different file"):
        store.download("m")
    with pytest.raises(ModelDownloadError, match="53,687,091,200 bytes, more than the"):
        store.download("u")
    assert not list((tmp_path / "models").glob("*.part"))


def test_a_part_file_bigger_than_the_model_is_discarded_with_a_word(tmp_path, server):
    url = server.add("/m.onnx", server.body(BIG))
    told: list[str] = []
    store = store_for(tmp_path, model_dict("m", BIG, [url]), on_mirror=told.append)
    store.models_dir.mkdir(parents=True)
    (store.models_dir / "m.onnx.part").write_bytes(BIG + b"left over from another file")

    assert store.download("m").read_bytes() == BIG
    assert any("discarding" in line and "not the start of it" in line for line in told)
    assert server.hits == [("/m.onnx", None)]  # no Range from the oversized part


@pytest.mark.parametrize("kind", ["symlink to /dev/zero", "fifo", "folder"])
def test_a_part_that_is_not_a_regular_file(tmp_path, server, kind):
    url = server.add("/m.onnx", server.body(BIG))
    told: list[str] = []
    store = store_for(tmp_path, model_dict("m", BIG, [url]), on_mirror=told.append)
    store.models_dir.mkdir(parents=True)
    part = store.models_dir / "m.onnx.part"
    if kind == "fifo":
        os.mkfifo(part)
    elif kind == "folder":
        part.mkdir()
    else:
        part.symlink_to("/dev/zero")

    result, elapsed = timed(lambda: store.download("m"))

    assert elapsed < 5
    if kind == "folder":
        assert isinstance(result, ModelStorageError) and "is a folder" in str(result)
        assert part.is_dir()
    else:
        assert result.read_bytes() == BIG and not result.is_symlink()
        assert any(f"removing {part}" in line for line in told)


# ---------------------------------------------------------------------------------------------- stalls


def test_a_trickling_mirror_is_given_up_after_the_stall_timeout(tmp_path, server):
    slow = server.add("/slow/m.onnx", server.trickle(len(BIG), every=0.05))
    good = server.add("/good/m.onnx", server.body(BIG))
    told: list[str] = []
    store = store_for(tmp_path, model_dict("m", BIG, [slow, good]), on_mirror=told.append)

    path, elapsed = timed(lambda: store.download("m"))

    assert path.read_bytes() == BIG
    assert FAST.stall_timeout <= elapsed < FAST.stall_timeout + 2.5
    line = next(line for line in told if "gave up on" in line and "/slow/" in line)
    assert "stalled" in line and "less than 4,096 bytes in 0.8 s" in line
    assert server.count("/slow/m.onnx") == 1  # a stall is not retried on the same mirror
    assert (STALL_TIMEOUT_S, STALL_MIN_BYTES) == (30.0, 64 * 1024)  # the product's defaults


def test_silence_after_the_headers_is_a_stall_too(tmp_path, server):
    url = server.add("/m.onnx", server.silent(len(BIG)))
    store = store_for(tmp_path, model_dict("m", BIG, [url]))

    failed, elapsed = timed(lambda: store.download("m"))

    assert isinstance(failed, ModelDownloadError) and elapsed < 3
    assert "no answer within 0.8 s after 0 bytes" in str(failed)
    assert server.count("/m.onnx") == 1


# ---------------------------------------------------------------------------------------------- kinds


def test_an_html_page_for_a_model_without_a_hash_is_refused_and_the_next_mirror_used(tmp_path, server):
    page = server.add("/page/m.onnx", server.body(HTML * 20, Content_Type="text/html"))
    good = server.add("/good/m.onnx", server.body(ONNX))
    told: list[str] = []
    store = store_for(tmp_path, model_dict("m", None, [page, good]), on_mirror=told.append)

    path = store.download("m")

    assert path.read_bytes() == ONNX and store.status("m").state == "unverifiable"
    assert any("it is an HTML page, not an ONNX model" in line for line in told)


def test_a_short_html_page_alone_leaves_nothing_installed(tmp_path, server):
    page = server.add("/m.onnx", server.body(HTML))  # 0.1 kB: shorter than the sniffed head
    store = store_for(tmp_path, model_dict("m", None, [page]))

    with pytest.raises(ModelDownloadError, match="it is an HTML page, not an ONNX model"):
        store.download("m")
    assert store.status("m").state == "missing"
    assert not list(store.models_dir.iterdir()) or not (store.models_dir / "m.onnx").exists()


def test_a_hash_mismatch_names_what_the_server_sent(tmp_path, server):
    page = server.add("/m.onnx", server.body(HTML))
    store = store_for(tmp_path, model_dict("m", BIG, [page], size=None))

    with pytest.raises(ModelDownloadError, match=r"wrong content: expected sha256 .*\(it is an HTML page\)"):
        store.download("m")


def test_a_file_of_the_wrong_kind_already_in_the_folder_is_bad(tmp_path):
    store = store_for(tmp_path, model_dict("m", None, ["https://example.invalid/m.onnx"]))
    store.models_dir.mkdir(parents=True)
    (store.models_dir / "m.onnx").write_bytes(HTML)

    status = store.status("m")

    assert status.state == "bad" and "it is an HTML page, not an ONNX model" in status.message


def _voice_entries() -> list[dict]:
    voice = model_dict("voice", None, ["https://example.invalid/v.pth"], file="voice.pth")
    index = model_dict("feats", None, ["https://example.invalid/f.index"], file="feats.index")
    for entry in (voice, index):
        entry["feature"] = "voice_conversion"
    return [voice, index]


def test_models_add_checks_the_kind_of_a_users_file(tmp_path):
    torch = pytest.importorskip("torch")
    faiss = pytest.importorskip("faiss")
    import numpy as np

    store = store_for(tmp_path, model_dict("m", None, ["https://example.invalid/m.onnx"]), *_voice_entries())
    files = tmp_path / "downloads"
    files.mkdir()
    checkpoint = io.BytesIO()
    torch.save({"weight": torch.zeros(3)}, checkpoint)
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("readme.txt", "not a checkpoint")
    index = faiss.IndexFlatL2(8)
    index.add(np.zeros((4, 8), dtype="float32"))
    cases = {
        ("page.onnx", "m"): (HTML, "it is an HTML page, not an ONNX model"),
        ("empty.onnx", "m"): (b"", "it is empty, not an ONNX model"),
        ("cut.onnx", "m"): (ONNX[:-3], "an ONNX model cut short"),
        ("voice.pth", "voice"): (plain_zip.getvalue(), "a zip without a PyTorch checkpoint"),
        ("page.pth", "voice"): (HTML, "it is an HTML page, not a PyTorch checkpoint"),
        ("page.index", "feats"): (HTML, "it is an HTML page, not a faiss index"),
    }
    for (name, model_id), (data, expected) in cases.items():
        (files / name).write_bytes(data)
        with pytest.raises(ModelKindError, match=expected):
            store.add(files / name, model_id, allow_unverified=True)
    assert not store.models_dir.exists() or not [p for p in store.models_dir.iterdir() if p.is_file()]

    (files / "good.onnx").write_bytes(ONNX)
    (files / "good.pth").write_bytes(checkpoint.getvalue())
    (files / "good.index").write_bytes(bytes(faiss.serialize_index(index)))
    assert store.add(files / "good.onnx", "m").name == "m.onnx"
    assert store.add(files / "good.pth", "voice").name == "voice.pth"
    assert store.add(files / "good.index", "feats").name == "feats.index"
    assert {store.status(i).state for i in ("m", "voice", "feats")} == {"unverifiable"}


def test_models_add_of_a_fifo_or_a_folder_says_what_it_is(tmp_path):
    store = store_for(tmp_path, model_dict("m", None, ["https://example.invalid/m.onnx"]))
    fifo = tmp_path / "m.onnx"
    os.mkfifo(fifo)
    with pytest.raises(ModelInputError, match=r"is a named pipe \(FIFO\), not a regular file"):
        store.add(fifo, "m")
    with pytest.raises(ModelInputError, match="is a folder"):
        store.add(tmp_path, "m")


# ---------------------------------------------------------------------------------------------- redirects


def test_redirect_loops_and_redirects_off_http_are_refused(tmp_path, server):
    loop = server.add("/loop/m.onnx", server.redirect("/loop/m.onnx"))
    ftp = server.add("/ftp/m.onnx", server.redirect("ftp://127.0.0.1/m.onnx"))
    store = store_for(tmp_path, model_dict("m", BIG, [loop, ftp]))

    failed, elapsed = timed(lambda: store.download("m"))

    assert isinstance(failed, ModelDownloadError) and elapsed < 5
    lines = str(failed).splitlines()
    assert any("/loop/" in line and "redirects in a loop" in line for line in lines)
    assert any("/ftp/" in line and "redirects to a non-HTTP address" in line for line in lines)
    assert server.count("/loop/m.onnx") <= 6


# ---------------------------------------------------------------------------------------------- resumes


def test_a_resume_that_sends_another_file_starts_again_instead_of_splicing(tmp_path, server):
    first = identity_model_bytes((1, 2000))
    second = first.replace(b"mirage", b"MIRAGE", 1)  # same size, differs from byte 4: a splice shows
    assert first[: len(first) // 2] != second[: len(first) // 2]
    url = server.add(
        "/m.onnx",
        server.cut(first, after=len(first) // 2, etag='"v1"'),
        server.resume(second, etag='"v2"'),  # 206 from the middle of a different file
    )
    store = store_for(tmp_path, model_dict("m", first, [url], sha=None))

    path = store.download("m")

    assert path.read_bytes() == second  # whole, never half of one and half of the other
    ranges = [rng for _, rng in server.hits]
    assert ranges == [None, f"bytes={len(first) // 2}-", None]


def test_a_resume_answered_with_200_restarts_from_zero(tmp_path, server):
    url = server.add("/m.onnx", server.cut(BIG, after=50_000, etag='"a"'), server.body(BIG))
    store = store_for(tmp_path, model_dict("m", BIG, [url]))

    assert store.download("m").read_bytes() == BIG


# ---------------------------------------------------------------------------------------------- settings


def test_settings_from_the_environment_ignore_bad_values(caplog):
    env = {
        "MIRAGE_DOWNLOAD_STALL_S": "1.5",
        "MIRAGE_DOWNLOAD_TIMEOUT_S": "nan",
        "MIRAGE_DOWNLOAD_MAX_BYTES": "-4",
        "MIRAGE_DOWNLOAD_RETRY_DELAY_S": "0",
    }
    settings = DownloadSettings.from_env(env)
    assert (settings.stall_timeout, settings.timeout, settings.unknown_size_limit, settings.retry_delay) == (
        1.5,
        DownloadSettings().timeout,
        UNKNOWN_SIZE_LIMIT,
        0.0,
    )
    assert "MIRAGE_DOWNLOAD_TIMEOUT_S" in caplog.text and "MIRAGE_DOWNLOAD_MAX_BYTES" in caplog.text


def _fields(settings: DownloadSettings) -> dict:
    return {name: getattr(settings, name) for name in DownloadSettings.__slots__}


def test_an_archive_of_unknown_size_is_checked_and_a_fifo_in_its_place_does_not_hang(tmp_path, server):
    pack = io.BytesIO()
    with zipfile.ZipFile(pack, "w") as archive:
        archive.writestr("det.onnx", BIG)
    page = server.add("/page/pack.zip", server.body(HTML * 10))
    good = server.add("/good/pack.zip", server.body(pack.getvalue()))
    archives = {"pack": {"file": "pack.zip", "size": None, "sha256": None, "urls": [page, good]}}
    entry = model_dict("det", BIG, [], archive={"id": "pack", "member": "det.onnx"})
    manifest = Manifest.from_dict({"models": [entry], "archives": archives})
    told: list[str] = []
    store = ModelStore(tmp_path / "models", manifest, {}, settings=FAST, on_mirror=told.append)
    (store.models_dir / ".archives").mkdir(parents=True)
    os.mkfifo(store.models_dir / ".archives" / "pack.zip")

    path, elapsed = timed(lambda: store.download("det"))

    assert elapsed < 5 and path.read_bytes() == BIG
    assert any("/page/" in line and "it is an HTML page, not a zip archive" in line for line in told)
