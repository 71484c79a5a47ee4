"""The workflow around sampling: sensitivity, identifiability preflight, pooled biases, PFT-only pooling, prediction.

Known answers (no sampling): a parameter that does not enter an output has exactly zero Sobol', Morris and
derivative indices for it and no data share in the preflight; a product ``LUE x bias`` (VSEM GPP is
proportional to LUE) gives a sloppy Hessian direction along ``log LUE - log mult`` whose orthogonal
complement, the log of the product, is stiff; prediction at a seen site reproduces a direct simulation and at
an unseen site (with zero between-site spread) its PFT-level value.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from bayeslsm.data.synthetic import weather_generator
from bayeslsm.infer import Calibration, twin_experiment
from bayeslsm.obs import BiasModel, ConfigurationError
from bayeslsm.priors import load_catalogue

N_DAYS = 120  # four months: enough for GPP to depend on LUE and KEXT, short enough to compile fast


def _forcing(n_days=N_DAYS, seed=2):
    return weather_generator(years=1, lat=45.0, seed=seed).isel(time=slice(0, n_days))


# ------------------------------------------------------------------------------------------------
# sensitivity


@pytest.fixture(scope="module")
def vsem_sensitivity():
    from bayeslsm.diagnostics import sensitivity

    cal = Calibration("vsem", _forcing(), None, [{"name": "GPP"}, {"name": "NEE"}], free=["LUE", "KEXT", "tauS"])
    return sensitivity(cal, n_sobol=64, n_morris=6, n_dgsm=8, batch=64)


def test_parameter_outside_an_output_has_zero_indices(vsem_sensitivity):
    ds = vsem_sensitivity
    gpp = ds.sel(output=ds["stream"] == "GPP", parameter="tauS")
    # VSEM's GPP never sees the soil turnover tauS: every index is exactly zero. The Sobol' estimators
    # difference runs that share every other input, and Morris / DGSM difference or differentiate along
    # tauS only, so 1e-10 covers float64 round-off of identical runs and nothing else.
    for k in ("S1", "ST", "mu_star", "dgsm"):
        assert np.all(np.abs(gpp[k].values) <= 1e-10), (k, gpp[k].values)
    # NEE (= Reco - GPP) does see it (measured ST 0.01-0.09 over seasons with N = 128)
    assert float(ds["ST"].sel(output="NEE:all", parameter="tauS")) > 0.0
    assert float(ds["mu_star"].sel(output="NEE:all", parameter="tauS")) > 0.0


def test_sensitivity_ranks_lue_first_and_dgsm_bounds_st(vsem_sensitivity):
    from bayeslsm.diagnostics import sensitivity_table

    ds = vsem_sensitivity
    table = sensitivity_table(ds)
    assert table.index[0] == "LUE" and list(table["rank"]) == [1, 2, 3]
    # GPP is proportional to LUE: LUE carries most of the GPP variance (measured ST ~0.9 at N = 128;
    # 0.5 leaves room for the N = 64 estimate's +-0.2 bootstrap interval)
    assert float(ds["ST"].sel(output="GPP:all", parameter="LUE")) > 0.5
    # DGSM bounds the total index (Lamboni et al. 2013): ST <= dgsm, up to ST's own sampling error
    st, conf, dg = (ds[k].sel(parameter="LUE").values for k in ("ST", "ST_conf", "dgsm"))
    assert np.all(st - conf <= dg)
    assert set(ds["season"].values) == {"all", "DJF", "MAM"}  # January-April forcing


def test_sensitivity_figure_and_errors(vsem_sensitivity, tmp_path):
    from bayeslsm.diagnostics import plot_sensitivity, sensitivity

    plot_sensitivity(vsem_sensitivity, tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 1000
    cal = Calibration("vsem", _forcing(30), None, [{"name": "GPP"}], free=["LUE"])
    with pytest.raises(ValueError, match="power of 2"):
        sensitivity(cal, n_sobol=100)
    with pytest.raises(ValueError, match="not free"):
        sensitivity(cal, ["KEXT"])
    with pytest.raises(ValueError, match="unknown sensitivity method"):
        sensitivity(cal, methods=["fast"])


# ------------------------------------------------------------------------------------------------
# identifiability preflight

GPP_BIASED = {"name": "GPP", "bias": {"kind": "multiplicative", "mult": {"prior": "lognormal", "loc": 0.0,
                                                                         "scale": 0.3}},
              "error": {"kind": "gaussian", "sigma": 0.05}}


def test_preflight_finds_the_product_ridge_and_an_unused_parameter():
    from bayeslsm.diagnostics import preflight

    forcing = _forcing()
    truth = {k: v.default for k, v in load_catalogue("vsem").parameters.items()} | {"GPP_bias_mult": 1.2}
    obs, _ = twin_experiment("vsem", forcing, [GPP_BIASED], truth, seed=3)
    cal = Calibration("vsem", forcing, obs, [GPP_BIASED], free=["LUE", "tauS"])
    rep = preflight(cal)
    assert rep.converged
    assert rep.labels == ["log GPP_bias_mult", "log LUE", "log tauS"]
    V, lam = rep.eigenvectors, rep.eigenvalues
    i_b, i_l, i_t = 0, 1, 2
    ridge = np.zeros(3)
    ridge[[i_l, i_b]] = [1 / np.sqrt(2), -1 / np.sqrt(2)]
    total = np.zeros(3)
    total[[i_l, i_b]] = 1 / np.sqrt(2)
    cos_ridge = np.abs(V.T @ ridge)
    cos_total = np.abs(V.T @ total)
    # GPP sees LUE x mult only: the stiffest direction is the log of the product and the ratio is sloppy.
    # 0.95 (18 degrees): VSEM's LAI also grows with LUE (NPP feeds Cv), so the product is not exact.
    assert cos_total[np.argmax(lam)] > 0.95
    k_ridge = int(np.argmax(cos_ridge))
    # ... and its curvature comes from the priors (the data share below one half is the flagging rule;
    # measured ~0.1 here), while the product's comes from the data
    assert cos_ridge[k_ridge] > 0.95 and rep.data_share[k_ridge] < 0.5 < rep.data_share[np.argmax(lam)]
    # tauS (soil turnover) does not enter GPP: its direction is the prior's alone (data share ~0;
    # 0.05 allows for the finite-difference-free but float64 Hessian of a 120-day run)
    k_t = int(np.argmax(np.abs(V[i_t])))
    assert abs(V[i_t, k_t]) > 0.99 and abs(rep.data_share[k_t]) < 0.05
    flagged = [set(s["combination"]) for s in rep.sloppy]
    assert {"log LUE", "log GPP_bias_mult"} in flagged and {"log tauS"} in flagged
    ridge_entry = next(s for s in rep.sloppy if set(s["combination"]) == {"log LUE", "log GPP_bias_mult"})
    assert "only a combination" in ridge_entry["advice"] and "bias" in ridge_entry["advice"]
    d = rep.as_dict()
    assert d["map"]["GPP_bias_mult"] > 0 and len(d["eigenvalues"]) == 3
    assert "sloppy" in rep.summary()


# ------------------------------------------------------------------------------------------------
# per-site pooled bias and PFT-only pooling


def test_pooled_bias_sites_shapes_and_errors():
    import jax.numpy as jnp
    import numpyro

    b = BiasModel.from_dict({"kind": "multiplicative", "pooling": "site"})
    assert b.to_dict()["pooling"] == "site" and BiasModel.from_dict(b.to_dict()) == b
    tr = numpyro.handlers.trace(numpyro.handlers.seed(lambda: b.sample("LE", n_site=3), 0)).get_trace()
    assert tr["LE_bias_mult"]["value"].shape == (3,) and tr["_eps_LE_bias_mult"]["value"].shape == (3,)
    assert {"LE_bias_mult_mu", "LE_bias_mult_sd_site"} <= set(tr)
    mult = tr["LE_bias_mult"]["value"]
    pred = jnp.ones((3, 5))
    np.testing.assert_allclose(b.apply(pred, {"mult": mult}), np.repeat(np.asarray(mult)[:, None], 5, axis=1))
    # one site: the shared model (no per-site sites)
    tr1 = numpyro.handlers.trace(numpyro.handlers.seed(lambda: b.sample("LE", n_site=1), 0)).get_trace()
    assert "LE_bias_mult_mu" not in tr1 and tr1["LE_bias_mult"]["value"].shape == ()
    s = BiasModel.from_dict({"kind": "seasonal", "scale": 1.0, "pooling": "site"})
    tr = numpyro.handlers.trace(numpyro.handlers.seed(lambda: s.sample("NEE", n_site=2), 0)).get_trace()
    p = {k: tr[f"NEE_bias_{k}"]["value"] for k in ("add", "sin", "cos")}
    assert p["sin"].shape == (2, 1) and s.apply(jnp.zeros((2, 4)), p, jnp.arange(4.0)).shape == (2, 4)
    with pytest.raises(ConfigurationError, match="pooling must be one of"):
        BiasModel.from_dict({"kind": "multiplicative", "pooling": "sites"})
    with pytest.raises(ConfigurationError, match="pool_scale is only used"):
        BiasModel.from_dict({"kind": "multiplicative", "pool_scale": 0.1})


def _two_pft_forcing(sites=("a", "b", "c"), pfts=("DBF", "DBF", "GRA"), n_days=60):
    fs = [_forcing(n_days, seed=i).drop_vars("site", errors="ignore").expand_dims(site=[s])
          for i, s in enumerate(sites)]
    f = xr.concat(fs, dim="site", combine_attrs="drop_conflicts")
    return f.assign_coords(pft=("site", list(pfts)), lat=("site", [45.0] * len(sites)))


def test_pft_only_parameter_is_shared_within_a_pft():
    import numpyro

    f = _two_pft_forcing()
    cal = Calibration("vsem", f, None, [{"name": "GPP"}], free=["LUE", "KEXT"],
                      hierarchy={"params": ["LUE", "KEXT"], "pft_only": ["KEXT"]})
    tr = numpyro.handlers.trace(numpyro.handlers.seed(cal.numpyro_model, 1)).get_trace()
    kext, lue = tr["KEXT"]["value"], tr["LUE"]["value"]
    assert kext[0] == kext[1] and kext[0] != kext[2] and lue[0] != lue[1]
    assert "KEXT_sd_site" not in tr and "_eps_KEXT" not in tr and "LUE_sd_site" in tr
    with pytest.raises(ValueError, match="pft_only"):
        Calibration("vsem", f, None, [{"name": "GPP"}], free=["LUE"], hierarchy={"params": ["LUE"],
                                                                                 "pft_only": ["KEXT"]})


# ------------------------------------------------------------------------------------------------
# prediction


def _fake_idata(cal_sites, pfts, lue_site, lue_pft, n=4):
    """A posterior with ``n`` draws of a site-level LUE (PFT level recorded, zero site spread)."""
    import arviz as az

    spec = load_catalogue("vsem").parameters["LUE"]
    post = xr.Dataset(
        {"LUE": (("chain", "draw", "site"), np.broadcast_to(lue_site, (1, n, len(cal_sites))).copy()),
         "LUE_pft": (("chain", "draw", "pft"), np.broadcast_to(lue_pft, (1, n, len(pfts))).copy()),
         "LUE_sd_site": (("chain", "draw"), np.full((1, n), 1e-12)),
         "LUE_mu": (("chain", "draw"), np.full((1, n), float(spec.to_unconstrained(np.mean(lue_pft))))),
         "LUE_sd_pft": (("chain", "draw"), np.full((1, n), 0.1))},
        coords={"chain": [0], "draw": np.arange(n), "site": list(cal_sites), "pft": list(pfts)})
    return az.InferenceData(posterior=post)


def test_predict_seen_and_unseen_sites_and_annual_sums():
    from bayeslsm.infer.predict import annual_intervals, calibration_like, predict

    fit = Calibration("vsem", _two_pft_forcing(("a", "b"), ("DBF", "GRA")), None, [{"name": "GPP"}], free=["LUE"],
                      hierarchy={"params": ["LUE"]})
    idata = _fake_idata(["a", "b"], ["DBF", "GRA"], [0.002, 0.003], [0.0025, 0.0035])
    # target: site b (seen), site new (unseen, DBF) on other weather, 60 days
    target = calibration_like(fit, _two_pft_forcing(("b", "new"), ("GRA", "DBF")))
    pred = predict(target, idata, draws=4, annual=("GPP",), daily=("GPP",))
    assert pred.attrs["unseen_sites"] == "new"
    # the seen site uses its own draws, the unseen one its PFT value (site spread 1e-12): compare with simulate
    direct = target.simulate({"LUE": np.array([0.003, 0.0025])})
    np.testing.assert_allclose(pred["GPP_model"].values[0], np.asarray(direct.GPP), rtol=1e-6)
    np.testing.assert_allclose(pred["GPP_annual"].values[0, :, 0], np.asarray(direct.GPP).sum(axis=1), rtol=1e-6)
    assert int(pred["n_days"].values[0]) == 60
    tab = annual_intervals(pred, "GPP", prob=0.9)
    assert list(tab["site"]) == ["b", "new"] and np.all(tab["lower"] <= tab["mean"]) and np.all(
        tab["mean"] <= tab["upper"])
    # an unseen site of a PFT the calibration did not have: drawn from the global level (varies by draw)
    t2 = calibration_like(fit, _two_pft_forcing(("x",), ("ENF",)))
    p2 = predict(t2, idata, draws=4, annual=("GPP",), seed=1)
    assert np.std(p2["GPP_annual"].values[:, 0, 0]) > 0
    with pytest.raises(ValueError, match="spinup_days"):
        predict(target, idata, spinup_days=1000)
    with pytest.raises(KeyError, match="no 'prior' group"):
        predict(target, idata, group="prior")


def test_both_predictive_paths_replicate_with_the_per_point_uncertainty():
    """Replicated observations follow the likelihood's error model in the calibration's predictive pass and in
    ``predict``: with ``use_obs_uncertainty = "only"`` the noise sd is the data's ``unc`` (4 and 0.5 by halves of
    the year).  Before one observation path, the predictive pass dropped ``unc`` (and raised for "only")."""
    from bayeslsm.infer.predict import predict

    f = _forcing(n_days=360)
    unc = np.where(np.arange(360) < 180, 4.0, 0.5)
    obs = xr.Dataset({"NEE": ("time", np.zeros(360)), "NEE_unc": ("time", unc)}, coords={"time": f.time})
    stream = {"name": "NEE", "uncertainty": "NEE_unc", "error": {"kind": "gaussian", "use_obs_uncertainty": "only"}}
    cal = Calibration("vsem", f, obs, [stream], free=["LUE"])
    prior = cal.prior_predictive(draws=8, seed=3)
    noise_pp = (prior.prior_predictive["NEE"] - prior.prior_predictive["NEE_model"]).values.reshape(-1, 360)
    pred = predict(cal, prior, group="prior", draws=8, annual=())
    noise_pr = (pred["NEE"] - pred["NEE_model"]).values.reshape(-1, 360)
    for noise in (noise_pp, noise_pr):
        # 8 draws x 180 points per half: the sample sd is within 4 standard errors (1/sqrt(2 n) = 1.9 %) of unc
        for half, sd in ((slice(0, 180), 4.0), (slice(180, 360), 0.5)):
            assert abs(noise[:, half].std() / sd - 1.0) < 4 / np.sqrt(2 * 8 * 180)


# ------------------------------------------------------------------------------------------------
# command line


def test_cli_sensitivity_writes_table_figure_and_indices(data_dir, tmp_path, capsys):
    from bayeslsm.cli import main

    out = tmp_path / "sens"
    status = main(["sensitivity", "fr-pue", "--out", str(out), "--calibration", "2003-01-01", "2003-02-28",
                   "--params", "ceff", "clma", "theta_som", "--n-sobol", "8", "--n-morris", "2", "--n-dgsm", "2"])
    assert status == 0
    for f in ("sensitivity.nc", "sensitivity.csv", "sensitivity.png"):
        assert (out / f).is_file(), f
    ds = xr.open_dataset(out / "sensitivity.nc")
    assert list(ds["parameter"].values) == ["ceff", "clma", "theta_som"]
    assert set(ds["stream"].values) == {"NEE", "LE", "LAI"}
    # LAI = C_fol / clma: clma moves LAI, theta_som (soil organic matter turnover) cannot
    lai = ds.sel(output="LAI:all")
    assert float(lai["mu_star"].sel(parameter="clma")) > 0 and float(lai["mu_star"].sel(parameter="theta_som")) == 0
    assert "ceff" in capsys.readouterr().out
    assert main(["sensitivity", "fr-pue", "--out", str(out), "--params", "nope", "--n-sobol", "8"]) == 2
