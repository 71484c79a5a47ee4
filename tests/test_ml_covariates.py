"""PFT hierarchy with a regression of site parameters on site covariates (``Hierarchy(covariates=...)``)."""

from __future__ import annotations

import numpy as np
import numpyro
import pytest
import xarray as xr

from bayeslsm import Calibration, weather_generator
from bayeslsm.infer import Hierarchy

MAT = [4.0, 9.0, 16.0]


@pytest.fixture(scope="module")
def forcing():
    sites = [weather_generator(years=1, lat=45.0, seed=i, site=f"s{i}") for i in range(3)]
    ds = xr.concat(sites, dim="site").assign_coords(site=["s0", "s1", "s2"], mat=("site", MAT))
    return ds


def test_site_values_follow_the_regression(forcing):
    h = Hierarchy(params=("LUE",), covariates=("mat",), coef_scale=0.5)
    cal = Calibration("vsem", forcing, None, [], free=["LUE"], hierarchy=h)
    x = (np.array(MAT) - np.mean(MAT)) / np.std(MAT)
    np.testing.assert_allclose(cal.site_covariates[:, 0], x, rtol=1e-12)
    spec = cal.catalogue.parameters["LUE"]
    data = {"LUE_mu": 0.2, "LUE_coef": np.array([0.7]), "LUE_sd_site": 0.1, "_eps_LUE": np.zeros(3)}
    tr = numpyro.handlers.trace(numpyro.handlers.seed(numpyro.handlers.condition(cal.numpyro_model, data), 0)).get_trace()
    expected = np.asarray(spec.from_unconstrained(0.2 + 0.7 * x))
    np.testing.assert_allclose(np.asarray(tr["LUE"]["value"]), expected, rtol=1e-12)
    assert tr["LUE_coef"]["fn"].event_shape == (1,)
    # without covariates the same draw gives every site the PFT (here global) mean
    cal0 = Calibration("vsem", forcing, None, [], free=["LUE"], hierarchy=Hierarchy(params=("LUE",)))
    tr0 = numpyro.handlers.trace(numpyro.handlers.seed(numpyro.handlers.condition(cal0.numpyro_model, data), 0)).get_trace()
    assert "LUE_coef" not in tr0
    np.testing.assert_allclose(np.asarray(tr0["LUE"]["value"]), np.asarray(spec.from_unconstrained(0.2)) * np.ones(3))


def test_covariate_errors(forcing):
    with pytest.raises(ValueError, match="need mode 'partial'"):
        Hierarchy(params=("LUE",), covariates=("mat",), mode="pooled")
    with pytest.raises(ValueError, match="'aridity'.*along `site`"):
        Calibration("vsem", forcing, None, [], free=["LUE"], hierarchy=Hierarchy(params=("LUE",), covariates=("aridity",)))
    flat = forcing.assign_coords(mat=("site", [5.0, 5.0, 5.0]))
    with pytest.raises(ValueError, match="do not vary"):
        Calibration("vsem", flat, None, [], free=["LUE"], hierarchy=Hierarchy(params=("LUE",), covariates=("mat",)))
