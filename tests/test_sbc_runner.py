"""Simulation-based calibration runner (bayeslsm.diagnostics.sbc_runner): VSEM passes, a miscalibrated fit fails."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bayeslsm.diagnostics.sbc_runner import run_sbc, sbc_problem, write_sbc

# 40 simulated data sets of 60 days, 80 + 80 NUTS iterations thinned by 2 (M = 40): small enough for the
# default suite; the uniformity test has 8 bins of 5 expected fits each (sbc_bins)
SETTINGS = {"n_sims": 40, "warmup": 80, "draws": 80, "thin": 2, "seed": 3, "progress": False}


@pytest.fixture(scope="module")
def vsem_sbc():
    return run_sbc(sbc_problem("vsem", days=60, sigma=0.5), **SETTINGS)


@pytest.mark.slow
def test_vsem_sbc_ranks_are_uniform(vsem_sbc, tmp_path):
    res = vsem_sbc
    assert set(res.ranks) == {"LUE", "GAMMA"}
    assert res.M == 40 and all(r.shape == (40,) for r in res.ranks.values())
    assert all(0 <= r.min() and r.max() <= res.M for r in res.ranks.values())
    # Bonferroni over the 2 parameters at 1 %: fails with probability <= 1 % if the inference is right
    assert res.passed(alpha=0.01), res.pvalues
    assert int(np.sum(res.divergences)) <= 2  # a divergence now and then is not a failure of SBC
    paths = write_sbc(res, tmp_path)
    data = json.loads(paths["json"].read_text())
    assert data["n_sims"] == 40 and data["passed_at_0.01"] is True
    assert paths["figure"].stat().st_size > 1000


@pytest.mark.slow
def test_sbc_detects_an_overconfident_posterior():
    """Data simulated with NEE noise sd 0.5, fitted assuming sd 0.05: posteriors about 10x too narrow, ranks
    pile up at 0 and M (a U shape), and the uniformity test rejects. (With sd 0.1 assumed, the smallest
    p-value was 6e-4 with these settings: also rejected at 1 % with Bonferroni, by a smaller margin.)"""
    res = run_sbc(sbc_problem("vsem", days=60, sigma=0.5), fit_cal=sbc_problem("vsem", days=60, sigma=0.05),
                  **SETTINGS)
    assert not res.passed(alpha=0.01)
    lue = res.ranks["LUE"]
    # under uniformity 6 of the 41 ranks (0-2 and M-2..M) hold about 15 % of the fits
    assert np.mean((lue <= 2) | (lue >= res.M - 2)) > 0.5


def test_sbc_arguments_are_checked():
    cal = sbc_problem("vsem", days=20, sigma=0.5)
    with pytest.raises(ValueError, match="n_sims"):
        run_sbc(cal, n_sims=1)
    with pytest.raises(ValueError, match="thin"):
        run_sbc(cal, n_sims=4, thin=0)
    with pytest.raises(ValueError, match="latent parameters"):
        run_sbc(cal, n_sims=4, warmup=2, draws=2, fit_cal=sbc_problem("vsem", days=20), progress=False)
    with pytest.raises(ValueError, match="model"):
        sbc_problem("jules")


def test_cli_sbc_rejects_a_single_simulation(tmp_path, capsys):
    from bayeslsm.cli import main

    assert main(["sbc", "--n", "1", "--out", str(tmp_path)]) == 2
    assert "--n must be at least 2" in capsys.readouterr().err
