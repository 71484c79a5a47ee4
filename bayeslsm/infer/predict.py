r"""Prediction as a first-class operation: posterior (or prior) predictive on new forcing and at unseen sites.

A calibration's ``InferenceData`` holds draws of the free parameters (per site where they vary by
site), of the PFT level of a hierarchy and of the stream bias and error parameters. :func:`predict`
runs the model with those draws on a **target** :class:`~bayeslsm.infer.Calibration`: the same model,
streams, free parameters and hierarchy on other forcing (held-out years, other sites), built with
:func:`calibration_like` or directly.

Parameter values per target site
--------------------------------
* a site the calibration saw: its own draws (selected by site name);
* an **unseen** site of a PFT the calibration had (partial pooling): a new site deviation from the
  PFT-level posterior, ``z = z_pft[pft] + sd_site * eps``, ``eps ~ N(0, 1)`` drawn afresh per draw
  (``z_pft`` from the recorded ``{name}_pft``; :mod:`bayeslsm.infer.parameters`); a ``pft_only``
  parameter takes ``z_pft`` itself;
* with site covariates in the hierarchy (``Hierarchy(covariates=...)``) an unseen site adds its regression
  term: ``z = z_pft[pft] + x_new · b + sd_site * eps``, with ``x_new`` the target site's covariates
  standardised with the **calibration** sites' mean and sd (``covariate_center`` / ``covariate_scale`` of
  the calibration's ``constant_data``) and ``b`` the ``{name}_coef`` draws;
* an unseen site of a PFT the calibration did not have: a new PFT deviation too,
  ``z_pft = mu + sd_pft * eps_pft`` (``sd_pft`` from its HalfNormal prior when the calibration had a
  single PFT);
* ``mode = "unpooled"`` parameters at an unseen site: a draw from the site's PFT catalogue prior (no
  information transfers between sites in that mode);
* shared (scalar) parameters and stream bias / error parameters: the draws as they are; per-site
  pooled biases (``pooling = "site"``, :mod:`bayeslsm.obs.bias`) at an unseen site:
  ``mu * exp(sd_site * eps)`` (positive) or ``mu + sd_site * eps`` (real).

Spin-up
-------
``spinup_days = k`` spins up on the first ``k`` days of the target forcing only and then simulates
all of it: with the target forcing = calibration window + held-out years and ``k`` = the calibration
length, the trajectories over the calibration window equal the calibration's own (same spin-up, same
days), and the held-out years continue them. ``None`` spins up on the whole target forcing, as a
calibration would.

Outputs
-------
An ``xarray.Dataset`` with dims ``draw``, ``site``, ``{stream}_time`` and ``year``:
``{stream}_model`` (noise-free biased prediction on the stream's support), ``{stream}`` (replicated
observations: bias and noise), ``{var}_annual`` (annual sums of the daily model output ``var``
[its unit x d], e.g. NEE in gC m-2 y-1) with ``n_days`` per year (a partial year sums only its days).
:func:`annual_intervals` turns the annual draws into mean and central intervals.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from bayeslsm.infer import names

__all__ = ["predict", "calibration_like", "calibration_covariate_stats", "annual_intervals"]


def calibration_like(cal, forcing, observations=None, *, fixed: Mapping[str, Any] | None = None):
    """A :class:`~bayeslsm.infer.Calibration` with ``cal``'s model, streams, free parameters, hierarchy,
    spin-up and catalogue on other ``forcing`` (and optional ``observations``).

    ``fixed`` replaces ``cal.fixed`` (needed when ``cal`` has per-site fixed values and the target's
    sites differ); by default ``cal.fixed`` is used when its values are scalars.
    """
    from bayeslsm.infer.calibration import Calibration, ConfigurationError

    if fixed is None:
        per_site = [k for k, v in cal.fixed.items() if np.ndim(v) > 0]
        if per_site:
            raise ConfigurationError(
                f"`fixed` parameters {per_site} have one value per calibration site; pass `fixed` with values for "
                f"the target sites")
        fixed = cal.fixed
    stats = None if cal.covariate_center is None else (cal.covariate_center, cal.covariate_scale)
    return Calibration(cal.model, forcing, observations, streams=[sd.config for sd in cal.streams], free=cal.free,
                       fixed=fixed, hierarchy=cal.hierarchy, spinup=cal.spinup_method, n_cycles=cal.n_cycles,
                       catalogue=cal.catalogue, covariate_stats=stats)


def calibration_covariate_stats(idata, covariates) -> tuple[np.ndarray, np.ndarray]:
    """``(center, scale)`` of the site covariates recorded by a calibration (its ``constant_data``).

    Raises
    ------
    ValueError
        ``idata`` has no recorded covariate statistics, or they are for other covariates than ``covariates``.
    """
    covariates = list(covariates)
    const = idata["constant_data"] if "constant_data" in idata.groups() else None
    if const is None or "covariate_center" not in const:
        raise ValueError(
            f"the hierarchy regresses on site covariates {covariates}, but `idata` records no covariate statistics "
            "(constant_data.covariate_center / covariate_scale); it was not produced by a calibration with these "
            "covariates")
    found = [str(c) for c in const["covariate"].values]
    if found != covariates:
        raise ValueError(f"`idata` was calibrated with site covariates {found}; the target hierarchy has {covariates}")
    return (np.asarray(const["covariate_center"].values, dtype=float),
            np.asarray(const["covariate_scale"].values, dtype=float))


def _take(group, n_max: int) -> np.ndarray:
    n_total = group.sizes["chain"] * group.sizes["draw"]
    return np.unique(np.linspace(0, n_total - 1, min(n_max, n_total)).round().astype(int))


def _flat(da, take) -> np.ndarray:
    v = np.asarray(da.transpose("chain", "draw", ...).values, dtype=float)
    return v.reshape((-1,) + v.shape[2:])[take]


def _param_draws(target, group, take, rng, x_std=None) -> dict[str, np.ndarray]:
    """name -> (n, n_site) physical values at the target sites (module docstring).

    ``x_std``: the target sites' covariates (site, covariate) standardised with the calibration's statistics.
    """
    specs = target.catalogue.parameters
    h = target.hierarchy
    n = take.size
    out = {}
    for name in target.free:
        if name not in group.data_vars:
            raise KeyError(f"free parameter {name!r} has no draws in the InferenceData group; found "
                           f"{sorted(group.data_vars)}")
        da = group[name]
        spec = specs[name]
        if "site" not in da.dims:
            out[name] = np.repeat(_flat(da, take)[:, None], target.n_site, axis=1)
            continue
        seen = [str(s) for s in da["site"].values]
        vals = np.empty((n, target.n_site))
        for i, (site, pft) in enumerate(zip(target.sites, target.site_pft)):
            if site in seen:
                vals[:, i] = _flat(da.sel(site=site), take)
                continue
            if h.mode == "unpooled" or names.pft_value(name) not in group.data_vars:
                zp = target.zpriors[pft][name]
                m, s = zp.normal_approx()
                z = m + s * rng.standard_normal(n)
            else:
                pft_da = group[names.pft_value(name)]
                if pft in [str(p) for p in pft_da["pft"].values]:
                    z_pft = np.asarray(spec.to_unconstrained(_flat(pft_da.sel(pft=pft), take)))
                else:
                    mu = _flat(group[names.hyper(name, "mu")], take)
                    sd_pft = (_flat(group[names.hyper(name, "sd_pft")], take) if names.hyper(name, "sd_pft") in group.data_vars
                              else np.abs(rng.standard_normal(n)) * h.pft_scale)
                    z_pft = mu + sd_pft * rng.standard_normal(n)
                if getattr(h, "covariates", ()):
                    coef = _flat(group[names.coef(name)], take).reshape(n, -1)
                    z_pft = z_pft + coef @ x_std[i]
                if name in getattr(h, "pft_only", ()):
                    z = z_pft
                else:
                    z = z_pft + _flat(group[names.hyper(name, "sd_site")], take) * rng.standard_normal(n)
            vals[:, i] = np.asarray(spec.from_unconstrained(z))
        out[name] = vals
    return out


def _stream_draws(target, group, take, rng, seen_sites: Sequence[str] | None) -> dict[str, np.ndarray]:
    """Bias and error parameter draws (inferred ones), per-site pooled biases at the target sites."""
    out = {}
    for sd in target.streams:
        cfg = sd.config
        pooled = set(cfg.bias.pooled_names(cfg.name)) if target.n_site > 1 else set()
        names = list(cfg.bias.site_names(cfg.name).items()) + list(cfg.error.site_names(cfg.name).items())
        for key, site in names:
            if site in pooled:
                out[site] = _pooled_site_values(cfg.bias, key, site, target, group, take, rng)
            elif site in group.data_vars and "site" not in group[site].dims:
                out[site] = _flat(group[site], take)
            elif f"{site}_mu" in group.data_vars:  # calibrated pooled, target has one site
                out[site] = _pooled_site_values(cfg.bias, key, site, target, group, take, rng)[:, 0]
    return out


def _pooled_site_values(bias, key, site, target, group, take, rng) -> np.ndarray:
    n = take.size
    mu = _flat(group[f"{site}_mu"], take) if f"{site}_mu" in group.data_vars else _flat(group[site], take)
    tau = (_flat(group[f"{site}_sd_site"], take) if f"{site}_sd_site" in group.data_vars
           else np.zeros(n))
    seen = [str(s) for s in group[site]["site"].values] if (site in group.data_vars and "site" in group[site].dims) \
        else []
    shape = mu.shape[1:]
    vals = np.empty((n, target.n_site) + shape)
    for i, s in enumerate(target.sites):
        if s in seen:
            vals[:, i] = _flat(group[site].sel(site=s), take)
            continue
        eps = rng.standard_normal((n,) + shape)
        t = tau.reshape((n,) + (1,) * len(shape))
        vals[:, i] = mu * np.exp(t * eps) if key in ("mult", "slope") else mu + t * eps
    return vals


def _year_matrix(time: np.ndarray):
    years = time.astype("datetime64[Y]").astype(int) + 1970
    uniq = np.unique(years)
    return uniq, (years[:, None] == uniq[None, :]).astype(float)


def predict(target, idata, *, group: str = "posterior", draws: int = 400, spinup_days: int | None = None,
            annual: Sequence[str] = ("NEE", "GPP"), seed: int = 0, batch: int = 50, daily: Sequence[str] = ()):
    """Predictive draws of every stream of ``target`` and annual sums, from ``idata``'s draws.

    Parameters
    ----------
    target
        A :class:`~bayeslsm.infer.Calibration` on the forcing (and sites) to predict, with the free
        parameters, streams and hierarchy of the calibration that produced ``idata``
        (:func:`calibration_like`). Its observations, if any, only set the stream supports.
    idata
        The calibration's ``InferenceData``.
    group
        ``"posterior"`` or ``"prior"``.
    draws
        Number of draws used (evenly thinned over chains and draws).
    spinup_days
        Spin up on the first ``spinup_days`` days of the target forcing only (module docstring).
    annual
        Daily model outputs summed per calendar year (those the model has).
    seed
        Seed of the predictive noise and of new site / PFT deviations.
    batch
        Draws per jitted, vmapped batch.
    daily
        Daily model outputs to keep as ``{var}_daily`` (draw, site, time; float32).

    Returns
    -------
    xarray.Dataset
        See the module docstring; attrs record ``group``, ``spinup_days`` and which target sites were
        not in the calibration (``unseen_sites``).

    Raises
    ------
    KeyError
        If ``idata`` has no ``group`` or lacks draws of a free parameter.
    ValueError
        If ``spinup_days`` is outside ``1 .. len(target forcing)``.

    Examples
    --------
    >>> tgt = calibration_like(cal, forcing_2010_2014)                      # doctest: +SKIP
    >>> pred = predict(tgt, idata, spinup_days=3653)                         # doctest: +SKIP
    >>> annual_intervals(pred, "NEE", prob=0.9)                              # doctest: +SKIP
    """
    import jax
    import jax.numpy as jnp
    import numpyro
    import xarray as xr

    if group not in idata.groups():
        raise KeyError(f"`idata` has no {group!r} group; groups are {list(idata.groups())}")
    n_time = target.time.size
    if spinup_days is not None and not 1 <= int(spinup_days) <= n_time:
        raise ValueError(f"`spinup_days` must be in 1 .. {n_time} (the target forcing's length); got {spinup_days}")
    g = idata[group]
    take = _take(g, draws)
    rng = np.random.default_rng(seed)
    x_std = None
    if getattr(target.hierarchy, "covariates", ()):
        center, scale = calibration_covariate_stats(idata, target.hierarchy.covariates)
        x_std = target.hierarchy.covariate_matrix(target.forcing_ds, target.sites, center, scale)
    values = _param_draws(target, g, take, rng, x_std)
    calib_sites = [str(s) for s in g["site"].values] if "site" in g.coords else []
    subs = _stream_draws(target, g, take, rng, calib_sites)
    n = take.size
    annual = tuple(v for v in annual if v in target.model.Outputs._fields)
    daily = tuple(v for v in daily if v in target.model.Outputs._fields)
    years, ymat = _year_matrix(target.time)
    ymat_j = jnp.asarray(ymat)

    k = None if spinup_days is None else int(spinup_days)

    def one_draw(vals, sub, key):
        # the calibration model's own forward pass and observation path (Calibration._forward_impl,
        # Calibration.observe_streams), with the draws of the bias / error parameters substituted
        params, init = target._param_values(vals)
        out = target._forward_impl(params, init, target.forcing, spinup_days=k)
        observed = numpyro.handlers.seed(numpyro.handlers.substitute(target.observe_streams, data=sub), key)(out)
        rec = {}
        for name, (replicated, biased) in observed.items():
            rec[names.model_var(name)] = biased
            rec[name] = replicated
        for v in annual:
            rec[names.annual(v)] = getattr(out, v) @ ymat_j
        for v in daily:
            rec[names.daily(v)] = getattr(out, v).astype(jnp.float32)
        return rec

    fn = jax.jit(jax.vmap(one_draw))
    keys = jax.random.split(jax.random.PRNGKey(seed), n)
    parts: dict[str, list] = {}
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        idx = np.arange(start, start + batch) % n  # pad the last batch: same shapes, no recompile
        res = fn({kk: jnp.asarray(v[idx]) for kk, v in values.items()},
                 {kk: jnp.asarray(v[idx]) for kk, v in subs.items()}, keys[idx])
        for kk, v in res.items():
            parts.setdefault(kk, []).append(np.asarray(v)[: stop - start])
    rec = {kk: np.concatenate(v, axis=0) for kk, v in parts.items()}

    data, coords = {}, {"draw": np.arange(n), "site": list(target.sites), "year": years}
    for sd in target.streams:
        name = sd.config.name
        tdim = f"{name}_time"
        coords[tdim] = np.asarray(sd.support_time, dtype="datetime64[ns]")
        data[names.model_var(name)] = (("draw", "site", tdim), rec[names.model_var(name)])
        data[name] = (("draw", "site", tdim), rec[name])
    for v in annual:
        data[names.annual(v)] = (("draw", "site", "year"), rec[names.annual(v)])
    for v in daily:
        coords["time"] = np.asarray(target.time, dtype="datetime64[ns]")
        data[names.daily(v)] = (("draw", "site", "time"), rec[names.daily(v)])
    data["n_days"] = ("year", ymat.sum(axis=0).astype(int))
    unseen = [s for s in target.sites if s not in calib_sites] if calib_sites else []
    return xr.Dataset(data, coords=coords | {"pft": ("site", list(target.site_pft))},
                      attrs={"group": group, "spinup_days": -1 if k is None else k, "n_draws": n,
                             "unseen_sites": ",".join(unseen), "seed": seed,
                             "description": "predictive draws (bayeslsm.infer.predict)"})


def annual_intervals(pred, var: str = "NEE", prob: float = 0.9):
    """Mean and central ``prob`` interval of the annual sums ``{var}_annual`` per site and year.

    Returns
    -------
    pandas.DataFrame
        Columns ``site``, ``pft``, ``year``, ``n_days``, ``mean``, ``lower``, ``upper`` [unit of ``var`` x d].
    """
    import pandas as pd

    key = names.annual(var)
    if key not in pred:
        raise KeyError(f"prediction has no {key!r}; annual sums are "
                       f"{[k for k in pred.data_vars if names.annual_variable(str(k))]}")
    if not 0 < prob < 1:
        raise ValueError(f"`prob` must be in (0, 1); got {prob}")
    a = pred[key].values
    lo, hi = np.quantile(a, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    mean = a.mean(axis=0)
    rows = []
    for i, s in enumerate(pred["site"].values):
        for j, y in enumerate(pred["year"].values):
            rows.append({"site": str(s), "pft": str(pred["pft"].values[i]), "year": int(y),
                         "n_days": int(pred["n_days"].values[j]), "mean": float(mean[i, j]),
                         "lower": float(lo[i, j]), "upper": float(hi[i, j])})
    return pd.DataFrame(rows)
