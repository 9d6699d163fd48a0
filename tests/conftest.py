"""Shared fixtures: real test media from ../shared/testdata and an isolated user environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import mirage_desktop  # noqa: F401  (first: it switches ONNX Runtime's telemetry off before any test loads ORT)

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTDATA = REPO_ROOT.parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def testdata() -> Path:
    if not TESTDATA.is_dir():
        pytest.fail(f"test media not found at {TESTDATA} (the repo must sit beside ../shared)")
    return TESTDATA


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Point every per-user directory at a temp folder so tests never touch the real home."""
    base = tmp_path_factory.mktemp("userdirs")
    for var, sub in (
        ("MIRAGE_CONFIG_DIR", "config"),
        ("MIRAGE_DATA_DIR", "data"),
        ("MIRAGE_MODELS_DIR", "models"),
        ("MIRAGE_LOG_DIR", "logs"),
        ("MIRAGE_CACHE_DIR", "cache"),
    ):
        monkeypatch.setenv(var, str(base / sub))
    for var in ("MIRAGE_PROC_MAX_DIM", "MIRAGE_MAX_FACES", "MIRAGE_DEBUG_OVERLAY", "MIRAGE_VIDEO_MAX_FPS"):
        monkeypatch.delenv(var, raising=False)
    return base
