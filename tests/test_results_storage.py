"""Compact, atomic posterior.nc (bayeslsm.infer.results.save/load): same az.loo, plots and report; size;
no temporary file left after an error or a kill while saving."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from bayeslsm._compat import import_arviz
from bayeslsm.data.synthetic import weather_generator
from bayeslsm.infer import Calibration, load, save, twin_experiment
from bayeslsm.infer.results import LOG_LIKELIHOOD_RESOLUTION, remove_stale_temporaries

az = import_arviz()

STREAMS = [
    {"name": "NEE", "support": "daily", "error": {"kind": "gaussian", "sigma": {"prior": "halfnormal", "scale": 1.0}}},
    {"name": "LAI", "support": "8D", "how": "mean", "error": {"kind": "gaussian", "sigma": 0.1}},
]


@pytest.fixture(scope="module")
def fitted():
    forcing = weather_generator(years=1, lat=45.0, seed=4, site="s").isel(time=slice(0, 150))
    obs, _ = twin_experiment("vsem", forcing, STREAMS, {"LUE": 0.0025, "NEE_sigma": 0.5}, gaps=0.2, seed=6)
    cal = Calibration("vsem", forcing, obs, STREAMS, free=["LUE", "GAMMA"])
    return cal, cal.nuts(chains=2, warmup=60, draws=60, seed=1, progress=False, prior_draws=30)


def _loo(idata, stream):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pareto-k warnings of a 120-draw toy fit
        return az.loo(idata, var_name=stream, pointwise=True)


def test_compact_file_gives_the_same_loo_parameters_and_attrs(fitted, tmp_path):
    _, idata = fitted
    back = load(save(idata, tmp_path / "posterior.nc"))
    for stream in ("NEE", "LAI"):
        n = idata.log_likelihood[stream].sizes[f"{stream}_obs"]
        a, b = _loo(idata, stream), _loo(back, stream)
        # log-likelihoods stored to 1e-3 nat: each elpd_i moves by at most half of that
        bound = LOG_LIKELIHOOD_RESOLUTION / 2 * (1 + 1e-9)
        assert np.max(np.abs(a.loo_i.values - b.loo_i.values)) <= bound
        assert abs(a.elpd_loo - b.elpd_loo) <= n * bound
        assert back.log_likelihood[stream].dtype == np.float64
    # parameters, sample statistics and observations are stored exactly
    for g in ("posterior", "prior", "sample_stats", "observed_data"):
        for v in idata[g].data_vars:
            np.testing.assert_array_equal(back[g][v].values, idata[g][v].values)
    # attributes stored once in the file, given back to every group
    for g in idata.groups():
        assert dict(back[g].attrs) == dict(idata[g].attrs), g


def test_float32_precision_option(fitted, tmp_path):
    _, idata = fitted
    back = load(save(idata, tmp_path / "p32.nc", precision="float32"))
    a, b = _loo(idata, "NEE"), _loo(back, "NEE")
    ll = idata.log_likelihood["NEE"].values
    # float32 rounds each value by at most 2**-24 relative; elpd_i moves by at most the largest change
    assert np.max(np.abs(a.loo_i.values - b.loo_i.values)) <= np.max(np.abs(ll)) * 2.0**-24 * 1.01
    with pytest.raises(ValueError, match="precision"):
        save(idata, tmp_path / "x.nc", precision="float16")


def test_predictive_values_within_the_stated_resolution(fitted, tmp_path):
    _, idata = fitted
    back = load(save(idata, tmp_path / "posterior.nc"))
    for g in ("posterior_predictive", "prior_predictive"):
        for v in idata[g].data_vars:
            x = idata[g][v].values
            res = idata[g][v].attrs["resolution"]
            err = np.abs(back[g][v].values - x)
            # rounding to the grid, plus the arithmetic of the encoding in the variable's own precision
            # (float32 for daily trajectories)
            slack = 8 * np.finfo(x.dtype).eps * np.nanmax(np.abs(x))
            assert np.nanmax(err) <= res / 2 + slack, (g, v)
            assert np.array_equal(np.isnan(back[g][v].values), np.isnan(idata[g][v].values))


def test_compact_file_is_much_smaller_than_the_old_layout(fitted, tmp_path):
    _, idata = fitted
    old = tmp_path / "old.nc"
    idata.to_netcdf(str(old), engine="h5netcdf")  # the layout save() wrote before: uncompressed, float64
    new = save(idata, tmp_path / "new.nc")
    ratio = os.path.getsize(new) / os.path.getsize(old)
    print(f"posterior.nc: old layout {os.path.getsize(old)} B, compact {os.path.getsize(new)} B, ratio {ratio:.3f}")
    # measured 0.37 here (daily trajectories of every draw kept; the demo, with 100 daily draws and no
    # noise-free copies: 96 MB -> 9.0 MB); half the old size would mean compression or packing is off
    assert ratio < 0.5


def test_report_and_plots_from_a_compact_file(fitted, tmp_path):
    from bayeslsm.diagnostics import write_report

    _, idata = fitted
    back = load(save(idata, tmp_path / "posterior.nc"))
    md = write_report(back, tmp_path / "report").read_text()
    assert "predictive_NEE.png" in md and "predictive_LAI.png" in md
    assert (tmp_path / "report" / "predictive_NEE.png").stat().st_size > 1000


def test_daily_and_model_points_options(fitted):
    import jax

    from bayeslsm.infer import build_inference_data

    cal, idata = fitted
    # the fit's posterior draws again, through the predictive pass with other storage options
    samples = {k: idata.posterior[k].values for k in ("LUE", "GAMMA", "NEE_sigma")}
    key = jax.random.PRNGKey(0)
    thin = build_inference_data(cal, samples, None, {}, key, key, prior_draws=0, daily=7, model_points=False)
    names = [v for v in thin.posterior_predictive.data_vars if v.endswith("_daily")]
    assert sorted(names) == sorted({f"{sd.config.variable}_daily" for sd in cal.streams})
    d = thin.posterior_predictive[names[0]].values.reshape(120, -1)
    assert int(np.sum(np.all(np.isfinite(d), axis=1))) == 7 and int(np.sum(np.all(np.isnan(d), axis=1))) == 113
    assert not any(v.endswith("_model") for v in thin.posterior_predictive.data_vars)
    # same draws, same keys: the replicated observations do not depend on what else is stored
    full = build_inference_data(cal, samples, None, {}, key, key, prior_draws=0)
    np.testing.assert_array_equal(thin.posterior_predictive["NEE"].values, full.posterior_predictive["NEE"].values)
    with pytest.raises(ValueError, match="daily"):
        build_inference_data(cal, samples, None, {}, key, key, prior_draws=0, daily=-1)


def test_error_while_saving_leaves_no_temporary_and_the_old_file(fitted, tmp_path, monkeypatch):
    import xarray as xr

    _, idata = fitted
    path = save(idata, tmp_path / "posterior.nc")
    before = path.read_bytes()
    calls = {"n": 0}
    real = xr.Dataset.to_netcdf

    def failing(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full (simulated)")
        return real(self, *a, **k)

    monkeypatch.setattr(xr.Dataset, "to_netcdf", failing)
    with pytest.raises(OSError, match="disk full"):
        save(idata, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["posterior.nc"]


_SLOW_SAVER = textwrap.dedent("""
    import sys, time
    import numpy as np, xarray as xr
    import bayeslsm
    from bayeslsm._compat import import_arviz
    from bayeslsm.infer import save
    az = import_arviz()
    idata = az.InferenceData(posterior=xr.Dataset({"a": (("chain", "draw"), np.zeros((2, 50)))}),
                             sample_stats=xr.Dataset({"lp": (("chain", "draw"), np.zeros((2, 50)))}))
    real = xr.Dataset.to_netcdf
    def slow(self, *a, **k):
        out = real(self, *a, **k)
        print("writing", flush=True)
        time.sleep(60)
        return out
    xr.Dataset.to_netcdf = slow
    save(idata, sys.argv[1])
""")


def _kill_mid_save(tmp_path, sig):
    target = tmp_path / "posterior.nc"
    target.write_bytes(b"previous result")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_SAVER, str(target)], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout.readline().strip() == b"writing"  # the temporary file is half written now
        assert len(list(tmp_path.glob("posterior.nc.*.tmp"))) == 1
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert target.read_bytes() == b"previous result"
    return proc.returncode


@pytest.mark.slow
def test_sigterm_while_saving_leaves_no_temporary(tmp_path):
    rc = _kill_mid_save(tmp_path, signal.SIGTERM)
    assert rc == 128 + signal.SIGTERM
    assert sorted(p.name for p in tmp_path.iterdir()) == ["posterior.nc"]


@pytest.mark.slow
def test_temporary_of_a_sigkilled_save_is_removed_by_the_next_save(tmp_path):
    _kill_mid_save(tmp_path, signal.SIGKILL)
    left = list(tmp_path.glob("posterior.nc.*.tmp"))
    assert len(left) == 1  # SIGKILL cannot be intercepted
    # a temporary file of a live process is not touched
    live = tmp_path / f"posterior.nc.{left[0].name.split('.')[2]}.{os.getpid()}.abcdef12.tmp"
    live.write_bytes(b"")
    assert remove_stale_temporaries(tmp_path / "posterior.nc") == [left[0]]
    assert live.exists()
