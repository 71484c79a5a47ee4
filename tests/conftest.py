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



# --- parallel runs (`make test`: `pytest -n 2 --dist loadfile --no-loadscope-reorder`) ----------------------
# `--dist loadfile` sends each test module to one pytest-xdist worker as a whole, so a module-scoped fixture
# (a fitted posterior, a compiled model) is built once, not once per worker.  (`--dist loadgroup` with
# `xdist_group` marks would allow finer units, but pytest-xdist 3.8 renames `item._nodeid`, which pytest 9.2
# no longer reads, so its groups are silently ignored.)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist only (a serial run keeps the file order): modules with more ``slow`` tests start
    first, so that a long module never starts last and leaves the other worker idle; modules without slow
    tests keep their order and fill in at the end.  Tests keep their order within a module, and nothing
    here changes what a test checks."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    n_slow: dict[str, int] = {}
    for item in items:
        mod = item.nodeid.split("::")[0]
        n_slow[mod] = n_slow.get(mod, 0) + (item.get_closest_marker("slow") is not None)
    items.sort(key=lambda item: -n_slow[item.nodeid.split("::")[0]])  # stable
