"""Site covariates: computed from the forcing (bayeslsm.data.covariates), named in experiment files, and placed
on the calibration sites' scale at sites that were not calibrated (bayeslsm.infer.predict)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import xarray as xr

from bayeslsm import Calibration, weather_generator
from bayeslsm.data.covariates import COVARIATES, CovariateError, site_covariates
from bayeslsm.data.variables import variable
from bayeslsm.experiments import ExperimentError, load_experiment
from bayeslsm.infer import Hierarchy
from bayeslsm.infer.predict import calibration_like, predict
from bayeslsm.infer.results import build_inference_data

MAT = [4.0, 9.0, 16.0]
STREAMS = [{"name": "NEE", "support": "daily", "error": {"kind": "gaussian", "sigma": {"prior": "halfnormal",
                                                                                       "scale": 0.01}}}]


def _sites(names, mats):
    ds = xr.concat([weather_generator(years=1, lat=40.0 + 5 * i, seed=i, site=n) for i, n in enumerate(names)],
                   dim="site").assign_coords(site=list(names), mat=("site", list(mats)))
    return ds


def test_climate_covariates_equal_a_hand_computation():
    ds = _sites(["a", "b"], [0.0, 0.0]).drop_vars("mat").assign_coords(elev=("site", [100.0, 900.0]))
    rng = np.random.default_rng(3)  # the generator has no daily mean ta: any values will do
    ds["ta"] = ds["tmin"] + rng.uniform(0.3, 0.7, ds["tmin"].shape) * (ds["tmax"] - ds["tmin"])
    t = ds["time"].values.astype("datetime64[D]")
    year = str(t[0].astype("datetime64[Y]"))
    period = (f"{year}-02-01", f"{year}-11-30")
    keep = (t >= np.datetime64(period[0])) & (t <= np.datetime64(period[1]))
    cov = site_covariates(ds, ["mat", "map", "mvpd", "msw", "lat", "elev"], period=period)
    assert 250 < keep.sum() < 320
    for i, s in enumerate(["a", "b"]):
        ta, p, vpd, sw = (np.asarray(ds[v].sel(site=s).values)[keep] for v in ("ta", "precip", "vpd", "swrad"))
        # exact to float64 round-off of a mean of ~300 values (relative 1e-12)
        np.testing.assert_allclose(cov["mat"].values[i], ta.sum() / keep.sum(), rtol=1e-12)
        np.testing.assert_allclose(cov["map"].values[i], p.sum() / keep.sum() * 365.25, rtol=1e-12)
        np.testing.assert_allclose(cov["mvpd"].values[i], vpd.sum() / keep.sum(), rtol=1e-12)
        np.testing.assert_allclose(cov["msw"].values[i], sw.sum() / keep.sum(), rtol=1e-12)
    np.testing.assert_array_equal(cov["lat"].values, [40.0, 45.0])
    np.testing.assert_array_equal(cov["elev"].values, [100.0, 900.0])
    for n in COVARIATES:  # names and units from the registry
        assert cov[n].attrs["units"] == variable(n).units
    assert cov["map"].attrs["units"] == "mm y-1" and "source_column" not in cov["map"].attrs
    # the whole record by default; a gap makes the mean NaN instead of a biased mean
    full = site_covariates(ds, ["mat"])
    np.testing.assert_allclose(full["mat"].values, ds["ta"].mean("time").values, rtol=1e-12)
    gap = ds.copy(deep=True)
    gap["ta"][0, int(np.flatnonzero(keep)[3])] = np.nan
    assert np.isnan(site_covariates(gap, ["mat"], period=period)["mat"].values[0])


def test_covariate_errors_are_named():
    ds = _sites(["a"], [1.0])
    with pytest.raises(CovariateError, match=r"unknown site covariate\(s\) \['aridity'\]"):
        site_covariates(ds, ["aridity"])
    with pytest.raises(CovariateError, match="'elev'"):
        site_covariates(ds, ["elev"])
    with pytest.raises(CovariateError, match="needs forcing variable 'ta'"):
        site_covariates(ds, ["mat"])


VALID = """
[experiment]
name = "cov"
model = "dalec2_water"

[periods]
calibration = ["2019-01-01", "2019-12-31"]

[data]
qc_missing = "ignore"

[[sites]]
id = "DE-Tha"
file = "FLX_DE-Tha_PLUMBER_FULLSET_DD_2019_2020_2-3.csv"

[[sites]]
id = "DE-Obe"
file = "FLX_DE-Obe_PLUMBER_FULLSET_DD_2019_2020_2-3.csv"

[[streams]]
name = "GPP"

[parameters]
free = ["ceff"]

[hierarchy]
params = ["ceff"]
covariates = ["mat", "map", "elev"]
coef_scale = 0.4
"""


@pytest.mark.parametrize("old, new, fragment", [
    ('"mat", "map", "elev"', '"mat", "aridity"', "unknown site covariate(s) ['aridity']"),
    ('"mat", "map", "elev"', '"mat", "mat"', "listed twice"),
    ('"mat", "map", "elev"', '', "non-empty list"),
    ('params = ["ceff"]', 'params = ["ceff"]\nmode = "pooled"', "mode = 'partial'"),
])
def test_experiment_covariate_names_are_validated(tmp_path, old, new, fragment):
    path = tmp_path / "cov.toml"
    path.write_text(VALID.replace(old, new, 1))
    with pytest.raises(ExperimentError) as info:
        load_experiment(path)
    assert info.value.key == "hierarchy.covariates" and fragment in str(info.value)


def test_experiment_attaches_covariates_from_the_calibration_period(tmp_path, data_dir, monkeypatch):
    from bayeslsm.data import SITES, read_fluxnet
    from bayeslsm.experiments import build_calibration, prepare_data

    monkeypatch.setenv("BAYESLSM_DATA_DIR", str(data_dir))
    path = tmp_path / "cov.toml"
    path.write_text(VALID.replace('[periods]\ncalibration = ["2019-01-01", "2019-12-31"]',
                                  '[periods]\ncalibration = ["2019-01-01", "2019-12-31"]\n'
                                  'validation = ["2020-01-01", "2020-03-31"]'))
    exp = load_experiment(path)
    assert exp.hierarchy.covariates == ("mat", "map", "elev") and exp.hierarchy.coef_scale == 0.4
    data = prepare_data(exp)
    cf, vf = data.calibration[0], data.validation[0]
    for i, site in enumerate(["DE-Tha", "DE-Obe"]):
        f, _ = read_fluxnet(data_dir / "fluxdatakit_26sites" / f"FLX_{site}_PLUMBER_FULLSET_DD_2019_2020_2-3.csv",
                            site=site, qc_missing="ignore", start="2019-01-01", end="2019-12-31")
        ta, p = f["ta"].values, f["precip"].values
        assert ta.size == 365 and np.isfinite(ta).all()
        for ds in (cf, vf):  # the validation stack carries the calibration-period climate too
            np.testing.assert_allclose(ds["mat"].values[i], ta.mean(), rtol=1e-12)
            np.testing.assert_allclose(ds["map"].values[i], p.mean() * 365.25, rtol=1e-12)
            assert ds["elev"].values[i] == SITES[site].elev
    cal = build_calibration(exp, *data.calibration)
    x = np.stack([cf[c].values for c in ("mat", "map", "elev")], axis=1)
    np.testing.assert_allclose(cal.site_covariates, (x - x.mean(0)) / x.std(0), rtol=1e-12)


def _fake_idata(cal, coef, z_pft):
    """The calibration's InferenceData (constant_data from bayeslsm.infer.results) with a posterior at one known
    point: PFT value ``z_pft`` (unconstrained), coefficient ``coef``, no site spread (two identical draws)."""
    import arviz as az

    idata = build_inference_data(cal, None, None, {}, jax.random.PRNGKey(0), jax.random.PRNGKey(1), prior_draws=0)
    spec = cal.catalogue.parameters["LUE"]
    z_site = z_pft + coef * cal.site_covariates[:, 0]
    post = xr.Dataset(
        {"LUE": (("chain", "draw", "site"), np.broadcast_to(spec.from_unconstrained(z_site), (1, 2, cal.n_site))),
         "LUE_pft": (("chain", "draw", "pft"), np.full((1, 2, 1), float(spec.from_unconstrained(z_pft)))),
         "LUE_mu": (("chain", "draw"), np.full((1, 2), z_pft)),
         "LUE_coef": (("chain", "draw", "covariate"), np.full((1, 2, 1), coef)),
         "LUE_sd_site": (("chain", "draw"), np.zeros((1, 2))),
         "NEE_sigma": (("chain", "draw"), np.full((1, 2), 1e-3))},
        coords={"chain": [0], "draw": [0, 1], "site": list(cal.sites), "pft": list(cal.pfts), "covariate": ["mat"]})
    return az.InferenceData(posterior=post, constant_data=idata.constant_data)


def _param_dims_of(cal):
    from bayeslsm.infer.results import _param_dims

    return _param_dims(cal, "LUE_coef", (1,))


def test_left_out_site_is_standardised_with_the_calibration_statistics():
    from bayeslsm.lsm import VSEM, simulate

    forcing = _sites(["s0", "s1", "s2"], MAT)
    h = Hierarchy(params=("LUE",), covariates=("mat",), centered=True)
    cal = Calibration("vsem", forcing, None, STREAMS, free=["LUE"], hierarchy=h)
    z_pft, coef = float(cal.catalogue.parameters["LUE"].to_unconstrained(0.002)), 0.4
    idata = _fake_idata(cal, coef, z_pft)
    const = idata.constant_data
    np.testing.assert_allclose(const["covariate_center"].values, [np.mean(MAT)], rtol=1e-12)
    np.testing.assert_allclose(const["covariate_scale"].values, [np.std(MAT)], rtol=1e-12)
    assert _param_dims_of(cal) == ("covariate",)  # how sampled coefficients are stored

    # two left-out sites: with their own statistics they would sit at -1 and +1 sd
    new_mat = [20.0, 30.0]
    new = _sites(["n0", "n1"], new_mat)
    target = calibration_like(cal, new)
    pred = predict(target, idata, draws=2, annual=())
    spec = cal.catalogue.parameters["LUE"]
    m = VSEM()
    for i, mat in enumerate(new_mat):
        lue = float(spec.from_unconstrained(z_pft + coef * (mat - np.mean(MAT)) / np.std(MAT)))
        d = dict(m.DEFAULTS, LUE=lue)
        ref = simulate(m, m.params(d), m.Forcing(par=new["par"].values[i]), m.initial_state(d)).NEE
        # same model, same parameter value: equal to float64 round-off
        np.testing.assert_allclose(pred["NEE_model"].values[:, i], np.broadcast_to(ref, (2, ref.size)),
                                   rtol=1e-9, atol=1e-12)
    # an InferenceData without the calibration's statistics is refused by name, not re-standardised
    import arviz as az

    with pytest.raises(ValueError, match="records no covariate statistics"):
        predict(target, az.InferenceData(posterior=idata.posterior), draws=2, annual=())
    # a single left-out site (no spread of its own) works, and a target built without the calibration's
    # statistics is refused rather than silently re-standardised
    one = calibration_like(cal, new.isel(site=[0]))
    assert one.covariate_center == pytest.approx([np.mean(MAT)])
    with pytest.raises(ValueError, match="do not vary"):
        Calibration("vsem", new.isel(site=[0]), None, STREAMS, free=["LUE"], hierarchy=h)
