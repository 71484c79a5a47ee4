"""Twin (identical-twin, OSSE) experiments: synthetic observations from known parameters."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import jax
import numpy as np
import numpyro
import xarray as xr

from bayeslsm.infer.calibration import Calibration, ConfigurationError

__all__ = ["twin_experiment"]


def twin_experiment(
    model,
    forcing: xr.Dataset,
    streams: Sequence,
    truth: Mapping[str, Any],
    *,
    gaps: float | Mapping[str, float] = 0.0,
    seed: int = 0,
    spinup: str = "none",
    n_cycles: int = 5,
) -> tuple[xr.Dataset, dict]:
    """Simulate observations from known ("true") parameters, with chosen noise, bias and gaps.

    Parameters
    ----------
    model
        Process model instance or name.
    forcing
        Forcing dataset (see :class:`~bayeslsm.infer.Calibration`).
    streams
        Stream configurations; their operators, bias models and error models generate the data.
    truth
        True values: model parameters and initial pools by catalogue name (scalars, or arrays of
        shape (site,) for site-varying truths), and bias / error parameters by site name
        (e.g. ``"LE_bias_mult"``, ``"NEE_sigma"``; any not given are drawn from their priors).
    gaps
        Fraction of observations removed at random (per stream if a mapping).
    seed
        Random seed for noise, prior draws of unspecified bias/error parameters and gaps.
    spinup, n_cycles
        Spin-up used to generate the truth.

    Returns
    -------
    (observations, truth)
        ``observations``: ``xarray.Dataset`` on the forcing's daily ``time`` axis (n-day, monthly and
        annual streams on the first day of their periods; NaN elsewhere), with the forcing's ``site``
        layout. ``truth``: every parameter value used, including drawn bias/error parameters.
    """
    probe = Calibration(model, forcing, None, streams, free=(), spinup=spinup, n_cycles=n_cycles)
    specs = probe.catalogue.parameters
    params = {k: v for k, v in truth.items() if k in specs}
    other = {k: np.asarray(v, dtype=float) for k, v in truth.items() if k not in specs}
    cal = Calibration(probe.model, forcing, None, streams, free=(), fixed=params, spinup=spinup, n_cycles=n_cycles)
    key_obs, key_gap = jax.random.split(jax.random.PRNGKey(seed))
    fn = numpyro.handlers.seed(numpyro.handlers.condition(cal.numpyro_model, data=other), key_obs)
    tr = numpyro.handlers.trace(fn).get_trace(obs=None)
    known_sites = {n for n, s in tr.items() if s["type"] == "sample"}
    unknown = set(other) - known_sites
    if unknown:
        raise ConfigurationError(
            f"`truth` names {sorted(unknown)}, which are neither parameters of {cal.model.name!r} nor "
            f"bias/error parameters of the streams; expected parameters from the catalogue or one of "
            f"{sorted(known_sites - {sd.config.name for sd in cal.streams})}"
        )
    rng = np.random.default_rng(int(jax.random.randint(key_gap, (), 0, 2**31 - 1)))
    out = {}
    for sd in cal.streams:
        name = sd.config.name
        y = np.asarray(tr[name]["value"], dtype=float)  # (site, n_support)
        frac = gaps.get(name, 0.0) if isinstance(gaps, Mapping) else float(gaps)
        if not 0.0 <= frac < 1.0:
            raise ConfigurationError(f"`gaps` for stream {name!r} must be in [0, 1); got {frac}")
        y = np.where(rng.random(y.shape) < frac, np.nan, y)
        full = np.full((cal.n_site, cal.time.size), np.nan)
        pos = np.searchsorted(cal.time, sd.support_time)
        full[:, pos] = y
        out[name] = (("site", "time"), full)
    obs = xr.Dataset(out, coords={"site": list(cal.sites), "time": cal.time.astype("datetime64[ns]")})
    if "site" not in forcing.dims:
        obs = obs.isel(site=0, drop=True)
    used = dict(params)
    for n in known_sites - {sd.config.name for sd in cal.streams}:
        used[n] = np.asarray(tr[n]["value"]).tolist()
    return obs, used
