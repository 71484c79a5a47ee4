"""Many per-site calibrations on a Dask LocalCluster: one atomic result per site, site list, resume."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

# the worker processes cannot import this test module: ship its classes and functions by value
import cloudpickle

from bayeslsm.distributed import TwinSites, run_sites, site_result_path
from bayeslsm.infer import load

cloudpickle.register_pickle_by_value(sys.modules[__name__])


# Twelve sites on two workers: each worker still fits several sites in turn (its compilation cache is
# reused), one site fails, and the resume recomputes two lost sites and the failed one among ten kept
# ones: everything the tests below check holds for any count above a handful (30 sites cost 83 s of
# set-up in a contended serial run).
N_SITES = 12
# tiny: 60 days of VSEM, one free parameter, one chain of 20 + 10 NUTS iterations
FIT = {"chains": 1, "warmup": 20, "draws": 10, "seed": 0, "prior_draws": 0, "daily": False, "predictive_batch": 10}


class Recording:
    """A builder that records which sites it built, one marker file per build (workers are processes), and
    fails once for the sites in ``fail_once`` (the first run records the failure, a resumed run retries)."""

    def __init__(self, inner, folder, fail_once=()):
        self.inner, self.folder, self.fail_once = inner, Path(folder), tuple(fail_once)
        self.folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, site):
        (self.folder / f"{site}.{uuid.uuid4().hex}").touch()
        flag = self.folder.parent / f"failed-once-{site}"
        if site in self.fail_once and not flag.exists():
            flag.touch()
            raise RuntimeError(f"no data for site {site} (this time)")
        return self.inner(site)

    @property
    def built(self):
        return [p.name.split(".")[0] for p in self.folder.iterdir()]


FLAKY = f"syn{N_SITES - 1:04d}"  # the last site


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    out = tmp_path_factory.mktemp("sites")
    build = Recording(TwinSites(n=N_SITES, model="vsem", free=("LUE",), days=60, seed=1), out / "built-first",
                      fail_once=[FLAKY])
    lines = []
    res = run_sites(build, build.inner.site_ids, out / "run", fit=FIT, n_workers=2, progress=lines.append)
    return out, build, res, lines


@pytest.mark.slow
def test_many_sites_on_a_local_cluster(many):
    out, build, res, lines = many
    out = out / "run"
    assert sorted(build.built) == sorted(build.inner.site_ids)  # each site built exactly once
    # a failing site is recorded, and the others finish
    assert res[FLAKY].state == "failed" and f"no data for site {FLAKY}" in res[FLAKY].error
    assert all(r.state == "done" and not r.skipped for s, r in res.items() if s != FLAKY)
    listed = json.loads((out / "sites.json").read_text())
    assert listed["counts"] == {"done": N_SITES - 1, "failed": 1, "pending": 0}
    assert listed["sites"][FLAKY]["state"] == "failed"
    assert len([ln for ln in lines if " done in " in ln]) == N_SITES - 1  # one progress line per site
    assert len([ln for ln in lines if " FAILED: " in ln]) == 1
    assert not list(out.rglob("*.tmp"))
    # each file is that site's own calibration (its site, its forcing)
    for s in ("syn0000", "syn0007"):
        idata = load(site_result_path(out, s))
        assert [str(x) for x in idata.posterior["site"].values] == [s]
        assert idata.posterior["LUE"].shape == (1, FIT["draws"])
    a, b = (load(site_result_path(out, s)).constant_data["par"].values for s in ("syn0000", "syn0001"))
    assert not np.allclose(a, b)


@pytest.mark.slow
def test_resume_runs_only_the_missing_and_failed_sites(many):
    out, build, _, _ = many
    out = out / "run"
    missing = ["syn0003", "syn0010"]
    before = {s: load(site_result_path(out, s)).posterior["LUE"].values for s in missing}
    mtimes = {s: site_result_path(out, s).stat().st_mtime_ns for s in build.inner.site_ids
              if s not in missing and s != FLAKY}
    for s in missing:
        site_result_path(out, s).unlink()
    again = Recording(build.inner, out.parent / "built-resume", fail_once=[FLAKY])  # failed once already
    res = run_sites(again, build.inner.site_ids, out, fit=FIT, n_workers=2, progress=False)
    assert sorted(again.built) == sorted(missing + [FLAKY])
    assert [s for s, r in res.items() if not r.skipped] == sorted(missing + [FLAKY])
    assert all(r.state == "done" for r in res.values())
    assert json.loads((out / "sites.json").read_text())["counts"] == {"done": N_SITES, "failed": 0, "pending": 0}
    assert all(site_result_path(out, s).stat().st_mtime_ns == t for s, t in mtimes.items())
    # same seed, same data: the recomputed sites equal the lost results exactly
    for s in missing:
        np.testing.assert_array_equal(load(site_result_path(out, s)).posterior["LUE"].values, before[s])


def test_bad_site_lists_are_named_errors(tmp_path):
    with pytest.raises(ValueError, match="more than once"):
        run_sites(TwinSites(n=2), ["a", "a"], tmp_path)
    with pytest.raises(ValueError, match="same result file"):
        run_sites(TwinSites(n=2), ["a b", "a_b"], tmp_path)
    with pytest.raises(ValueError, match="method"):
        run_sites(TwinSites(n=2), ["a"], tmp_path, method="mcmc")


def test_cli_run_sites_needs_one_source(tmp_path, capsys):
    from bayeslsm.cli import main

    assert main(["run-sites", "--out", str(tmp_path)]) == 2
    assert "EXPERIMENT.toml or --synthetic" in capsys.readouterr().err
    assert main(["run-sites", "--synthetic", "3", "--sites", "nowhere", "--out", str(tmp_path)]) == 2
    assert "nowhere" in capsys.readouterr().err
