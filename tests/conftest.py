"""Shared test configuration: CPU, float64, fixed seeds, paths to ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import bayeslsm  # noqa: F401  (sets XLA flags and float64 before jax is used)

REPO = Path(__file__).resolve().parents[1]


def _shared_dir() -> Path | None:
    env = os.environ.get("BAYESLSM_SHARED_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared")
    for c in candidates:
        if c.is_dir():
            return c
    return None


SHARED = _shared_dir()
REFERENCE = SHARED / "reference" if SHARED is not None else None
DATA = Path(os.environ["BAYESLSM_DATA_DIR"]) if os.environ.get("BAYESLSM_DATA_DIR") else (
    SHARED / "data" if SHARED is not None else None
)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if REFERENCE is None or not REFERENCE.is_dir():
        pytest.skip("../shared/reference not found (set BAYESLSM_SHARED_DIR)")
    return REFERENCE


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if DATA is None or not DATA.is_dir():
        pytest.skip("../shared/data not found (set BAYESLSM_DATA_DIR)")
    return DATA
