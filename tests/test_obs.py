"""Observation layer: operators vs pandas, bias kinds, error models vs scipy, AR(1), masking, configuration."""

from __future__ import annotations

import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pandas as pd
import pytest
import scipy.stats as st
from numpyro.infer.util import log_density

import bayeslsm  # noqa: F401  (float64)
from bayeslsm.obs import (
    AR1Residuals,
    BiasModel,
    ConfigurationError,
    ErrorModel,
    ObservationSupportError,
    PriorSpec,
    StreamConfig,
    Support,
    apply_operator,
    ar1_lags,
    build_operator,
    observe,
    pointwise_log_likelihood,
    support_grid,
)

# Aggregation and density formulas are evaluated in float64 by two implementations (ours, pandas/scipy):
# agreement to 1e-12 / 1e-10 leaves room for summation-order round-off (~T * 1e-16) and nothing else.
RTOL_AGG = 1e-12
RTOL_PDF = 1e-10

DAYS = np.arange("2001-01-01", "2004-01-01", dtype="datetime64[D]")  # 3 years, 1095 days


def _days(*s):
    return np.array(s, dtype="datetime64[D]")


@pytest.fixture(scope="module")
def daily():
    return np.random.default_rng(0).normal(3.0, 2.0, size=DAYS.size)


def _trace(fn, *args, **kwargs):
    return numpyro.handlers.trace(numpyro.handlers.seed(fn, 0)).get_trace(*args, **kwargs)


# ---------------------------------------------------------------------------------------------------
# operators
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["mean", "sum"])
@pytest.mark.parametrize("support,rule", [("monthly", "MS"), ("annual", "YS")])
def test_calendar_operators_match_pandas_resample(daily, support, rule, how):
    s = pd.Series(daily, index=pd.DatetimeIndex(DAYS.astype("datetime64[ns]")))
    ref = getattr(s.resample(rule), how)()
    obs_time = ref.index.values.astype("datetime64[D]")
    idx = build_operator(support, how, DAYS, obs_time)
    np.testing.assert_allclose(np.asarray(apply_operator(idx, daily)), ref.values, rtol=RTOL_AGG, atol=0)
    # a sparse subset of periods: same values, other days go to the dump slot
    sub = slice(1, None, 3)
    idx_sub = build_operator(support, how, DAYS, obs_time[sub])
    np.testing.assert_allclose(np.asarray(apply_operator(idx_sub, daily)), ref.values[sub], rtol=RTOL_AGG, atol=0)
    assert idx_sub.segment_ids.max() == idx_sub.n_obs


@pytest.mark.parametrize("how", ["mean", "sum"])
def test_8day_operator_matches_blocks_by_hand(daily, how):
    n_blocks = DAYS.size // 8
    blocks = daily[: n_blocks * 8].reshape(n_blocks, 8)
    ref = blocks.mean(axis=1) if how == "mean" else blocks.sum(axis=1)
    idx = build_operator("8D", how, DAYS, DAYS[: n_blocks * 8 : 8])
    np.testing.assert_allclose(np.asarray(apply_operator(idx, daily)), ref, rtol=RTOL_AGG, atol=0)
    # every other composite, shifted start: still [t, t+8)
    starts = DAYS[3 : n_blocks * 8 - 8 : 16]
    idx2 = build_operator("8D", how, DAYS, starts)
    by_hand = np.array([getattr(daily[i : i + 8], how)() for i in (starts - DAYS[0]).astype(int)])
    np.testing.assert_allclose(np.asarray(apply_operator(idx2, daily)), by_hand, rtol=RTOL_AGG, atol=0)


def test_8day_year_reset_truncates_at_31_december(daily):
    grid = support_grid("8D-year", DAYS)
    idx = build_operator("8D-year", "mean", DAYS, grid)
    # MODIS: composites start on day-of-year 1, 9, ..., 361; the last one of a year has 5 days (6 in leap years)
    assert idx.counts[45] == 5 and grid[45] == np.datetime64("2001-12-27") and grid[46] == np.datetime64("2002-01-01")
    doy = (DAYS - DAYS.astype("datetime64[Y]")).astype(int)
    key = pd.Series(DAYS.astype("datetime64[Y]").astype(int) * 100 + doy // 8)
    ref = pd.Series(daily).groupby(key).mean().values
    np.testing.assert_allclose(np.asarray(apply_operator(idx, daily)), ref, rtol=RTOL_AGG, atol=0)
    with pytest.raises(ObservationSupportError, match="overlap"):
        build_operator("8D", "mean", DAYS, grid[:-1])  # without the reset, Dec 27 + 8 d runs into the Jan 1 composite


def test_instant_and_daily_pick_the_day(daily):
    t = _days("2001-03-05", "2002-07-01", "2003-12-31")
    idx = build_operator("instant", "mean", DAYS, t)
    np.testing.assert_array_equal(np.asarray(apply_operator(idx, daily)), daily[np.searchsorted(DAYS, t)])
    idx_d = build_operator("daily", "sum", DAYS, DAYS)
    np.testing.assert_array_equal(np.asarray(apply_operator(idx_d, daily)), daily)


def test_operator_on_sites_jit_and_gradient(daily):
    x = np.stack([daily, 2.0 * daily + 1.0, -daily])  # (site, T)
    idx = build_operator("monthly", "mean", DAYS, support_grid("monthly", DAYS))
    out = jax.jit(apply_operator)(idx, x)  # index passed as a pytree
    assert out.shape == (3, 36)
    for s in range(3):
        np.testing.assert_allclose(np.asarray(out[s]), np.asarray(apply_operator(idx, x[s])), rtol=RTOL_AGG, atol=0)
    # linear operator: d(sum of monthly means)/d(day) = 1 / days in its month, exactly
    g = jax.grad(lambda v: apply_operator(idx, v).sum())(jnp.asarray(daily))
    np.testing.assert_allclose(np.asarray(g), 1.0 / idx.counts[idx.segment_ids], rtol=1e-15, atol=0)
    with pytest.raises(ValueError, match="last axis"):
        apply_operator(idx, x.T)


def test_support_errors_name_stream_and_dates():
    with pytest.raises(ObservationSupportError, match=r"stream 'LAI'.*model period 2001-01-01 \.\. 2003-12-31: "
                       r"2003-12-29 \(covers 2003-12-29 \.\. 2004-01-05\)"):
        build_operator("8D", "mean", DAYS, _days("2003-12-01", "2003-12-29"), name="LAI")
    with pytest.raises(ObservationSupportError, match=r"stream 'GPP'.*2000-12-01"):
        build_operator("monthly", "sum", DAYS, _days("2000-12-01", "2001-01-01"), name="GPP")
    with pytest.raises(ObservationSupportError, match=r"stream 'GPP'.*not the first day of a month: 2001-02-15"):
        build_operator("monthly", "mean", DAYS, _days("2001-01-01", "2001-02-15"), name="GPP")
    with pytest.raises(ObservationSupportError, match=r"not the 1 January: 2002-07-01"):
        build_operator("annual", "mean", DAYS, _days("2002-07-01"))
    with pytest.raises(ObservationSupportError, match=r"sorted and unique.*2001-05-01 followed by 2001-03-01"):
        build_operator("instant", "mean", DAYS, _days("2001-05-01", "2001-03-01"), name="biomass")
    with pytest.raises(ObservationSupportError, match=r"sorted and unique.*2001-03-01 followed by 2001-03-01"):
        build_operator("daily", "mean", DAYS, _days("2001-03-01", "2001-03-01"))
    with pytest.raises(ObservationSupportError, match=r"overlap: 2001-01-01 \(to 2001-01-08\) and 2001-01-05"):
        build_operator("8D", "mean", DAYS, _days("2001-01-01", "2001-01-05"))
    with pytest.raises(ConfigurationError, match="unknown support 'weekly'"):
        build_operator("weekly", "mean", DAYS, DAYS[:1])
    with pytest.raises(ConfigurationError, match="`how` must be one of"):
        build_operator("daily", "median", DAYS, DAYS[:1], name="NEE")
    with pytest.raises(ValueError, match="consecutive days"):
        build_operator("daily", "mean", np.delete(DAYS, 10), DAYS[:1])


def test_support_parsing_and_grid():
    assert str(Support.parse("8d")) == "8D" and str(Support.parse("1D")) == "daily"
    assert str(Support.parse(" 16D-year ")) == "16D-year" and Support.parse("Monthly").kind == "monthly"
    t = np.arange("2001-01-15", "2001-04-20", dtype="datetime64[D]")
    np.testing.assert_array_equal(support_grid("monthly", t), _days("2001-02-01", "2001-03-01"))
    assert support_grid("annual", t).size == 0
    g8 = support_grid("8D", t)
    assert g8[0] == t[0] and g8[-1] + 7 <= t[-1] and np.all(np.diff(g8) == 8)
    build_operator("8D", "mean", t, g8)  # complete periods only: accepted


# ---------------------------------------------------------------------------------------------------
# bias models
# ---------------------------------------------------------------------------------------------------
PRED = np.array([[1.0, -2.0, 3.5], [0.0, 4.0, -1.0]])
DOY = np.array([1.0, 100.0, 250.0])


@pytest.mark.parametrize(
    "bias,params,expected",
    [
        (BiasModel("none"), {}, PRED),
        (BiasModel("additive", scale=1.0), {"add": 0.3}, PRED + 0.3),
        (BiasModel("multiplicative"), {"mult": 1.15}, 1.15 * PRED),
        (BiasModel("both", scale=1.0), {"mult": 0.9, "add": -0.5}, 0.9 * PRED - 0.5),
        (BiasModel("linear", slope=PriorSpec.lognormal(-2.3, 1.0), offset=0.0), {"slope": 0.1, "offset": 0.05},
         0.1 * PRED + 0.05),
    ],
)
def test_bias_kinds_by_hand(bias, params, expected):
    np.testing.assert_allclose(np.asarray(bias.apply(PRED, params, DOY)), expected, rtol=1e-15, atol=1e-15)


def test_seasonal_bias_by_hand():
    b = BiasModel("seasonal", scale=0.5, n_harmonics=2)
    a, c = np.array([0.2, -0.1]), np.array([0.4, 0.05])
    w = [[2 * math.pi * (k + 1) * d / 365.25 for k in range(2)] for d in DOY]
    season = [sum(a[k] * math.sin(wd[k]) + c[k] * math.cos(wd[k]) for k in range(2)) for wd in w]
    out = b.apply(PRED, {"add": 0.7, "sin": a, "cos": c}, DOY)
    np.testing.assert_allclose(np.asarray(out), PRED + 0.7 + np.array(season), rtol=1e-14, atol=1e-15)


def test_bias_site_names_and_shapes():
    kinds = {
        "additive": (BiasModel("additive", scale=1.0), {"X_bias_add": ()}),
        "multiplicative": (BiasModel("multiplicative"), {"X_bias_mult": ()}),
        "both": (BiasModel("both", scale=1.0), {"X_bias_mult": (), "X_bias_add": ()}),
        "seasonal": (BiasModel("seasonal", scale=1.0, n_harmonics=3),
                     {"X_bias_add": (), "X_bias_sin": (3,), "X_bias_cos": (3,)}),
        "linear": (BiasModel("linear", slope=PriorSpec.lognormal(0.0, 1.0), scale=0.2),
                   {"X_slope": (), "X_offset": ()}),
        "none": (BiasModel(), {}),
    }
    for kind, (b, expected) in kinds.items():
        tr = _trace(lambda b=b: b.sample("X"))
        assert {k: tuple(v["value"].shape) for k, v in tr.items()} == expected, kind
    # the default multiplicative prior is LogNormal(0, 0.2)
    d = _trace(lambda: BiasModel("multiplicative").sample("X"))["X_bias_mult"]["fn"]
    assert float(d.loc) == 0.0 and float(d.scale) == 0.2
    # a fixed parameter makes no site
    b = BiasModel("both", add=0.5, mult={"prior": "lognormal", "scale": 0.1})
    tr = _trace(lambda: b.sample("LE"))
    assert set(tr) == {"LE_bias_mult"}
    assert b.add == 0.5 and float(numpyro.handlers.seed(b.sample, 0)("LE")["add"]) == 0.5


def test_bias_configuration_errors():
    with pytest.raises(ConfigurationError, match=r"bias.slope.*needs a prior"):
        BiasModel("linear", scale=1.0)
    with pytest.raises(ConfigurationError, match=r"bias.add.*give add .* or `scale`"):
        BiasModel("additive")
    with pytest.raises(ConfigurationError, match="unknown bias kind 'offset'"):
        BiasModel("offset")
    with pytest.raises(ConfigurationError, match=r"bias.mult is not used by bias kind 'additive'"):
        BiasModel("additive", scale=1.0, mult=1.1)
    with pytest.raises(ConfigurationError, match=r"bias.scale must be a positive number.*-1"):
        BiasModel("additive", scale=-1.0)
    with pytest.raises(ConfigurationError, match=r"bias.mult.*outside the parameter's domain"):
        BiasModel("multiplicative", mult=PriorSpec.normal(1.0, 0.1))
    with pytest.raises(ConfigurationError, match=r"n_harmonics must be an integer >= 1"):
        BiasModel("seasonal", scale=1.0, n_harmonics=0)


# ---------------------------------------------------------------------------------------------------
# error models
# ---------------------------------------------------------------------------------------------------
F = np.array([[0.5, -3.0, 2.0, 7.5], [1.0, 0.0, -0.2, 4.0]])
Y = F + np.array([[0.3, -1.2, 0.05, 2.0], [-0.7, 0.4, 1.5, -0.1]])
UNC = np.array([[0.2, 0.5, 0.3, 1.0], [0.4, 0.1, 0.6, 0.8]])


def test_gaussian_log_prob_matches_scipy_with_uncertainty_rules():
    e = ErrorModel("gaussian", sigma=0.7)
    p = {"sigma": 0.7}
    d = e.distribution(F, p)
    assert d.batch_shape == F.shape
    np.testing.assert_allclose(np.asarray(d.log_prob(Y)), st.norm.logpdf(Y, F, 0.7), rtol=RTOL_PDF, atol=0)
    # combine: total sd = sqrt(unc^2 + sigma^2)
    lp = e.distribution(F, p, unc=UNC).log_prob(Y)
    np.testing.assert_allclose(np.asarray(lp), st.norm.logpdf(Y, F, np.sqrt(UNC**2 + 0.49)), rtol=RTOL_PDF, atol=0)
    # only: sd = unc, and no sigma parameter at all
    e_only = ErrorModel("gaussian", use_obs_uncertainty="only")
    assert e_only.site_names("NEE") == {} and e_only.sample("NEE") == {}
    lp = e_only.distribution(F, {}, unc=UNC).log_prob(Y)
    np.testing.assert_allclose(np.asarray(lp), st.norm.logpdf(Y, F, UNC), rtol=RTOL_PDF, atol=0)
    with pytest.raises(ValueError, match="no `unc` was given"):
        e_only.distribution(F, {})
    # ignore
    lp = ErrorModel("gaussian", sigma=0.7, use_obs_uncertainty="ignore").distribution(F, p, unc=UNC).log_prob(Y)
    np.testing.assert_allclose(np.asarray(lp), st.norm.logpdf(Y, F, 0.7), rtol=RTOL_PDF, atol=0)


def test_student_t_log_prob_matches_scipy():
    e = ErrorModel("student_t", sigma=0.7, df=3.5)
    d = e.distribution(F, {"sigma": 0.7, "df": 3.5})
    assert d.batch_shape == F.shape
    np.testing.assert_allclose(np.asarray(d.log_prob(Y)), st.t.logpdf(Y, 3.5, F, 0.7), rtol=RTOL_PDF, atol=0)
    lp = e.distribution(F, {"sigma": 0.7, "df": 3.5}, unc=UNC).log_prob(Y)
    np.testing.assert_allclose(np.asarray(lp), st.t.logpdf(Y, 3.5, F, np.sqrt(UNC**2 + 0.49)), rtol=RTOL_PDF, atol=0)


def test_heteroscedastic_laplace_scale_and_log_prob():
    e = ErrorModel("laplace_hetero", a=0.3, b=0.15)
    p = {"a": 0.3, "b": 0.15}
    beta = 0.3 + 0.15 * np.abs(F)  # Richardson et al. (2006): scale grows linearly with |flux|
    np.testing.assert_allclose(np.asarray(e.scale_of(F, p)), beta, rtol=1e-15, atol=0)
    d = e.distribution(F, p)
    assert d.batch_shape == F.shape
    np.testing.assert_allclose(np.asarray(d.log_prob(Y)), st.laplace.logpdf(Y, F, beta), rtol=RTOL_PDF, atol=0)
    # combine: total sd sqrt(unc^2 + 2 beta^2) -> Laplace scale total sd / sqrt(2)
    beta_tot = np.sqrt(UNC**2 + 2 * beta**2) / np.sqrt(2)
    lp = e.distribution(F, p, unc=UNC).log_prob(Y)
    np.testing.assert_allclose(np.asarray(lp), st.laplace.logpdf(Y, F, beta_tot), rtol=RTOL_PDF, atol=0)
    lp = ErrorModel("laplace_hetero", use_obs_uncertainty="only").distribution(F, {}, unc=UNC).log_prob(Y)
    np.testing.assert_allclose(np.asarray(lp), st.laplace.logpdf(Y, F, UNC / np.sqrt(2)), rtol=RTOL_PDF, atol=0)


def _ar1_cov(sd, rho, steps):
    """Covariance of a stationary AR(1) with marginal sds ``sd`` at integer grid positions ``steps``."""
    k = np.abs(steps[:, None] - steps[None, :])
    return np.outer(sd, sd) * rho**k


def test_ar1_gap_free_sum_equals_multivariate_normal():
    rng = np.random.default_rng(1)
    n, rho, sigma = 60, 0.7, 0.8
    loc = rng.normal(size=n)
    y = loc + rng.normal(size=n)
    d = ErrorModel("ar1", sigma=sigma, rho=rho).distribution(loc, {"sigma": sigma, "rho": rho})
    assert d.batch_shape == (n,)
    ours = float(d.log_prob(y).sum())
    ref = st.multivariate_normal(loc, _ar1_cov(np.full(n, sigma), rho, np.arange(n))).logpdf(y)
    # exact identity (chain rule of a Markov process); 1e-8 covers scipy's Cholesky round-off
    assert ours == pytest.approx(ref, rel=1e-8)


def test_ar1_with_gaps_and_sites_equals_marginal_multivariate_normal():
    rng = np.random.default_rng(2)
    n, rho, sigma = 40, 0.55, 0.5
    mask = rng.random((2, n)) > 0.35
    mask[1, :3] = False  # second site starts with a gap
    lag = ar1_lags(mask)
    loc = rng.normal(size=(2, n))
    y = np.where(mask, loc + rng.normal(size=(2, n)), 1e6)  # absurd fillers at gaps must not matter
    unc = 0.1 + rng.random((2, n))
    e = ErrorModel("ar1", sigma=sigma, rho=rho)
    lp = pointwise_log_likelihood(loc, y, mask, BiasModel(), e, {}, {"sigma": sigma, "rho": rho}, np.arange(n),
                                  unc=unc, lag=lag)
    assert np.all(np.asarray(lp)[~mask] == 0.0)
    for s in range(2):
        steps = np.nonzero(mask[s])[0]
        sd = np.sqrt(unc[s, steps] ** 2 + sigma**2)  # heteroscedastic marginal sd, AR(1) correlation
        ref = st.multivariate_normal(loc[s, steps], _ar1_cov(sd, rho, steps)).logpdf(y[s, steps])
        assert float(lp[s].sum()) == pytest.approx(ref, rel=1e-8)  # as above


def test_ar1_lags():
    m = np.array([[True, False, False, True, True, False], [False, False, True, False, True, True]])
    np.testing.assert_array_equal(ar1_lags(m), [[0, 0, 0, 3, 1, 0], [0, 0, 0, 0, 2, 1]])
    np.testing.assert_array_equal(ar1_lags(np.ones(4, bool)), [0, 1, 1, 1])
    assert ar1_lags(m).dtype == np.int64


def test_ar1_sample_autocorrelation_and_variance():
    n, rho, sigma = 20000, 0.6, 1.3
    d = AR1Residuals(jnp.zeros(n), sigma, rho)
    x = np.asarray(d.sample(jax.random.PRNGKey(3)))
    r1 = np.corrcoef(x[:-1], x[1:])[0, 1]
    se = 1.0 / np.sqrt(n)  # standard error of a lag-1 autocorrelation estimate (two-sided, 4 SE)
    assert abs(r1 - rho) < 4 * se
    # marginal variance sigma^2: sd of the sample variance of an AR(1) ~ sigma^2 sqrt(2 (1+rho^2)/(1-rho^2) / n)
    se_var = sigma**2 * np.sqrt(2 * (1 + rho**2) / (1 - rho**2) / n)
    assert abs(x.var() - sigma**2) < 4 * se_var
    assert d.sample(jax.random.PRNGKey(0), (5,)).shape == (5, n)


def test_ar1_log_prob_gradient_matches_finite_differences():
    rng = np.random.default_rng(4)
    mask = rng.random(30) > 0.3
    lag = ar1_lags(mask)
    loc, y = rng.normal(size=30), rng.normal(size=30)

    def f(theta):
        lp = AR1Residuals(loc + theta[0], theta[1], theta[2], lag).log_prob(y)
        return jnp.sum(jnp.where(mask, lp, 0.0))

    theta = jnp.array([0.1, 0.9, 0.4])
    g = np.asarray(jax.grad(f)(theta))
    h = 1e-6
    fd = np.array([(f(theta.at[i].add(h)) - f(theta.at[i].add(-h))) / (2 * h) for i in range(3)])
    # central differences: truncation O(h^2 f''') ~ 1e-10, round-off ~ 1e-16 |f| / h ~ 1e-9
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


def test_error_site_names():
    cases = {
        "gaussian": (ErrorModel("gaussian", scale=1.0), {"X_sigma"}),
        "student_t": (ErrorModel("student_t", scale=1.0), {"X_sigma", "X_df"}),
        "laplace_hetero": (ErrorModel("laplace_hetero", scale=1.0), {"X_err_a", "X_err_b"}),
        "ar1": (ErrorModel("ar1", scale=1.0), {"X_sigma", "X_ar1_rho"}),
        "fixed": (ErrorModel("ar1", sigma=0.5, rho=0.3), set()),
    }
    for kind, (e, expected) in cases.items():
        tr = _trace(lambda e=e: e.sample("X"))
        assert set(tr) == expected, kind
        assert all(v["value"].shape == () for v in tr.values())
    tr = _trace(lambda: ErrorModel("ar1", scale=1.0, rho=PriorSpec.beta(2.0, 2.0)).sample("X"))
    assert type(tr["X_ar1_rho"]["fn"]).__name__ == "Beta"


# ---------------------------------------------------------------------------------------------------
# likelihood: observe, masking
# ---------------------------------------------------------------------------------------------------
def test_masked_points_contribute_zero_and_match_pointwise():
    mask = np.array([[True, False, True, True], [False, True, True, False]])
    bias, error = BiasModel("additive", add=0.2), ErrorModel("student_t", sigma=0.6, df=5.0)

    def model(y):
        bp, ep = bias.sample("NEE"), error.sample("NEE")
        observe("NEE", jnp.asarray(F), y, jnp.asarray(mask), bias, error, bp, ep, np.arange(4.0))

    lp_a, _ = log_density(model, (jnp.asarray(np.where(mask, Y, 0.0)),), {}, {})
    lp_b, _ = log_density(model, (jnp.asarray(np.where(mask, Y, np.nan)),), {}, {})  # NaN fillers
    ref = st.t.logpdf(Y, 5.0, F + 0.2, 0.6)[mask].sum()
    assert float(lp_a) == pytest.approx(ref, rel=RTOL_PDF) and float(lp_b) == pytest.approx(ref, rel=RTOL_PDF)
    pw = pointwise_log_likelihood(F, np.where(mask, Y, np.nan), mask, bias, error, {"add": 0.2},
                                  {"sigma": 0.6, "df": 5.0}, np.arange(4.0))
    assert np.all(np.asarray(pw)[~mask] == 0.0)
    assert float(pw.sum()) == pytest.approx(ref, rel=RTOL_PDF)
    # gradients stay finite with NaN fillers
    g = jax.grad(lambda f: pointwise_log_likelihood(f, np.where(mask, Y, np.nan), mask, bias, error, {"add": 0.2},
                                                    {"sigma": 0.6, "df": 5.0}, np.arange(4.0)).sum())(jnp.asarray(F))
    assert np.all(np.isfinite(np.asarray(g))) and np.all(np.asarray(g)[~mask] == 0.0)


def test_observe_samples_without_obs_and_sites_of_a_stream():
    cfg = StreamConfig.from_dict({"name": "LE", "bias": {"kind": "both"}, "error": {"kind": "ar1"}})

    def model():
        bp, ep = cfg.bias.sample(cfg.name), cfg.error.sample(cfg.name)
        return observe(cfg.name, jnp.asarray(F), None, None, cfg.bias, cfg.error, bp, ep, np.arange(4.0),
                       lag=ar1_lags(np.ones(F.shape, bool)))

    tr = _trace(model)
    assert set(tr) == {"LE", "LE_bias_add", "LE_bias_mult", "LE_sigma", "LE_ar1_rho"}
    assert tr["LE"]["value"].shape == F.shape and not tr["LE"]["is_observed"]
    assert np.all(np.isfinite(np.asarray(tr["LE"]["value"])))


# ---------------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------------
def test_stream_defaults():
    c = StreamConfig.from_dict({"name": "NEE"})
    assert (c.variable, c.support, c.how, c.bias.kind, c.error.kind) == ("NEE", "daily", "mean", "none", "gaussian")
    assert c.error.sigma == PriorSpec.halfnormal(1.0)
    assert StreamConfig("RECO").variable == "Reco"
    b = StreamConfig("biomass")
    assert (b.variable, b.support) == ("C_woo_end", "instant")
    assert StreamConfig("LE", bias="additive").bias.add == PriorSpec.normal(0.0, 10.0)  # stream-unit default scale
    # a halfnormal prior without scale takes the stream's scale
    assert StreamConfig.from_dict({"name": "ET", "error": {"sigma": {"prior": "halfnormal"}}}).error.sigma == \
        PriorSpec.halfnormal(0.5)
    # demo-style dicts, round trip
    for d in ({"name": "LAI", "support": "8D", "how": "mean", "error": {"kind": "gaussian", "sigma": 0.1}},
              {"name": "NEE", "uncertainty": "NEE_VUT_REF_RANDUNC", "error": {"kind": "laplace_hetero"}},
              {"name": "SIF", "support": "monthly",
               "bias": {"kind": "linear", "slope": {"prior": "lognormal", "loc": -2.3, "scale": 1.0}}},
              {"name": "LE", "bias": {"kind": "seasonal", "n_harmonics": 2}, "error": "student_t"}):
        c = StreamConfig.from_dict(d)
        assert StreamConfig.from_dict(c.to_dict()) == c
        hash(c)


@pytest.mark.parametrize(
    "d,match",
    [
        ({"name": "FPAR"}, r"stream 'FPAR': unknown stream name and no `variable`"),
        ({"name": "NEE", "support": "weekly"}, r"stream 'NEE'.support: unknown support 'weekly'"),
        ({"name": "NEE", "bias": {"kind": "offset"}}, r"stream 'NEE': bias.kind: unknown bias kind 'offset'"),
        ({"name": "NEE", "error": {"kind": "cauchy"}}, r"stream 'NEE': error.kind: unknown error kind 'cauchy'"),
        ({"name": "NEE", "error": {"sigma": {"prior": "halfnormal", "scale": -1.0}}},
         r"stream 'NEE': error.sigma.scale must be positive; got -1.0"),
        ({"name": "NEE", "error": {"sigma": -0.5}}, r"stream 'NEE': error.sigma must be a positive number"),
        ({"name": "LE", "bias": {"kind": "additive", "scale": -2}}, r"stream 'LE': bias.scale must be a positive"),
        ({"name": "NEE", "error": {"kind": "ar1", "rho": 1.0}},
         r"stream 'NEE': error.rho must be a number in \[0, 1\)"),
        ({"name": "NEE", "error": {"kind": "ar1", "rho": {"prior": "halfnormal", "scale": 1.0}}},
         r"stream 'NEE': error.rho: a halfnormal prior .* outside"),
        ({"name": "NEE", "sigma": 1.0}, r"stream 'NEE': unknown key\(s\) \['sigma'\]"),
        ({"name": "NEE", "error": {"kind": "gaussian", "sd": 1.0}}, r"stream 'NEE': error: unknown key\(s\) \['sd'\]"),
        ({"name": "NEE", "bias": {"kind": "additive", "shift": 1.0}},
         r"stream 'NEE': bias: unknown key\(s\) \['shift'\]"),
        ({"name": "NEE", "error": {"sigma": {"prior": "halfnormal", "sd": 1.0}}},
         r"stream 'NEE': error.sigma: unknown argument\(s\) \['sd'\]"),
        ({"name": "NEE", "error": {"sigma": {"prior": "wishart"}}}, r"stream 'NEE': error.sigma: unknown prior family"),
        ({"name": "NEE", "how": "median"}, r"stream 'NEE'.how must be one of"),
        ({"name": "Foo", "variable": "GPP"}, r"stream 'Foo': error.sigma: error kind 'gaussian' needs 'sigma'"),
        ({"name": "SIF"}, r"stream 'SIF': SIF is compared with model GPP through a linear map"),
        ({"name": "NEE", "error": {"use_obs_uncertainty": "only"}}, r"stream 'NEE': .*'only' needs `uncertainty`"),
        ({"name": "NEE", "error": {"kind": "gaussian", "df": 4}}, r"stream 'NEE': error.df is not used"),
        ({"name": "NEE-night"}, r"stream name must be letters, digits and '_'"),
        ({"support": "daily"}, r"a stream needs a 'name'"),
    ],
)
def test_configuration_errors(d, match):
    with pytest.raises(ConfigurationError, match=match):
        StreamConfig.from_dict(d)


def test_obs_does_not_import_xarray():
    code = "import sys, bayeslsm.obs; sys.exit(int('xarray' in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
