"""Many per-site calibrations on a Dask LocalCluster: one atomic result per site, site list, resume."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

from bayeslsm.distributed import TwinSites, run_sites, site_result_path  # noqa: E402
from bayeslsm.infer import load  # noqa: E402

# the worker processes cannot import this test module: ship its classes and functions by value
import cloudpickle  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])

N_SITES = 30
# tiny: 60 days of VSEM, one free parameter, one chain of 20 + 10 NUTS iterations
FIT = {"chains": 1, "warmup": 20, "draws": 10, "seed": 0, "prior_draws": 0, "daily": False, "predictive_batch": 10}


class Recording:
    """A builder that records which sites it built, one marker file per build (workers are processes)."""

    def __init__(self, inner, folder):
        self.inner, self.folder = inner, Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, site):
        (self.folder / f"{site}.{uuid.uuid4().hex}").touch()
        return self.inner(site)

    @property
    def built(self):
        return [p.name.split(".")[0] for p in self.folder.iterdir()]


@pytest.fixture(scope="module")
def thirty(tmp_path_factory):
    out = tmp_path_factory.mktemp("sites")
    build = Recording(TwinSites(n=N_SITES, model="vsem", free=("LUE",), days=60, seed=1), out / "built-first")
    lines = []
    res = run_sites(build, build.inner.site_ids, out / "run", fit=FIT, n_workers=2, progress=lines.append)
    return out, build, res, lines


@pytest.mark.slow
def test_thirty_sites_on_a_local_cluster(thirty):
    out, build, res, lines = thirty
    out = out / "run"
    assert sorted(build.built) == sorted(build.inner.site_ids)  # each site built exactly once
    assert all(r.state == "done" and not r.skipped for r in res.values())
    listed = json.loads((out / "sites.json").read_text())
    assert listed["counts"] == {"done": N_SITES, "failed": 0, "pending": 0}
    assert len([ln for ln in lines if " done in " in ln]) == N_SITES  # one progress line per site
    assert not list(out.rglob("*.tmp"))
    # each file is that site's own calibration: its forcing, and a LUE posterior inside the prior support
    for s in ("syn0000", "syn0017"):
        idata = load(site_result_path(out, s))
        assert [str(x) for x in idata.posterior["site"].values] == [s]
        assert idata.posterior["LUE"].shape == (1, FIT["draws"])
    a, b = (load(site_result_path(out, s)).constant_data["par"].values for s in ("syn0000", "syn0001"))
    assert not np.allclose(a, b)


@pytest.mark.slow
def test_resume_runs_only_the_missing_sites(thirty):
    out, build, _, _ = thirty
    out = out / "run"
    missing = ["syn0003", "syn0020"]
    before = {s: load(site_result_path(out, s)).posterior["LUE"].values for s in missing}
    mtimes = {s: site_result_path(out, s).stat().st_mtime_ns for s in build.inner.site_ids if s not in missing}
    for s in missing:
        site_result_path(out, s).unlink()
    again = Recording(build.inner, out.parent / "built-resume")
    res = run_sites(again, build.inner.site_ids, out, fit=FIT, n_workers=2, progress=False)
    assert sorted(again.built) == missing
    assert [s for s, r in res.items() if not r.skipped] == missing
    assert all(site_result_path(out, s).stat().st_mtime_ns == t for s, t in mtimes.items())
    # same seed, same data: the recomputed sites equal the lost results exactly
    for s in missing:
        np.testing.assert_array_equal(load(site_result_path(out, s)).posterior["LUE"].values, before[s])


def test_a_failing_site_is_recorded_and_the_others_finish(tmp_path):
    inner = TwinSites(n=3, model="vsem", free=("LUE",), days=30, seed=2)

    def build(site):
        if site == "syn0001":
            raise RuntimeError("no data for this site")
        return inner(site)

    res = run_sites(build, inner.site_ids, tmp_path, fit=FIT, n_workers=1, processes=False, progress=False)
    assert res["syn0001"].state == "failed" and "no data for this site" in res["syn0001"].error
    assert res["syn0000"].state == res["syn0002"].state == "done"
    listed = json.loads((tmp_path / "sites.json").read_text())
    assert listed["counts"] == {"done": 2, "failed": 1, "pending": 0}


def test_bad_site_lists_are_named_errors(tmp_path):
    with pytest.raises(ValueError, match="more than once"):
        run_sites(TwinSites(n=2), ["a", "a"], tmp_path)
    with pytest.raises(ValueError, match="same result file"):
        run_sites(TwinSites(n=2), ["a b", "a_b"], tmp_path)
    with pytest.raises(ValueError, match="method"):
        run_sites(TwinSites(n=2), ["a"], tmp_path, method="mcmc")
