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
    ``{stream}`` replicated observations (bias and noise included); ``{stream}_model`` the noise-free
    biased prediction on the same points; ``{variable}_daily`` the model's daily trajectory
    (``site``, ``time``; float32 to bound memory), computed after sampling in batches.
``constant_data``
    The forcing (``site``, ``time``); per stream (dim ``stream``) the number of observations used
    ``n_obs`` and the model output it observes ``stream_variable``.
``attrs``
    Model, streams, free parameters, sampler settings, seeds, package versions.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import xarray as xr

from bayeslsm._compat import import_arviz

__all__ = ["build_inference_data", "save", "load"]


def _versions() -> dict:
    import numpyro as _np

    import bayeslsm

    az = import_arviz()
    return {"bayeslsm": bayeslsm.__version__, "jax": jax.__version__, "numpyro": _np.__version__,
            "arviz": az.__version__, "xarray": xr.__version__, "numpy": np.__version__}


def _trace_fn(cal, substitute: bool, keep: tuple[str, ...]):
    """A jitted, vmapped function: (samples batch, keys) -> dict of recorded sites."""
    ll_obs = cal.observed_arrays()

    def one(sample, key):
        model = numpyro.handlers.seed(cal.numpyro_model, key)
        if substitute:
            model = numpyro.handlers.substitute(model, data=sample)
        tr = numpyro.handlers.trace(model).get_trace(obs=None, record=True, ll_obs=ll_obs)
        return {k: tr[k]["value"] for k in keep if k in tr}

    return jax.jit(jax.vmap(one))


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
    if name.endswith("_pft") and len(shape) == 1 and shape[0] == len(cal.pfts):
        return ("pft",)
    if shape and shape[0] == cal.n_site and (name in cal.free or name in _pooled_bias_names(cal)):
        return ("site",) + tuple(f"{name}_dim_{i}" for i in range(1, len(shape)))
    return tuple(f"{name}_dim_{i}" for i in range(len(shape)))


def _group_params(cal, values: dict, n_chain: int, n_draw: int, flat: bool) -> xr.Dataset:
    """Parameter group; ``values`` leaves are (chain, draw, ...) or, with ``flat``, (chain*draw, ...)."""
    stream_names = {sd.config.name for sd in cal.streams}
    data = {}
    for k, v in values.items():
        if k.startswith("_") or k in stream_names or k.endswith("_daily") or k == "edc":
            continue
        v = np.asarray(v)
        v = v.reshape((n_chain, n_draw) + v.shape[1 if flat else 2:])
        data[k] = (("chain", "draw") + _param_dims(cal, k, v.shape[2:]), v)
    return xr.Dataset(data, coords=_coords(cal, n_chain, n_draw))


def _coords(cal, n_chain, n_draw) -> dict:
    return {"chain": np.arange(n_chain), "draw": np.arange(n_draw), "site": list(cal.sites),
            "pft": list(cal.pfts), "time": cal.time.astype("datetime64[ns]")}


def _obs_points(sd):
    """(site index, support index) of the observed points of a stream, in site-major order."""
    return np.nonzero(np.isfinite(sd.obs))


def _stream_vars(cal, rec: dict, n_chain: int, n_draw: int, with_obs: bool) -> dict:
    out = {}
    for sd in cal.streams:
        name, var = sd.config.name, sd.config.variable
        lead = (n_chain, n_draw)
        if f"{var}_daily" in rec and f"{var}_daily" not in out:
            daily = rec[f"{var}_daily"].reshape(lead + (cal.n_site, cal.time.size)).astype(np.float32)
            out[f"{var}_daily"] = (("chain", "draw", "site", "time"), daily)
        rep = rec[name].reshape(lead + rec[name].shape[1:])
        mod = rec[f"_{name}_model"].reshape(lead + rec[f"_{name}_model"].shape[1:])
        if with_obs and sd.obs is not None:
            si, ti = _obs_points(sd)
            out[name] = (("chain", "draw", f"{name}_obs"), rep[..., si, ti])
            out[f"{name}_model"] = (("chain", "draw", f"{name}_obs"), mod[..., si, ti])
        else:
            out[name] = (("chain", "draw", "site", f"{name}_time"), rep)
            out[f"{name}_model"] = (("chain", "draw", "site", f"{name}_time"), mod)
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


def _predictive_group(cal, rec, n_chain, n_draw, with_obs) -> xr.Dataset:
    ds = xr.Dataset(_stream_vars(cal, rec, n_chain, n_draw, with_obs), coords=_coords(cal, n_chain, n_draw))
    return ds.assign_coords(_stream_coords(cal, with_obs))


def _recorded_sites(cal) -> tuple[str, ...]:
    names = []
    for sd in cal.streams:
        names += [sd.config.name, f"{sd.config.variable}_daily", f"_{sd.config.name}_model",
                  f"_{sd.config.name}_loglik"]
    return tuple(dict.fromkeys(names))


def build_inference_data(cal, samples, extra, settings, k_pred, k_prior, batch=200, prior_draws=200):
    """Build the ``InferenceData`` described in the module docstring."""
    az = import_arviz()
    groups: dict[str, xr.Dataset] = {}
    param_sites = tuple(cal._posterior_sites())
    has_obs = any(sd.obs is not None for sd in cal.streams)

    if samples is not None:
        samples = {k: np.asarray(v) for k, v in samples.items()}
        n_chain, n_draw = next(iter(samples.values())).shape[:2]
        flat = {k: v.reshape((n_chain * n_draw,) + v.shape[2:]) for k, v in samples.items()
                if k.startswith("_z_") or k.startswith("_eps_") or k in param_sites}
        groups["posterior"] = _group_params(cal, samples, n_chain, n_draw, flat=False)
        keys = jax.random.split(k_pred, n_chain * n_draw)
        rec = _batched(_trace_fn(cal, True, _recorded_sites(cal)), flat, keys, batch)
        groups["posterior_predictive"] = _predictive_group(cal, rec, n_chain, n_draw, True)
        if has_obs:
            ll = {}
            for sd in cal.streams:
                if sd.obs is None:
                    continue
                name = sd.config.name
                si, ti = _obs_points(sd)
                v = rec[f"_{name}_loglik"].reshape((n_chain, n_draw) + rec[f"_{name}_loglik"].shape[1:])
                ll[name] = (("chain", "draw", f"{name}_obs"), v[..., si, ti])
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
        groups["prior_predictive"] = _predictive_group(cal, rec, 1, prior_draws, False)

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
    groups["constant_data"] = const

    attrs = {
        "model": cal.model.name,
        "free_parameters": json.dumps(list(cal.free)),
        "hierarchy": json.dumps({"params": list(cal.hierarchy.params), "mode": cal.hierarchy.mode,
                                 "centered": cal.hierarchy.centered}),
        "streams": json.dumps([sd.config.name for sd in cal.streams]),
        "stream_config": json.dumps({sd.config.name: sd.config.to_dict() for sd in cal.streams}, default=str),
        "spinup": cal.spinup_method,
        "sites": json.dumps(list(cal.sites)),
        "site_pft": json.dumps(list(cal.site_pft)),
        "sampler": json.dumps(settings, default=str),
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


def save(idata, path: str | os.PathLike) -> Path:
    """Write ``idata`` to netCDF atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        idata.to_netcdf(tmp, engine="h5netcdf")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load(path: str | os.PathLike):
    """Read an ``InferenceData`` written by :func:`save` (fully loaded into memory)."""
    az = import_arviz()
    return az.from_netcdf(str(path), engine="h5netcdf").load() if hasattr(az.InferenceData, "load") else \
        az.from_netcdf(str(path), engine="h5netcdf")
