"""Prior predictive checks per PFT (bayeslsm.diagnostics.prior_check) and the catalogue's plausible ranges."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bayeslsm.data.synthetic import weather_generator
from bayeslsm.diagnostics import annual_statistics, prior_check_table, prior_predictive_check
from bayeslsm.infer import Calibration
from bayeslsm.priors import PLAUSIBLE_QUANTITIES, CatalogueError, PlausibleRange, load_catalogue

PFTS = ("ENF", "EBF", "DBF", "MF", "GRA", "CRO")


@pytest.fixture(scope="module")
def forcing():
    """Two complete calendar years (2001-2002) of generated weather at 50 N, one site."""
    return weather_generator(years=2, lat=50.0, seed=0, site="t")


def test_annual_statistics_by_hand():
    # 2000 is a leap year: 366 days; 2001: 365 days; a partial 2002 (10 days) is ignored by year_index
    t = np.arange(366 + 365 + 10)
    lai = np.where(t < 366, 2.0 + np.sin(t / 50.0), 1.0)
    lai[400] = 7.0
    gpp = np.where(t < 366, 3.0, 1.0)
    nee = np.where(t < 366, -1.0, 0.5)
    yi = np.r_[np.zeros(366, int), np.ones(365, int), -np.ones(10, int)]
    s = annual_statistics(lai, gpp, nee, yi, 2)
    peak_2000 = float(np.max(2.0 + np.sin(np.arange(366) / 50.0)))
    assert float(s["peak_LAI"]) == pytest.approx((peak_2000 + 7.0) / 2, rel=1e-12)
    assert float(s["annual_GPP"]) == pytest.approx((3.0 * 366 + 365.0) / 2, rel=1e-12)
    assert float(s["annual_NEE"]) == pytest.approx((-366.0 + 0.5 * 365) / 2, rel=1e-12)


def test_fixed_parameters_give_zero_spread_and_the_hand_computed_value(forcing):
    # nothing drawn: every draw is the catalogue default, so the three quantiles coincide and equal the
    # annual statistics of one forward run computed here by hand (numpy on Calibration.simulate)
    ds = prior_predictive_check("dalec2", "DBF", forcing, n=8, seed=0, free=[])
    cal = Calibration("dalec2", forcing.assign_coords(pft="DBF"), None, ())
    out = cal.simulate()
    lai, gpp, nee = (np.asarray(getattr(out, v))[0] for v in ("LAI", "GPP", "NEE"))
    expect = {"peak_LAI": np.mean([lai[:365].max(), lai[365:].max()]),
              "annual_GPP": np.mean([gpp[:365].sum(), gpp[365:].sum()]),
              "annual_NEE": np.mean([nee[:365].sum(), nee[365:].sum()])}
    for q, v in expect.items():
        vals = ds["value"].sel(quantity=q).values
        assert np.ptp(vals) == 0.0
        assert vals[1] == pytest.approx(v, rel=1e-10)  # float64, same forward run: round-off only
    assert ds.attrs["n"] == 8 and ds["samples"].shape == (8, 3)


def test_out_of_range_quantity_fails_and_in_range_passes(forcing):
    ds = prior_predictive_check("dalec2", "DBF", forcing, n=8, seed=0, free=[],
                                ranges={"peak_LAI": (0.0, 0.01), "annual_GPP": (0.0, 1e5)})
    passed = dict(zip(ds["quantity"].values, ds["passed"].values))
    assert passed["peak_LAI"] == 0.0 and passed["annual_GPP"] == 1.0
    assert ds["inside"].sel(quantity="peak_LAI") == 0.0
    assert ds.attrs["all_passed"] == 0
    table = prior_check_table([ds])
    # peak_LAI fails, annual_GPP passes, annual_NEE keeps the catalogue's DBF range
    nee = load_catalogue("dalec2").plausible["DBF"]["annual_NEE"]
    assert (ds["lower"].sel(quantity="annual_NEE"), ds["upper"].sel(quantity="annual_NEE")) == (nee.lower, nee.upper)
    assert table["passed"].tolist() == [False, True, nee.contains(float(ds["value"].sel(quantity="annual_NEE")[1]))]


def test_draws_follow_the_prior_and_are_reproducible(forcing):
    # one free parameter with a lognormal PFT prior: the drawn values' log-median and log-sd match it
    # (n = 400: the sd of the sample median of log x is ~1.25 s / sqrt(n) = 0.031 for s = 0.5, so 0.1 is
    # more than 3 standard errors; the sample sd of log x is within ~0.05 (3 se) of s)
    cat = load_catalogue("dalec2")
    prior = cat.prior_for("clma", "DBF")
    a = prior_predictive_check("dalec2", "DBF", forcing, n=400, seed=3, free=["clma"], batch=200)
    b = prior_predictive_check("dalec2", "DBF", forcing, n=400, seed=3, free=["clma"], batch=200)
    z = np.log(a["parameter_values"].sel(parameter="clma").values)
    assert abs(np.median(z) - math.log(prior.median)) < 0.1
    assert abs(np.std(z) - prior.sigma_log) < 0.05
    np.testing.assert_array_equal(a["samples"].values, b["samples"].values)
    # LAI = C_fol / clma: a larger clma gives a smaller peak LAI, draw by draw
    rho = np.corrcoef(z, np.log(a["samples"].sel(quantity="peak_LAI").values))[0, 1]
    assert rho < -0.9


def test_edc_rejection_keeps_only_constraint_satisfying_draws(forcing):
    ds = prior_predictive_check("dalec2", "DBF", forcing, n=50, seed=0, free=["f_fol", "f_roo", "f_lab"],
                                edc=["root_foliage_allocation"], batch=100)
    pv = {p: ds["parameter_values"].sel(parameter=p).values for p in ("f_fol", "f_roo", "f_lab")}
    ratio = (1 - pv["f_fol"]) * (1 - pv["f_lab"]) * pv["f_roo"] / pv["f_fol"]
    # kept with probability sigmoid(-(|log r| - log 5) / 0.05): a draw 0.3 log units outside [0.2, 5] is kept
    # with probability 0.0025 per draw, so among 50 kept draws none is expected there
    assert np.all(np.abs(np.log(ratio)) < math.log(5.0) + 0.3)
    assert 0.0 < ds.attrs["acceptance"] < 1.0
    assert ds.attrs["n"] == 50


def test_bad_arguments_are_named(forcing):
    with pytest.raises(ValueError, match="`pft` = 'XYZ'"):
        prior_predictive_check("dalec2", "XYZ", forcing, n=4)
    with pytest.raises(ValueError, match="complete calendar year"):
        prior_predictive_check("dalec2", "DBF", forcing.isel(time=slice(10, 300)), n=4)
    with pytest.raises(ValueError, match="`n` must be"):
        prior_predictive_check("dalec2", "DBF", forcing, n=0)


def test_catalogue_plausible_ranges_are_documented_and_validated(tmp_path):
    cat = load_catalogue("dalec2_water")  # inherits dalec2's [plausible.*]
    for pft in PFTS:
        assert set(cat.plausible[pft]) == set(PLAUSIBLE_QUANTITIES)
        for q, r in cat.plausible[pft].items():
            assert r.lower < r.upper and "doi:" in r.source and r.unit == PLAUSIBLE_QUANTITIES[q][0]
    with pytest.raises(CatalogueError, match="`unit` must be 'm2 m-2'"):
        PlausibleRange("peak_LAI", 0.0, 1.0, "1", "s")
    with pytest.raises(CatalogueError, match="finite `lower` < `upper`"):
        PlausibleRange("annual_GPP", 5.0, 1.0, "gC m-2 yr-1", "s")
    bad = tmp_path / "c.toml"
    bad.write_text('[catalogue]\nmodel = "m"\ndescription = "d"\nextends = "dalec2"\n'
                   '[plausible.DBF]\nannual_NPP = {lower = 0.0, upper = 1.0, unit = "x", source = "s"}\n')
    with pytest.raises(CatalogueError, match="annual_NPP"):
        load_catalogue(bad)


def test_cli_prior_check_prints_the_table_and_fails_on_an_implausible_prior(capsys, tmp_path):
    from bayeslsm.cli import main

    # the dalec2 catalogue's GRA prior on the demo weather: peak LAI above the plausible 8 m2 m-2 in more than 5 % of
    # draws (measured: 95 % quantile ~ 20-40), so the check fails with status 1 and says so
    status = main(["prior-check", "--model", "dalec2", "--pft", "GRA", "--n", "40", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 1 and "FAILED" in out and "peak_LAI" in out
    assert (tmp_path / "prior_check.csv").read_text().count("GRA") == 3
    assert main(["prior-check", "--pft", "XYZ", "--n", "4"]) == 2


@pytest.mark.slow
@pytest.mark.parametrize("pft", PFTS)
def test_revised_catalogue_annual_nee_is_plausible_for_every_pft(pft):
    """Annual NEE of the dalec2_water PFT prior, with the pft-hierarchy experiment's spin-up, within its range.

    One year of generated weather at 50 N, spin-up "cycle" with 3 cycles (models/experiments/pft-hierarchy.toml),
    every catalogue parameter drawn from the PFT prior, n = 100, seed 0. Measured (2026-12-03): 95 % quantiles
    +215 (DBF) to +658 gC m-2 yr-1, 5 % quantiles -535 to -995, against [-1500, +1000]; the catalogue before
    the SOM priors (log-uniform cs_init up to 250 kgC m-2 and theta_som up to 1e-3 d-1) gave 95 % quantiles of
    +4567 to +5206 for every PFT but DBF, so this test fails on it. The check compares the 5 % and 95 % sample
    quantiles of 100 draws; with the fixed seed the result is deterministic, and the ~300 gC m-2 yr-1 margin
    to the upper bound is several times the sampling spread of a 95 % quantile from 100 draws (its 90 %
    interval spans roughly the 90-99 % population quantiles).

    Peak LAI and annual GPP are reported but not asserted: their tails remain implausible (README, "Prior
    predictive checks"; the DBF table is Pinnington et al.'s Alice Holt prior, unchanged).
    """
    f = weather_generator(years=1, lat=50.0, seed=0, site="t")
    ds = prior_predictive_check("dalec2_water", pft, f, n=100, seed=0, spinup="cycle", n_cycles=3)
    nee = ds.sel(quantity="annual_NEE")
    assert bool(nee["passed"]), nee["value"].values
    # and the prior still allows sinks and sources: the range is not met by collapsing every draw to 0
    assert float(nee["value"][0]) < -100.0 < 100.0 < float(nee["value"][-1])


@pytest.mark.slow
def test_cli_prior_check_of_an_experiment(data_dir, tmp_path, capsys):
    import json

    from bayeslsm.cli import main

    # one MF site of the pft-hierarchy experiment, its spin-up (3 cycles of 2019), only the experiment's free
    # parameters drawn (ceff, clma, g_max, f_fol, W_max), the others at its fixed values (clspan etc. by PFT)
    status = main(["prior-check", "pft-hierarchy", "--sites", "BE-Bra", "--n", "16", "--experiment-free",
                   "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status in (0, 1) and "MF" in out and "annual_NEE" in out
    info = json.loads((tmp_path / "prior_check.json").read_text())
    assert info["spinup"] == "cycle" and info["n_cycles"] == 3 and info["experiment_free"] is True
    assert info["pfts"]["MF"]["sites"] == "['BE-Bra']" and info["passed"] == (status == 0)
