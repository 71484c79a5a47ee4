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


# --- parallel runs (`make test` runs `pytest -n 2 --dist loadgroup --no-loadscope-reorder`) -----------------
# Nothing here changes what a test checks; it only decides which pytest-xdist worker runs it, and when.


def _module_fixture_users(item) -> bool:
    """Whether ``item`` requests a module-scoped fixture (a fitted posterior, a compiled model...)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(defs[-1].scope == "module" for defs in info.name2fixturedefs.values() if defs)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which turns the marks into work units
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist only (serial runs keep the file order):

    1. the tests of one module that share a module-scoped fixture go to one worker (``xdist_group`` named
       after the module), so that the fixture is built once rather than once per worker;
    2. work units holding a ``slow`` test start first, so that a long test never starts last and leaves
       the other worker idle; the rest keep their order and fill in at the end.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    group_of = {}
    for item in items:
        if _module_fixture_users(item):
            group_of[item.nodeid] = f"module-fixture:{item.module.__name__}"
            item.add_marker(pytest.mark.xdist_group(group_of[item.nodeid]))
    slow_groups = {group_of[i.nodeid] for i in items if i.nodeid in group_of and i.get_closest_marker("slow")}

    def starts_late(item) -> bool:
        g = group_of.get(item.nodeid)
        return not (item.get_closest_marker("slow") or g in slow_groups)

    items.sort(key=starts_late)  # stable: file order within each class
