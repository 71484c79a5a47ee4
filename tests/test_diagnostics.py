"""Diagnostics on a hand-built InferenceData with the layout of bayeslsm.infer.results."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")  # before pyplot: the tests never open windows

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from bayeslsm._compat import import_arviz  # noqa: E402
from bayeslsm.diagnostics import (  # noqa: E402
    SamplingWarning,
    check_sampling,
    parameter_table,
    plot_forest,
    plot_pairs,
    plot_predictive,
    plot_prior_posterior,
    plot_sbc_hist,
    plot_shrinkage,
    plot_trace,
    sbc_ranks,
    sbc_uniformity_pvalue,
    stream_variable,
    summarize,
    uncertainty_reduction,
    write_report,
    write_summary_json,
)

az = import_arviz()

N_CHAIN, N_DRAW, N_PRIOR = 2, 100, 200
SITES, PFTS = ["s1", "s2"], ["DBF"]
TIME = np.arange("2020-01-01", "2020-03-01", dtype="datetime64[D]").astype("datetime64[ns]")  # 60 days
WALL = 12.5  # [s]
N_DIVERGENT, N_SATURATED = 3, 4


def _idata():
    rng = np.random.default_rng(20240611)
    coords = {"chain": np.arange(N_CHAIN), "draw": np.arange(N_DRAW), "site": SITES, "pft": PFTS, "time": TIME}
    lead = (N_CHAIN, N_DRAW)
    a = 1.0 + 0.1 * rng.standard_normal(lead)
    b = np.stack([2.0 + 2.0 * (a - 1.0) + 0.05 * rng.standard_normal(lead),  # b[s1] ~ a: r ≈ 0.97
                  3.0 + 0.2 * rng.standard_normal(lead)], axis=-1)
    b_pft = 2.5 + 0.3 * rng.standard_normal(lead + (1,))
    posterior = xr.Dataset({"a": (("chain", "draw"), a), "b": (("chain", "draw", "site"), b),
                            "b_pft": (("chain", "draw", "pft"), b_pft)}, coords=coords)
    pcoords = {**coords, "chain": [0], "draw": np.arange(N_PRIOR)}
    prior = xr.Dataset({
        "a": (("chain", "draw"), 1.0 + rng.standard_normal((1, N_PRIOR))),
        "b": (("chain", "draw", "site"), 2.5 + rng.standard_normal((1, N_PRIOR, 2))),
        "b_pft": (("chain", "draw", "pft"), 2.5 + rng.standard_normal((1, N_PRIOR, 1))),
    }, coords=pcoords)

    # 30 observed NEE points: 15 days at each site, site-major
    t_idx = np.sort(rng.choice(60, 15, replace=False))
    si, ti = np.repeat([0, 1], 15), np.tile(t_idx, 2)
    obs_coords = {"NEE_site": ("NEE_obs", np.asarray(SITES)[si]), "NEE_time": ("NEE_obs", TIME[ti])}
    seasonal = np.sin(2 * np.pi * np.arange(60) / 60.0)
    daily = (b[..., None] * seasonal + 0.1 * rng.standard_normal(lead + (2, 60))).astype(np.float32)
    model_pts = daily[..., si, ti].astype(float)
    rep = model_pts + 0.3 * rng.standard_normal(model_pts.shape)
    posterior_predictive = xr.Dataset({
        "NEE": (("chain", "draw", "NEE_obs"), rep),
        "NEE_model": (("chain", "draw", "NEE_obs"), model_pts),
        "nee_daily": (("chain", "draw", "site", "time"), daily),
    }, coords=coords).assign_coords(obs_coords)
    observed = xr.Dataset({"NEE": (("NEE_obs",), np.array([2.0, 3.0])[si] * seasonal[ti]
                                   + 0.3 * rng.standard_normal(30))}).assign_coords(obs_coords)
    prior_predictive = xr.Dataset({
        "NEE": (("chain", "draw", "site", "NEE_time"), rng.standard_normal((1, N_PRIOR, 2, 60))),
        "nee_daily": (("chain", "draw", "site", "time"), rng.standard_normal((1, N_PRIOR, 2, 60))),
    }, coords={**pcoords, "NEE_time": TIME})

    diverging = np.zeros(lead, dtype=bool)
    diverging.flat[[5, 50, 150]] = True
    tree_depth = rng.integers(2, 6, size=lead)
    tree_depth.flat[[1, 2, 120, 199]] = 10
    sample_stats = xr.Dataset({
        "diverging": (("chain", "draw"), diverging),
        "tree_depth": (("chain", "draw"), tree_depth),
        "n_steps": (("chain", "draw"), 2 ** tree_depth - 1),
        "energy": (("chain", "draw"), rng.standard_normal(lead)),
    }, coords={"chain": coords["chain"], "draw": coords["draw"]})

    attrs = {
        "model": "toy",
        "free_parameters": json.dumps(["a", "b"]),
        "streams": json.dumps(["NEE"]),
        "stream_config": json.dumps({"NEE": "StreamConfig(name='NEE', variable='nee', support='daily')"}),
        "sites": json.dumps(SITES),
        "site_pft": json.dumps(["DBF", "DBF"]),
        "sampler": json.dumps({"method": "nuts", "chains": N_CHAIN, "warmup": 100, "draws": N_DRAW,
                               "max_tree_depth": 10, "target_accept": 0.8, "seed": 0,
                               "sampling_wall_seconds": WALL}),
        "versions": json.dumps({"bayeslsm": "0.1.0"}),
    }
    groups = dict(posterior=posterior, prior=prior, sample_stats=sample_stats, observed_data=observed,
                  posterior_predictive=posterior_predictive, prior_predictive=prior_predictive)
    for g in groups.values():
        g.attrs.update(attrs)
    return az.InferenceData(**groups)


@pytest.fixture(scope="module")
def idata():
    return _idata()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _python_values(obj):
    """Every leaf is a plain Python scalar, string or None."""
    if isinstance(obj, dict):
        return all(_python_values(v) for v in obj.values())
    if isinstance(obj, list):
        return all(_python_values(v) for v in obj)
    return obj is None or type(obj) in (bool, int, float, str)


# ---------------------------------------------------------------------------------------------
# summary


def test_summarize_matches_direct_computation(idata, tmp_path):
    s = summarize(idata)
    post = idata.posterior

    def all_values(ds):
        v = np.concatenate([np.ravel(ds[k].values) for k in ds.data_vars])
        return v[np.isfinite(v)]

    assert s["max_r_hat"] == pytest.approx(all_values(az.rhat(post)).max(), rel=1e-12)
    assert s["min_ess_bulk"] == pytest.approx(all_values(az.ess(post, method="bulk")).min(), rel=1e-12)
    assert s["min_ess_tail"] == pytest.approx(all_values(az.ess(post, method="tail")).min(), rel=1e-12)
    assert s["divergences"] == N_DIVERGENT
    assert s["tree_depth_saturation"] == pytest.approx(N_SATURATED / (N_CHAIN * N_DRAW), abs=1e-15)
    assert s["sampling_wall_seconds"] == WALL
    assert s["min_ess_bulk_per_second"] == pytest.approx(s["min_ess_bulk"] / WALL, rel=1e-12)
    assert s["n_draws"] == N_CHAIN * N_DRAW
    assert _python_values(s)
    json.dumps(s, allow_nan=False)  # strict JSON

    rows = {r["parameter"]: r for r in s["parameters"]}
    assert set(rows) == {"a", "b[s1]", "b[s2]", "b_pft"}
    b2 = post["b"].sel(site="s2").values.ravel()
    assert rows["b[s2]"]["mean"] == pytest.approx(b2.mean(), rel=1e-12)
    assert rows["b[s2]"]["sd"] == pytest.approx(b2.std(ddof=1), rel=1e-12)
    assert rows["b[s2]"]["lower"] == pytest.approx(np.quantile(b2, 0.05), rel=1e-12)
    assert rows["b[s2]"]["upper"] == pytest.approx(np.quantile(b2, 0.95), rel=1e-12)
    assert rows["b[s2]"]["r_hat"] == pytest.approx(float(az.rhat(post)["b"].sel(site="s2")), rel=1e-12)

    # the report's numbers agree with the lead's checks
    rep = check_sampling(idata, warn=False)
    assert rep.divergences == s["divergences"]
    assert rep.tree_depth_saturation == s["tree_depth_saturation"]

    out = write_summary_json(s, tmp_path / "sub" / "summary.json")
    assert json.loads(out.read_text())["divergences"] == N_DIVERGENT
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind


def test_summarize_without_sampler_attrs(idata):
    bare = idata.copy()
    for g in bare.groups():
        bare[g].attrs = {}
    s = summarize(bare)
    assert s["sampling_wall_seconds"] is None and s["min_ess_bulk_per_second"] is None
    assert s["divergences"] == N_DIVERGENT


def test_truth_coverage_is_two_sided(idata):
    post = idata.posterior
    a_mean = float(post["a"].mean())
    b_sd = float(post["b"].sel(site="s1").std())
    b1_mean = float(post["b"].sel(site="s1").mean())
    truth = {"a": a_mean,  # inside
             "b": [b1_mean - 50 * b_sd, float(post["b"].sel(site="s2").median())],  # below, inside
             "not_a_parameter": 1.0}
    tr = summarize(idata, truth=truth, ci_prob=0.9)["truth"]
    rows = {r["parameter"]: r for r in tr["table"]}
    assert [rows[k]["covered"] for k in ("a", "b[s1]", "b[s2]")] == [True, False, True]
    assert (tr["n_checked"], tr["n_covered"]) == (3, 2)
    assert tr["coverage"] == pytest.approx(2 / 3, abs=1e-15)
    assert tr["not_in_posterior"] == ["not_a_parameter"]
    assert rows["a"]["mean"] == pytest.approx(a_mean, rel=1e-12)
    assert rows["b[s2]"]["median"] == pytest.approx(truth["b"][1], rel=1e-12)
    a = post["a"].values.ravel()
    assert (rows["a"]["lower"], rows["a"]["upper"]) == pytest.approx(tuple(np.quantile(a, [0.05, 0.95])))

    above = summarize(idata, truth={"a": a_mean + 50 * float(post["a"].std())})["truth"]
    assert above["table"][0]["covered"] is False and above["coverage"] == 0.0
    # a scalar truth applies to every site
    assert [r["covered"] for r in summarize(idata, truth={"b": 1e6})["truth"]["table"]] == [False, False]
    # the interval width follows ci_prob: a truth at the 80% quantile is inside 90% but not 50%
    q80 = float(np.quantile(a, 0.8))
    assert summarize(idata, truth={"a": q80}, ci_prob=0.9)["truth"]["coverage"] == 1.0
    assert summarize(idata, truth={"a": q80}, ci_prob=0.5)["truth"]["coverage"] == 0.0


def test_truth_shape_mismatch_names_the_variable(idata):
    with pytest.raises(ValueError, match=r"truth\['b'\].*shape \(3,\).*\(2,\)"):
        summarize(idata, truth={"b": [1.0, 2.0, 3.0]})


def test_uncertainty_reduction(idata):
    ur = uncertainty_reduction(idata)
    post, prior = idata.posterior, idata.prior
    for name in ("a", "b_pft"):
        expected = 1 - post[name].values.std(ddof=1) / prior[name].values.std(ddof=1)
        assert np.ravel(ur[name])[0] == pytest.approx(expected, rel=1e-12)
    b_exp = 1 - post["b"].values.reshape(-1, 2).std(axis=0, ddof=1) / prior["b"].values.reshape(-1, 2).std(
        axis=0, ddof=1)
    assert ur["b"] == pytest.approx(list(b_exp), rel=1e-12)
    # constructed sd: posterior 0.1, prior 1 -> 0.9, up to sampling error of both sds (about ±0.01)
    assert ur["a"] == pytest.approx(0.9, abs=0.03)
    assert isinstance(ur["a"], float) and isinstance(ur["b"], list)

    with pytest.raises(ValueError, match="prior"):
        uncertainty_reduction(az.InferenceData(posterior=idata.posterior))


# ---------------------------------------------------------------------------------------------
# plots


def _has_data(fig) -> bool:
    return any(ax.lines or ax.collections or ax.patches for ax in fig.axes)


def _check_figure(fig, path):
    assert isinstance(fig, matplotlib.figure.Figure)
    assert fig.axes and _has_data(fig)
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name, call", [
    ("trace", lambda d, p: plot_trace(d, path=p)),
    ("pairs", lambda d, p: plot_pairs(d, path=p)),
    ("pairs_named", lambda d, p: plot_pairs(d, var_names=["a", "b"], path=p)),
    ("predictive", lambda d, p: plot_predictive(d, "NEE", site=1, path=p)),
    ("predictive_prior", lambda d, p: plot_predictive(d, "NEE", site="s1", group="prior_predictive", path=p)),
    ("prior_posterior", lambda d, p: plot_prior_posterior(d, path=p)),
    ("forest", lambda d, p: plot_forest(d, ["b", "b_pft"], path=p)),
    ("shrinkage", lambda d, p: plot_shrinkage(d, "b", path=p)),
])
def test_plots_return_figures_and_save_png(idata, tmp_path, name, call):
    path = tmp_path / f"{name}.png"
    fig = call(idata, path)
    _check_figure(fig, path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_plot_pairs_picks_the_most_correlated_pair(idata):
    fig = plot_pairs(idata, max_vars=2)
    labels = {ax.get_xlabel() for ax in fig.axes} | {ax.get_ylabel() for ax in fig.axes}
    assert {"a", "b[s1]"} <= labels


def test_plot_predictive_draws_band_observations_and_intervals(idata):
    fig = plot_predictive(idata, "NEE", site="s2")
    ax = fig.axes[0]
    obs = [ln for ln in ax.lines if ln.get_linestyle() == "None"]
    assert len(obs) == 1 and len(obs[0].get_xdata()) == 15  # the 15 NEE observations at s2
    assert len(ax.collections) == 2  # the daily band and the predictive intervals
    assert "s2" in ax.get_title()


def test_plot_errors_name_what_was_expected(idata):
    with pytest.raises(ValueError, match=r"'LE'.*\['NEE'\]"):
        plot_predictive(idata, "LE")
    with pytest.raises(ValueError, match=r"'s9'.*\['s1', 's2'\]"):
        plot_predictive(idata, "NEE", site="s9")
    with pytest.raises(ValueError, match=r"'a'.*\['b'\]"):
        plot_shrinkage(idata, "a")
    with pytest.raises(ValueError, match=r"\['zz'\]"):
        plot_trace(idata, ["a", "zz"])


def test_stream_variable_from_config_and_fallback(idata):
    assert stream_variable(idata, "NEE") == "nee"
    bare = idata.copy()
    for g in bare.groups():
        bare[g].attrs = {}
    assert stream_variable(bare, "NEE") == "nee"  # case-insensitive match of nee_daily
    for g in bare.groups():
        bare[g].attrs["stream_config"] = json.dumps({"NEE": {"name": "NEE", "variable": "gpp"}})
    assert stream_variable(bare, "NEE") == "gpp"
    assert stream_variable(bare, "LE") == "nee"  # not configured: the only *_daily variable


# ---------------------------------------------------------------------------------------------
# report


def test_write_report(idata, tmp_path):
    truth = {"a": 1.0, "b": [2.0, 3.0]}
    md = write_report(idata, tmp_path / "rep", truth=truth, title="Toy twin")
    assert md == tmp_path / "rep" / "report.md"
    text = md.read_text()
    assert text.startswith("# Toy twin")
    for word in ("NEE", "`a`", "`b[s1]`", "`b[s2]`", "`b_pft`", "divergences", "equifinality"):
        assert word in text, word
    assert "3 of 200 transitions diverged" in text  # check_sampling's advice is quoted
    figures = ["trace.png", "pairs.png", "predictive_NEE.png", "prior_posterior.png", "forest.png"]
    for f in figures:
        assert (md.parent / f).stat().st_size > 1000, f
        assert f"({f})" in text, f
    assert sorted(p.name for p in md.parent.iterdir()) == sorted(figures + ["report.md", "summary.json"])
    summary = json.loads((md.parent / "summary.json").read_text())
    assert summary["truth"]["n_checked"] == 3
    assert plt.get_fignums() == []  # the report closes what it draws


def test_parameter_table_subset(idata):
    rows = parameter_table(idata, ["a"], ci_prob=0.5)
    a = idata.posterior["a"].values.ravel()
    assert [r["parameter"] for r in rows] == ["a"]
    assert rows[0]["lower"] == pytest.approx(np.quantile(a, 0.25), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# simulation-based calibration


def _conjugate_sbc(shift: float, n_sim: int = 400, m: int = 99, seed: int = 7):
    """theta ~ N(0, 1), y ~ N(theta, 1): the exact posterior is N(y / 2, 1 / 2); ``shift`` biases it."""
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(n_sim)
    y = theta + rng.standard_normal(n_sim)
    post = [{"theta": yi / 2 + shift + np.sqrt(0.5) * rng.standard_normal(m)} for yi in y]
    return sbc_ranks({"theta": theta}, post), m


def test_sbc_ranks_count_draws_below():
    r = sbc_ranks({"x": np.array([0.5, -1.0, 9.0])},
                  [{"x": np.array([0.1, 0.2, 0.9])}, {"x": np.array([0.1, 0.2, 0.9])},
                   {"x": np.array([0.1, 0.2, 0.9])}])
    assert r["x"].tolist() == [2, 0, 3]
    with pytest.raises(ValueError, match="expected one per prior draw"):
        sbc_ranks({"x": np.zeros(3)}, [{"x": np.zeros(5)}])


def test_sbc_uniform_for_exact_posterior():
    ranks, m = _conjugate_sbc(shift=0.0)
    assert ranks["theta"].min() >= 0 and ranks["theta"].max() <= m
    p = sbc_uniformity_pvalue(ranks, m)["theta"]
    assert p > 1e-3  # fixed seed; a correct posterior fails this with probability 0.001


def test_sbc_detects_biased_posterior():
    ranks, m = _conjugate_sbc(shift=0.5)  # half a prior sd too high: ranks pile up near 0
    assert sbc_uniformity_pvalue(ranks["theta"], m) < 1e-6
    # P(posterior draw < truth) = Phi(-0.5 / sqrt(0.5 + 0.5)) = 0.3085; the mean of 400 ranks / M has
    # sd about 0.29 / sqrt(400) = 0.015, so ±0.05 is more than 3 sd either side
    assert np.mean(ranks["theta"]) / m == pytest.approx(0.3085, abs=0.05)


def test_plot_sbc_hist(tmp_path):
    ranks, m = _conjugate_sbc(shift=0.0, n_sim=100)
    path = tmp_path / "sbc.png"
    _check_figure(plot_sbc_hist(ranks, m, path=path), path)


_BACKEND_SCRIPT = """
import numpy as np, matplotlib
from bayeslsm.diagnostics import plot_sbc_hist
plot_sbc_hist({{"x": np.arange(40) % 10}}, 9, path={path!r})
print(matplotlib.get_backend().lower())
"""


@pytest.mark.parametrize("env_backend, expected", [(None, "agg"), ("svg", "svg")])
def test_saving_selects_agg_only_when_no_backend_was_chosen(tmp_path, env_backend, expected):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "DISPLAY", "WAYLAND_DISPLAY")}
    if env_backend:
        env["MPLBACKEND"] = env_backend
    path = tmp_path / "sbc.png"
    res = subprocess.run([sys.executable, "-c", _BACKEND_SCRIPT.format(path=str(path))], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    assert res.stdout.strip().splitlines()[-1] == expected
    assert path.stat().st_size > 1000


def _mode_idata(offset, n_chain=4, n_draw=400, seed=0):
    """Posterior of one parameter; the last chain's draws shifted by ``offset`` (a stuck chain)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(220.0, 3.0, size=(n_chain, n_draw))
    x[-1] += offset
    ss = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((n_chain, n_draw), bool)),
                     "tree_depth": (("chain", "draw"), np.full((n_chain, n_draw), 3)),
                     "energy": (("chain", "draw"), rng.normal(size=(n_chain, n_draw)))})
    return az.InferenceData(posterior=xr.Dataset({"d_fall": (("chain", "draw"), x)}), sample_stats=ss)


def test_check_sampling_names_a_stuck_chain():
    rep = check_sampling(_mode_idata(-220.0), warn=False)  # chain 3 sits at d_fall ~ 0
    assert rep.max_rhat > 1.5
    (msg,) = [m for m in rep.messages if "chains disagree" in m]
    assert "d_fall" in msg and "chain 3 sits apart" in msg
    with pytest.warns(SamplingWarning, match="chains disagree"):
        check_sampling(_mode_idata(-220.0))
    # well-mixed chains: R-hat near 1 (two-sided: split R-hat of iid draws is within 1 +- 0.02 here)
    ok = check_sampling(_mode_idata(0.0), warn=False)
    assert abs(ok.max_rhat - 1.0) < 0.02
    assert not [m for m in ok.messages if "chains disagree" in m]


def _slow_idata(n_var=6, step_size=0.5, n_steps=6.0):
    """Chains that each wander slowly (random walks with different offsets in every variable: no single
    outlier chain) and ChEES settings in the posterior attributes."""
    rng = np.random.default_rng(3)
    n_chain, n_draw = 4, 200
    post = {f"v{i}": (("chain", "draw"), np.cumsum(rng.normal(size=(n_chain, n_draw)), axis=1)
                      + 5.0 * rng.normal(size=(n_chain, 1))) for i in range(n_var)}
    ss = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((n_chain, n_draw), bool)),
                     "tree_depth": (("chain", "draw"), np.full((n_chain, n_draw), 3)),
                     "energy": (("chain", "draw"), rng.normal(size=(n_chain, n_draw)))})
    posterior = xr.Dataset(post, attrs={"sampler": json.dumps({"method": "chees", "kernel": "hmc",
                                                               "step_size": step_size,
                                                               "num_leapfrog_steps": n_steps})})
    return az.InferenceData(posterior=posterior, sample_stats=ss)


def test_check_sampling_tells_slow_mixing_everywhere_from_one_stuck_chain():
    rep = check_sampling(_slow_idata(), warn=False)
    (msg,) = [m for m in rep.messages if "chains disagree" in m]
    assert "6 of 6 variables" in msg and "Not one stuck chain" in msg and "sits apart" not in msg
    # one stuck chain among well-mixed ones keeps the original message (test above)
    (one,) = [m for m in check_sampling(_mode_idata(-220.0), warn=False).messages if "chains disagree" in m]
    assert "sits apart" in one


@pytest.mark.parametrize("step_size, n_steps, short", [(0.05, 1.6, True), (0.0071, 4.9, True), (0.43, 5.4, False),
                                                       (0.1, 4.99, True)])
def test_check_sampling_flags_a_crawling_chees_trajectory(step_size, n_steps, short):
    # threshold CHEES_SHORT_TRAJECTORY = 0.5 whitened units; 0.1 x 4.99 = 0.499 is just under it
    from bayeslsm.diagnostics.checks import CHEES_SHORT_TRAJECTORY

    length = step_size * n_steps
    assert (length < CHEES_SHORT_TRAJECTORY) == short
    msgs = [m for m in check_sampling(_slow_idata(step_size=step_size, n_steps=n_steps), warn=False).messages
            if "ChEES adapted trajectories" in m]
    assert bool(msgs) == (length < CHEES_SHORT_TRAJECTORY)
    if msgs:
        assert f"{length:.2g} whitened units" in msgs[0]
