"""What the frozen bundle ships: no measurement-only code or libraries, OpenCV's headless build, and
an honest word when ONNX Runtime's NVIDIA provider libraries are not there."""

from __future__ import annotations

import ast
import re
import types
from pathlib import Path

import pytest

from mirage_desktop.runtime.providers import missing_provider_library

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "mirage_desktop"


def _spec_list(name: str) -> list[str]:
    text = (REPO / "mirage.spec").read_text()
    start = text.index(f"{name} = [")
    return re.findall(r'"([\w.]+)"', text[start : text.index("]", start)])


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_measurement_only_modules_are_excluded_and_unused_by_the_product():
    measurement = _spec_list("MEASUREMENT_ONLY")
    excludes = _spec_list("EXCLUDES")
    assert "mirage_desktop.voice.pitch_eval" in measurement
    for lib in ("parselmouth", "dlib", "face_recognition_models", "insightface", "onnx", "pytest"):
        assert lib in excludes, lib
    shipped = [p for p in PACKAGE.rglob("*.py") if "testmodels" not in p.parts]
    for path in shipped:
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        if module in measurement:
            continue
        used = _imports(path)
        # a shipped module importing a measurement one (or its library) would break the bundle
        bad = {u for u in used if u in measurement or u.split(".")[0] in {"parselmouth", "dlib"}}
        assert not bad, f"{module} imports {bad}"


def test_opencv_is_the_headless_build():
    deps = (REPO / "pyproject.toml").read_text()
    assert '"opencv-python-headless' in deps
    assert '"opencv-python>' not in deps and '"opencv-python"' not in deps
    cv2 = pytest.importorskip("cv2")
    # the GUI build carries Qt or GTK highgui; the headless build has none
    info = cv2.getBuildInformation()
    gui = re.search(r"GUI:\s*(\S+)", info)
    assert gui is None or gui.group(1).upper() in {"NONE", "NO"}, gui and gui.group(0)


@pytest.mark.parametrize(("present", "expect_reason"), [(True, False), (False, True)])
def test_missing_provider_library_is_named(tmp_path, present, expect_reason):
    capi = tmp_path / "onnxruntime" / "capi"
    capi.mkdir(parents=True)
    (capi / "libonnxruntime_providers_shared.so").write_bytes(b"\0")
    if present:
        (capi / "libonnxruntime_providers_cuda.so").write_bytes(b"\0")
    ort = types.SimpleNamespace(__file__=str(tmp_path / "onnxruntime" / "__init__.py"))
    why = missing_provider_library(ort, "CUDAExecutionProvider")
    assert (why is not None) == expect_reason
    if why:
        assert "CUDA" in why and "source install" in why
    assert missing_provider_library(ort, "CPUExecutionProvider") is None
