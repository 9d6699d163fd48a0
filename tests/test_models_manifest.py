"""The shipped manifest's content and the manifest parser's validation."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from mirage_desktop.models import Manifest, ManifestError
from mirage_desktop.models.sources import sources_for
from tests.test_models_httpserver import model_dict

EXPECTED_IDS = (
    "det_10g",
    "w600k_r50",
    "inswapper_128",
    "inswapper_128_fp16",
    "hyperswap_1a_256",
    "hyperswap_1b_256",
    "hyperswap_1c_256",
    "gfpgan_1.4",
    "codeformer",
    "gpen_bfr_256",
    "gpen_bfr_512",
    "contentvec_768_l12",
    "contentvec_256_l9",
    "rmvpe",
)


@pytest.fixture(scope="module")
def shipped() -> Manifest:
    return Manifest.shipped()


def test_shipped_manifest_lists_exactly_the_models(shipped):
    assert shipped.ids == EXPECTED_IDS
    assert {e.id for e in shipped.required()} == {"det_10g", "w600k_r50", "inswapper_128"}
    assert {e.feature for e in shipped} == {"face_swap", "face_enhancer", "voice_conversion"}


def test_known_sizes_and_hashes_are_the_published_ones(shipped):
    swapper = shipped.get("inswapper_128")
    assert (swapper.size, swapper.sha256) == (
        554_253_681,
        "e4a3f08c753cb72d04e10aa0f7dbe3deebbf39567d4ead6dce08e98aa49e16af",
    )
    half = shipped.get("inswapper_128_fp16")
    assert (half.size, half.sha256) == (
        277_680_638,
        "6d51a9278a1f650cffefc18ba53f38bf2769bf4bbff89267822cf72945f8a38b",
    )
    assert "Mirage issue tracker" in swapper.hash_source
    # hyperswap: no size published, so the sha256 (from public manifests) is what verifies it
    hyper = shipped.get("hyperswap_1a_256")
    assert (hyper.size, hyper.sha256) == (
        None,
        "c0e98a8a03a238f461ed3d2570e426b49f46745ee400854a60dceeb70c246add",
    )
    assert hyper.verification == "sha256"


def test_every_entry_says_where_its_numbers_came_from(shipped):
    for entry in shipped:
        assert entry.licence and entry.licence != "unknown", entry.id
        assert entry.urls or entry.archive, entry.id
        assert all(url.startswith("https://") for url in entry.urls), entry.id
        if entry.sha256 is None:
            assert entry.hash_source.startswith("unknown"), entry.id
        else:
            assert entry.hash_source and entry.hash_source != "unknown", entry.id


def test_buffalo_members_come_from_the_insightface_release(shipped):
    for model_id, member in (("det_10g", "det_10g.onnx"), ("w600k_r50", "w600k_r50.onnx")):
        entry = shipped.get(model_id)
        assert entry.archive is not None and entry.archive.member == member
        assert entry.archive.archive.urls == (
            "https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip",
        )
        # The official pack is the last resort after the direct mirrors.
        assert sources_for(entry, {})[-1].kind == "archive"


def test_facefusion_reexports_are_not_listed_as_swapper_mirrors(shipped):
    # FaceFusion's models-3.0.0 inswapper files have other sizes than the InsightFace originals.
    for model_id in ("inswapper_128", "inswapper_128_fp16"):
        assert not any("models-3.0.0" in url for url in shipped.get(model_id).urls)


def test_manifest_is_package_data():
    text = resources.files("mirage_desktop.models").joinpath("manifest.json").read_text(encoding="utf-8")
    assert json.loads(text)["models"]


def test_guess_id_from_file_names(shipped):
    assert shipped.guess_id("inswapper_128_fp16.onnx") == "inswapper_128_fp16"
    assert shipped.guess_id("/tmp/x/GFPGAN_1.4.ONNX") == "gfpgan_1.4"
    assert shipped.guess_id("codeformer.bin") == "codeformer"
    assert shipped.guess_id("model.onnx") is None


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"file": "../escape.onnx"}, "plain 'file' name"),
        ({"sha256": "abc"}, "invalid sha256"),
        ({"size": -1}, "invalid size"),
        ({"urls": ["file:///etc/passwd"]}, "http"),
        ({"urls": []}, "neither download URLs nor an archive"),
        ({"feature": "dance"}, "feature"),
        ({"archive": {"id": "nope", "member": "x"}}, "archive that the manifest does not define"),
        ({"id": "Bad Id"}, "invalid id"),
    ],
)
def test_malformed_entries_are_rejected(change, complaint):
    entry = {**model_dict("ok", b"data", ["https://example.org/ok.onnx"]), **change}
    with pytest.raises(ManifestError, match=complaint):
        Manifest.from_dict({"models": [entry]})


def test_duplicates_and_broken_json_are_rejected(tmp_path):
    entry = model_dict("ok", b"data", ["https://example.org/ok.onnx"])
    with pytest.raises(ManifestError, match="twice"):
        Manifest.from_dict({"models": [entry, entry]})
    broken = tmp_path / "m.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(ManifestError, match="not valid JSON"):
        Manifest.from_file(broken)
    with pytest.raises(ManifestError, match="Cannot read"):
        Manifest.from_file(tmp_path / "absent.json")
