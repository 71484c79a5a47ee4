"""Assemble a complete ArviZ ``InferenceData`` from samples, and save/load it atomically.

Layout (every method of :class:`~bayeslsm.infer.Calibration` returns the same):

``posterior``, ``prior``
    Free parameters in physical units under their catalogue names (dims ``()`` or ``(site,)``),
    PFT-level values ``{name}_pft`` (``pft``), hyper-parameters ``{name}_mu``, ``{name}_sd_pft``,
    ``{name}_sd_site`` (unconstrained units), and bias / error parameters ``{stream}_...``.
``sample_stats``
    ArviZ schema names: ``diverging``, ``tree_depth``, ``n_steps``, ``energy``, ``acceptance_rate``,
    ``step_size``, ``lp`` (NUTS only).
``observed_data``, ``log_likelihood``, ``posterior_predictive[stream]``
    One variable per stream on the observed points only, dim ``{stream}_obs``, with coordinates
    ``{stream}_site`` and ``{stream}_time`` (gaps are not points, so ``az.loo(idata, var_name=stream)``
    works per stream).
``posterior_predictive``, ``prior_predictive``
    ``{stream}`` replicated observations (bias and noise included); optionally (``model_points``)
    ``{stream}_model`` the noise-free biased prediction on the same points; optionally (``daily``)
    ``{variable}_daily`` the model's daily trajectory (``site``, ``time``; float32 to bound memory) of
    every draw or of ``n`` evenly spaced draws (NaN elsewhere), computed after sampling in batches.
    Each predictive variable carries ``attrs["resolution"]``: a fiftieth of its stream's noise sd,
    the resolution :func:`save` stores it with.
``constant_data``
    The forcing (``site``, ``time``); per stream (dim ``stream``) the number of observations used
    ``n_obs`` and the model output it observes ``stream_variable``.
``attrs``
    Model, streams, free parameters, sampler settings, seeds, package versions.

On disk (:func:`save`) attributes common to all groups are stored once (root of the file),
predictive values and log-likelihoods are packed integers at a stated resolution, everything is
compressed; :func:`load` restores the in-memory layout. The demo's ``posterior.nc`` went from 96 MB
to under 10 MB this way (daily trajectories of 100 draws, no ``{stream}_model``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import xarray as xr

from bayeslsm._compat import import_arviz
from bayeslsm.data.atomic import atomic_path, remove_stale_temporaries
from bayeslsm.infer import names
from bayeslsm.infer.devices import n_devices, sharded_vmap

__all__ = [
    "LOG_LIKELIHOOD_RESOLUTION",
    "PRECISIONS",
    "PREDICTIVE_RESOLUTION_PER_NOISE_SD",
    "atomic_path",
    "build_inference_data",
    "load",
    "remove_stale_temporaries",
    "save",
]


def _versions() -> dict:
    import numpyro as _np

    import bayeslsm

    az = import_arviz()
    return {"bayeslsm": bayeslsm.__version__, "jax": jax.__version__, "numpyro": _np.__version__,
            "arviz": az.__version__, "xarray": xr.__version__, "numpy": np.__version__}


def _trace_fn(cal, substitute: bool, keep: tuple[str, ...], points: dict | None = None):
    """A jitted, vmapped function: (samples batch, keys) -> dict of recorded sites.

    ``points`` maps a recorded site to the ``(site index, support index)`` arrays of the values to keep
    (the observed points): they are gathered inside the compiled program, so the full (site, time)
    grids of thousands of draws never reach host memory.  Forcing and observations are arguments of
    the compiled program (not constants), so calibrations of the same shapes compile to the same
    program (a persistent compilation cache then reuses it).
    """
    ll_obs = cal.observed_arrays()
    points = {} if points is None else points

    def one(sample, key, forcing, ll):
        model = numpyro.handlers.seed(cal.numpyro_model, key)
        if substitute:
            model = numpyro.handlers.substitute(model, data=sample)
        tr = numpyro.handlers.trace(model).get_trace(obs=None, record=True, ll_obs=ll, forcing=forcing)
        out = {}
        for k in keep:
            if k in tr:
                v = tr[k]["value"]
                out[k] = v[points[k]] if k in points else v
        return out

    runs = {}  # one compiled program per number of devices the batch is split over

    def call(sample, keys):
        n_dev = n_devices(int(keys.shape[0]))
        if n_dev not in runs:
            runs[n_dev] = jax.jit(sharded_vmap(one, n_dev, (True, True, False, False)))
        return runs[n_dev](sample, keys, cal.forcing, ll_obs)

    return call


def _batched(fn, samples: dict | None, keys: jnp.ndarray, batch: int) -> dict:
    n = keys.shape[0]
    out: dict[str, list] = {}
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        idx = np.arange(start, start + batch) % n  # pad the last batch: same shapes, no recompile
        sb = None if samples is None else {k: v[idx] for k, v in samples.items()}
        res = fn(sb, keys[idx]) if sb is not None else fn({}, keys[idx])
        for k, v in res.items():
            out.setdefault(k, []).append(np.asarray(v)[: stop - start])
    return {k: np.concatenate(v, axis=0) for k, v in out.items()}


def _pooled_bias_names(cal) -> set[str]:
    """Per-site bias parameters (``pooling = "site"``, :mod:`bayeslsm.obs.bias`)."""
    return {n for sd in cal.streams for n in sd.config.bias.pooled_names(sd.config.name)}


def _param_dims(cal, name: str, shape: tuple) -> tuple[str, ...]:
    if names.pft_parameter(name) and len(shape) == 1 and shape[0] == len(cal.pfts):
        return ("pft",)
    covs = tuple(getattr(cal.hierarchy, "covariates", ()))
    if covs and names.coef_parameter(name) in cal.hierarchy.params and shape == (len(covs),):
        return ("covariate",)
    if shape and shape[0] == cal.n_site and (name in cal.free or name in _pooled_bias_names(cal)):
        return ("site",) + tuple(f"{name}_dim_{i}" for i in range(1, len(shape)))
    return tuple(f"{name}_dim_{i}" for i in range(len(shape)))


def _group_params(cal, values: dict, n_chain: int, n_draw: int, flat: bool) -> xr.Dataset:
    """Parameter group; ``values`` leaves are (chain, draw, ...) or, with ``flat``, (chain*draw, ...)."""
    stream_names = {sd.config.name for sd in cal.streams}
    data = {}
    for k, v in values.items():
        if names.is_internal(k) or k in stream_names or names.is_daily(k) or k == "edc":
            continue
        v = np.asarray(v)
        v = v.reshape((n_chain, n_draw) + v.shape[1 if flat else 2:])
        data[k] = (("chain", "draw") + _param_dims(cal, k, v.shape[2:]), v)
    return xr.Dataset(data, coords=_coords(cal, n_chain, n_draw))


def _coords(cal, n_chain, n_draw) -> dict:
    out = {"chain": np.arange(n_chain), "draw": np.arange(n_draw), "site": list(cal.sites),
           "pft": list(cal.pfts), "time": cal.time.astype("datetime64[ns]")}
    if getattr(cal.hierarchy, "covariates", ()):
        out["covariate"] = list(cal.hierarchy.covariates)
    return out


def _obs_points(sd):
    """(site index, support index) of the observed points of a stream, in site-major order."""
    return np.nonzero(np.isfinite(sd.obs))


def _daily_keep(daily, n_total: int) -> np.ndarray | None:
    """Flat draw indices whose daily trajectories are stored (``None``: all of them)."""
    if daily is True:
        return None
    n = int(daily)
    if n >= n_total:
        return None
    return np.unique(np.linspace(0, n_total - 1, n).round().astype(int))


def _check_daily(daily) -> None:
    if isinstance(daily, (bool, np.bool_)):
        return
    if not isinstance(daily, (int, np.integer)) or daily < 0:
        raise ValueError(f"`daily` must be True (every draw), False or 0 (none) or a number of draws n >= 1 "
                         f"(n evenly spaced draws); got {daily!r}")


def _noise_sd(rep: np.ndarray, mod: np.ndarray) -> float | None:
    """Standard deviation of replicated minus noise-free values: the scale of the stream's observation noise."""
    r = np.asarray(rep, dtype=float) - np.asarray(mod, dtype=float)
    r = r[np.isfinite(r)]
    sd = float(np.std(r)) if r.size else 0.0
    return sd if np.isfinite(sd) and sd > 0 else None


def _stream_vars(cal, rec: dict, n_chain: int, n_draw: int, with_obs: bool, daily=True,
                 model_points: bool = True, gathered: bool = False) -> dict:
    """Predictive variables; with ``gathered`` the streams in ``rec`` hold the observed points already."""
    out = {}
    lead = (n_chain, n_draw)
    keep = None if daily is False or daily == 0 else _daily_keep(daily, n_chain * n_draw)
    for sd in cal.streams:
        name, var = sd.config.name, sd.config.variable
        rep = rec[name].reshape(lead + rec[name].shape[1:])
        mod = rec[names.stream_model(name)].reshape(lead + rec[names.stream_model(name)].shape[1:])
        if with_obs and sd.obs is not None:
            if not gathered:
                si, ti = _obs_points(sd)
                rep, mod = rep[..., si, ti], mod[..., si, ti]
            dims = ("chain", "draw", f"{name}_obs")
        else:
            dims = ("chain", "draw", "site", f"{name}_time")
        noise = _noise_sd(rep, mod)
        # the resolution :func:`save` stores predictive values with (a fiftieth of the noise sd)
        attrs = {} if noise is None else {"resolution": noise / PREDICTIVE_RESOLUTION_PER_NOISE_SD}
        daily_ok = daily is not False and daily != 0
        if daily_ok and names.daily(var) in rec and names.daily(var) not in out:
            d = rec[names.daily(var)].reshape(lead + (cal.n_site, cal.time.size)).astype(np.float32)
            if keep is not None:
                flat = d.reshape((-1,) + d.shape[2:])
                thinned = np.full_like(flat, np.nan)
                thinned[keep] = flat[keep]
                d = thinned.reshape(d.shape)
            out[names.daily(var)] = (("chain", "draw", "site", "time"), d,
                                   {**attrs, "daily_draws_stored": int(n_chain * n_draw if keep is None else keep.size)})
        out[name] = (dims, rep, attrs)
        if model_points:
            out[names.model_var(name)] = (dims, mod, attrs)
    return out


def _stream_coords(cal, with_obs: bool) -> dict:
    coords = {}
    for sd in cal.streams:
        name = sd.config.name
        if with_obs and sd.obs is not None:
            si, ti = _obs_points(sd)
            coords[f"{name}_site"] = (f"{name}_obs", np.asarray(cal.sites)[si])
            coords[f"{name}_time"] = (f"{name}_obs", sd.support_time[ti].astype("datetime64[ns]"))
        else:
            coords[f"{name}_time"] = (f"{name}_time", sd.support_time.astype("datetime64[ns]"))
    return coords


def _predictive_group(cal, rec, n_chain, n_draw, with_obs, daily=True, model_points=True,
                      gathered=False) -> xr.Dataset:
    ds = xr.Dataset(_stream_vars(cal, rec, n_chain, n_draw, with_obs, daily, model_points, gathered),
                    coords=_coords(cal, n_chain, n_draw))
    return ds.assign_coords(_stream_coords(cal, with_obs))


def _recorded_sites(cal) -> tuple[str, ...]:
    out = []
    for sd in cal.streams:
        out += [sd.config.name, names.daily(sd.config.variable), names.stream_model(sd.config.name),
                names.stream_loglik(sd.config.name)]
    return tuple(dict.fromkeys(out))


def build_inference_data(cal, samples, extra, settings, k_pred, k_prior, batch=200, prior_draws=200, *,
                         daily=True, model_points=True):
    """Build the ``InferenceData`` described in the module docstring.

    ``daily``: store the daily trajectories ``{variable}_daily`` of every draw (``True``), of none
    (``False``) or of ``n`` evenly spaced draws (NaN at the others). ``model_points``: store the
    noise-free predictions ``{stream}_model`` beside the replicated observations ``{stream}``.
    """
    _check_daily(daily)
    az = import_arviz()
    groups: dict[str, xr.Dataset] = {}
    param_sites = tuple(cal._posterior_sites())
    has_obs = any(sd.obs is not None for sd in cal.streams)

    if samples is not None:
        samples = {k: np.asarray(v) for k, v in samples.items()}
        n_chain, n_draw = next(iter(samples.values())).shape[:2]
        flat = {k: v.reshape((n_chain * n_draw,) + v.shape[2:]) for k, v in samples.items()
                if names.is_latent(k) or k in param_sites}
        groups["posterior"] = _group_params(cal, samples, n_chain, n_draw, flat=False)
        n_total = n_chain * n_draw
        keys = jax.random.split(k_pred, n_total)
        # observed streams, their noise-free values and log-likelihoods on the observed points only
        points = {}
        for sd in cal.streams:
            if sd.obs is not None:
                pts = tuple(np.asarray(i) for i in _obs_points(sd))
                name = sd.config.name
                points.update({name: pts, names.stream_model(name): pts, names.stream_loglik(name): pts})
        sites = _recorded_sites(cal)
        daily_sites = tuple(k for k in sites if names.is_daily(k))
        keep_daily = None if daily is False or daily == 0 else _daily_keep(daily, n_total)
        one_pass = daily is not False and daily != 0 and keep_daily is None
        main = sites if one_pass else tuple(k for k in sites if k not in daily_sites)
        rec = _batched(_trace_fn(cal, True, main, points), flat, keys, batch)
        if keep_daily is not None and daily_sites:
            # daily trajectories of the stored draws only (NaN elsewhere), not of every draw
            sub = {k: v[keep_daily] for k, v in flat.items()}
            rec_d = _batched(_trace_fn(cal, True, daily_sites), sub, keys[keep_daily],
                             min(batch, keep_daily.size))
            for k, v in rec_d.items():
                full = np.full((n_total,) + v.shape[1:], np.nan, dtype=np.float32)
                full[keep_daily] = v
                rec[k] = full
        groups["posterior_predictive"] = _predictive_group(cal, rec, n_chain, n_draw, True, daily, model_points,
                                                           gathered=True)
        if has_obs:
            ll = {}
            for sd in cal.streams:
                if sd.obs is None:
                    continue
                name = sd.config.name
                v = rec[names.stream_loglik(name)].reshape((n_chain, n_draw) + rec[names.stream_loglik(name)].shape[1:])
                ll[name] = (("chain", "draw", f"{name}_obs"), v)
            groups["log_likelihood"] = xr.Dataset(ll, coords=_coords(cal, n_chain, n_draw)).assign_coords(
                {k: v for k, v in _stream_coords(cal, True).items()})
        if extra is not None:
            groups["sample_stats"] = _sample_stats(extra, n_chain, n_draw)

    if prior_draws:
        keys = jax.random.split(k_prior, prior_draws)
        keep = tuple(param_sites) + _recorded_sites(cal)
        rec = _batched(_trace_fn(cal, False, keep), None, keys, min(batch, prior_draws))
        groups["prior"] = _group_params(cal, {k: v for k, v in rec.items() if k in param_sites}, 1, prior_draws,
                                        flat=True)
        groups["prior_predictive"] = _predictive_group(cal, rec, 1, prior_draws, False, daily, model_points)

    if has_obs:
        obs_vars = {}
        for sd in cal.streams:
            if sd.obs is None:
                continue
            si, ti = _obs_points(sd)
            obs_vars[sd.config.name] = ((f"{sd.config.name}_obs",), sd.obs[si, ti])
            if sd.unc is not None:
                obs_vars[f"{sd.config.name}_unc"] = ((f"{sd.config.name}_obs",), sd.unc[si, ti])
        groups["observed_data"] = xr.Dataset(obs_vars).assign_coords(_stream_coords(cal, True))
    const = cal.forcing_ds.drop_vars(
        [c for c in cal.forcing_ds.coords if c not in ("site", "time", "lat", "lon", "pft")], errors="ignore")
    if cal.streams:
        n_obs = [int(np.isfinite(sd.obs).sum()) if sd.obs is not None else 0 for sd in cal.streams]
        const = const.assign(n_obs=(("stream",), np.asarray(n_obs)),
                             stream_variable=(("stream",), np.asarray([sd.config.variable for sd in cal.streams])))
        const = const.assign_coords(stream=[sd.config.name for sd in cal.streams])
    if getattr(cal, "covariate_center", None) is not None:
        # the standardisation of the site covariates: prediction at unseen sites reuses it
        # (bayeslsm.infer.predict); the raw values of the calibration sites are kept alongside
        raw = cal.hierarchy.covariate_values(cal.forcing_ds, cal.sites)
        const = const.assign(
            covariate_center=(("covariate",), np.asarray(cal.covariate_center, dtype=float)),
            covariate_scale=(("covariate",), np.asarray(cal.covariate_scale, dtype=float)),
            covariate_value=(("site", "covariate"), raw),
        ).assign_coords(covariate=list(cal.hierarchy.covariates))
    groups["constant_data"] = const

    attrs = {
        "model": cal.model.name,
        "free_parameters": json.dumps(list(cal.free)),
        "hierarchy": json.dumps({"params": list(cal.hierarchy.params), "mode": cal.hierarchy.mode,
                                 "centered": cal.hierarchy.centered,
                                 "pft_centered": getattr(cal.hierarchy, "pft_centered", None),
                                 "covariates": list(getattr(cal.hierarchy, "covariates", ())),
                                 "coef_scale": getattr(cal.hierarchy, "coef_scale", None)}),
        "streams": json.dumps([sd.config.name for sd in cal.streams]),
        "stream_config": json.dumps({sd.config.name: sd.config.to_dict() for sd in cal.streams}, default=str),
        "spinup": cal.spinup_method,
        "sites": json.dumps(list(cal.sites)),
        "site_pft": json.dumps(list(cal.site_pft)),
        "sampler": json.dumps({**settings, "daily": daily, "model_points": model_points}, default=str),
        "seed": int(settings.get("seed", 0)),
        "versions": json.dumps(_versions()),
        "inference_library": "numpyro",
    }
    for g in groups.values():
        g.attrs.update(attrs)
    idata = az.InferenceData(**groups)
    return idata


def _sample_stats(extra: dict, n_chain: int, n_draw: int) -> xr.Dataset:
    e = {k: np.asarray(v) for k, v in extra.items()}
    num_steps = e["num_steps"].astype(np.int64)
    data = {
        "diverging": e["diverging"].astype(bool),
        "n_steps": num_steps,
        # a NUTS tree of depth d takes at most 2**d - 1 leapfrog steps
        "tree_depth": np.ceil(np.log2(num_steps + 1)).astype(np.int64),
        "energy": e["energy"],
        "acceptance_rate": e["accept_prob"],
        "step_size": e["adapt_state.step_size"],
        "lp": -e["potential_energy"],
    }
    return xr.Dataset({k: (("chain", "draw"), v.reshape(n_chain, n_draw)) for k, v in data.items()},
                      coords={"chain": np.arange(n_chain), "draw": np.arange(n_draw)})


# ---------------------------------------------------------------------------------------------
# storage

PREDICTIVE_RESOLUTION_PER_NOISE_SD = 50
"""Predictive values are stored to a resolution of (noise sd of their stream) / 50.

Rounding to a grid of step ``q`` adds an error uniform on ``[-q/2, q/2]`` (variance ``q^2 / 12``): with
``q = sd / 50`` the variance of a replicated observation grows by a factor ``1 + 1/30000``, far below
what a predictive check can see. float32 would keep about 7 digits of pure noise and store twice the
bytes (measured on the demo)."""

LOG_LIKELIHOOD_RESOLUTION = 1e-3
"""Pointwise log-likelihoods are stored to 1e-3 nat. Each ``elpd_i`` of PSIS-LOO (the log of a weighted
mean of ``exp(ll_i)``) then moves by at most 5e-4 nat, so ``elpd_loo`` by at most ``n_obs * 5e-4``
(0.9 nat for the demo's 1844 points, whose standard error is about 20 nat per stream) and, the
rounding errors being independent, typically by ``sqrt(n_obs / 12) * 1e-3`` (0.01 nat). float32
would be exact to 1e-7 relative but twice the size; use ``save(..., precision="float32")`` then."""

PRECISIONS = ("compact", "float32", "full")
_COMPRESSION = {"zlib": True, "complevel": 6, "shuffle": True}
_CHUNK_BYTES = 1 << 20
_SHARED_MARK = "bayeslsm_shared_attrs"


def _packing(values: np.ndarray, step: float) -> dict:
    """CF packing (integers with ``scale_factor`` / ``add_offset``) of ``values`` on a grid of ``step``.

    The smallest integer type whose range holds the values is used; float32 if none does.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0 or not np.isfinite(step) or step <= 0:
        return {"dtype": "float32"}
    lo, hi = float(finite.min()), float(finite.max())
    for dt in ("int16", "int32"):
        info = np.iinfo(dt)
        if (hi - lo) / step < 0.99 * (info.max - info.min - 1):
            offset = step * round((lo + hi) / 2 / step)  # a multiple of step: values on the grid stay exact
            return {"dtype": dt, "scale_factor": float(step), "add_offset": float(offset),
                    "_FillValue": int(info.min)}
    return {"dtype": "float32"}


def _chunks(da) -> tuple[int, ...] | None:
    """One chain and about 1 MiB per chunk along ``draw``; whole extents elsewhere."""
    if da.ndim < 2 or da.dims[:2] != ("chain", "draw"):
        return None
    per_draw = max(1, int(np.prod(da.shape[2:], dtype=np.int64)) * 4)
    return (1, int(max(1, min(da.shape[1], _CHUNK_BYTES // per_draw)))) + tuple(int(n) for n in da.shape[2:])


def _encoding(group: str, ds: xr.Dataset, precision: str) -> dict:
    """Per-variable netCDF encoding: compression, chunking and (``compact``) packing.

    ``compact``: ``posterior_predictive`` and ``prior_predictive`` values packed to the variable's
    ``resolution`` attribute (a fiftieth of its stream's noise sd), float32 where it has none;
    ``log_likelihood`` packed to :data:`LOG_LIKELIHOOD_RESOLUTION`. ``float32``: those groups as
    float32. ``full``: every value as computed (float64). Parameters, sample statistics, observations
    and forcing are always stored as computed: they are small, and ESS, R-hat and plots need them exact.
    """
    enc = {}
    lossy = group in ("posterior_predictive", "prior_predictive", "log_likelihood")
    for name, da in ds.data_vars.items():
        if da.dtype.kind not in "fiub" or da.ndim == 0:
            continue
        e = dict(_COMPRESSION)
        chunks = _chunks(da)
        if chunks is not None:
            e["chunksizes"] = chunks
        if lossy and da.dtype.kind == "f" and precision != "full":
            if precision == "compact":
                step = LOG_LIKELIHOOD_RESOLUTION if group == "log_likelihood" else da.attrs.get("resolution")
                e.update(_packing(np.asarray(da.values), float(step)) if step is not None else {"dtype": "float32"})
            else:
                e["dtype"] = "float32"
        enc[name] = e
    return enc


def _shared_attrs(groups: dict) -> dict:
    """Attributes with the same value in every group that has attributes (stored once, at the root)."""
    with_attrs = [dict(ds.attrs) for ds in groups.values() if ds.attrs]
    if not with_attrs:
        return {}
    first = with_attrs[0]
    return {k: v for k, v in first.items()
            if all(k in a and _same(a[k], v) for a in with_attrs[1:])}


def _same(a, b) -> bool:
    try:
        return bool(np.all(np.asarray(a) == np.asarray(b))) and np.shape(a) == np.shape(b)
    except (TypeError, ValueError):
        return False


def save(idata, path: str | os.PathLike, *, precision: str = "compact") -> Path:
    """Write ``idata`` to netCDF (h5netcdf) atomically, compressed, attributes shared by all groups once.

    Parameters
    ----------
    idata
        ``InferenceData`` (layout of this module).
    path
        Target file; written to a temporary file in the same folder, then renamed (never half-written,
        no temporary file left on an error, ``KeyboardInterrupt`` or SIGTERM; see :func:`atomic_path`).
    precision
        ``"compact"`` (default): predictive values stored to a hundredth of their stream's noise sd
        (:data:`PREDICTIVE_RESOLUTION_PER_NOISE_SD`), log-likelihoods to 1e-3 nat
        (:data:`LOG_LIKELIHOOD_RESOLUTION`), as packed integers; ``"float32"``: those groups as
        float32; ``"full"``: as computed. Parameters, sample statistics, observations and forcing are
        always stored exactly. Every variable is zlib-compressed (level 6, byte shuffle) in chunks of
        one chain and about 1 MiB.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> save(idata, "out/posterior.nc")  # doctest: +SKIP
    PosixPath('out/posterior.nc')
    """
    if precision not in PRECISIONS:
        raise ValueError(f"`precision` must be one of {PRECISIONS}; got {precision!r}")
    path = Path(path)
    groups = {g: idata[g] for g in idata.groups()}
    shared = _shared_attrs(groups)
    root = {**dict(getattr(idata, "attrs", {}) or {}), **shared}
    if shared:
        root[_SHARED_MARK] = json.dumps(sorted(shared))
    with atomic_path(path) as tmp:
        mode = "w"
        if root:
            xr.Dataset(attrs=root).to_netcdf(tmp, mode=mode, engine="h5netcdf")
            mode = "a"
        for g, ds in groups.items():
            out = ds.copy(deep=False)
            out.attrs = {k: v for k, v in ds.attrs.items() if k not in shared}
            for v in out.data_vars:  # encodings read from a previous file would override ours
                out[v].encoding = {}
            out.to_netcdf(tmp, mode=mode, group=g, engine="h5netcdf", encoding=_encoding(g, out, precision))
            mode = "a"
        if mode == "w":  # an empty InferenceData: an empty file
            xr.Dataset().to_netcdf(tmp, engine="h5netcdf")
    return path


class ResultsFileError(ValueError):
    """A results file (``posterior.nc``, ``skill.json``) that cannot be used: not netCDF/JSON, no posterior."""

    def __init__(self, path: str | os.PathLike, message: str) -> None:
        self.path = Path(path)
        super().__init__(f"file '{self.path}': {message}")


def load(path: str | os.PathLike, *, require_posterior: bool = True):
    """Read an ``InferenceData`` written by :func:`save` (fully loaded into memory).

    Attributes stored once at the root are given back to every group; log-likelihoods come back as
    float64 (ArviZ's PSIS-LOO then computes in float64 as on the in-memory result).

    Raises
    ------
    FileNotFoundError
        No such file.
    ResultsFileError
        Not a netCDF4/HDF5 file, or (``require_posterior``) no ``posterior`` group in it.
    """
    az = import_arviz()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"results file '{path}' not found")
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic != b"\x89HDF\r\n\x1a\n":
        raise ResultsFileError(path, f"expected a netCDF4 (HDF5) file written by bayeslsm; found first bytes {magic!r}")
    try:
        idata = az.from_netcdf(str(path), engine="h5netcdf")
    except (OSError, ValueError, KeyError) as err:
        raise ResultsFileError(path, f"cannot read it as InferenceData ({type(err).__name__}: {err})") from None
    if require_posterior and "posterior" not in idata.groups():
        raise ResultsFileError(path, f"expected a 'posterior' group (an InferenceData written by `bayeslsm run` or "
                                     f"bayeslsm.infer.save); found groups {list(idata.groups())}")
    if hasattr(idata, "load"):
        idata = idata.load()
    root = dict(getattr(idata, "attrs", {}) or {})
    if _SHARED_MARK in root:
        keys = json.loads(root.pop(_SHARED_MARK))
        shared = {k: root.pop(k) for k in keys if k in root}
        for g in idata.groups():
            idata[g].attrs = {**shared, **idata[g].attrs}
        idata.attrs = root
    if "log_likelihood" in idata.groups():
        ll = idata.log_likelihood
        idata.log_likelihood = ll.assign({v: ll[v].astype(np.float64) for v in ll.data_vars
                                          if ll[v].dtype.kind == "f"})
    return idata
