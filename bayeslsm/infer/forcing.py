"""xarray forcing -> a model's ``Forcing`` pytree with a leading ``site`` axis.

Validation happens here, eagerly, on concrete data: a missing or non-finite driver is a
:class:`ForcingError` that names the variable, what was expected and what was found.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["ForcingError", "as_site_dataset", "model_forcing", "DERIVED_FORCING"]


class ForcingError(ValueError):
    """The forcing dataset cannot drive the chosen model."""


# Forcing fields every model may derive from the time axis and site coordinates when absent.
DERIVED_FORCING = ("run_day", "doy", "lat", "deltat", "removed_frac", "burned_frac")


def as_site_dataset(ds: xr.Dataset, name: str = "forcing") -> xr.Dataset:
    """Return ``ds`` with dims ``(site, time)``; a dataset without ``site`` becomes one site."""
    if not isinstance(ds, xr.Dataset):
        raise ForcingError(f"`{name}` must be an xarray.Dataset; got {type(ds).__name__}")
    if "time" not in ds.dims:
        raise ForcingError(f"`{name}` needs a `time` dimension; found dims {tuple(ds.dims)}")
    if "site" not in ds.dims:
        site = ds.attrs.get("site", ds.coords["site"].item() if "site" in ds.coords else "site0")
        ds = ds.drop_vars("site", errors="ignore").expand_dims(site=[str(site)])
        for c in ("lat", "lon", "pft"):
            if c in ds.attrs and c not in ds.coords:
                ds = ds.assign_coords({c: ("site", [ds.attrs[c]])})
    for c in ("lat", "pft"):
        if c in ds.coords and ds.coords[c].dims == ():
            ds = ds.assign_coords({c: ("site", np.repeat(ds.coords[c].values, ds.sizes["site"]))})
    return ds.transpose("site", "time", ...)


def _check_daily(time: np.ndarray) -> None:
    t = np.asarray(time, dtype="datetime64[D]")
    if t.size < 2:
        raise ForcingError(f"forcing `time` must have at least 2 days; found {t.size}")
    step = np.diff(t).astype(int)
    if np.any(step != 1):
        bad = int(np.flatnonzero(step != 1)[0])
        raise ForcingError(
            f"forcing `time` must be consecutive daily steps; found a step of {step[bad]} days "
            f"between {t[bad]} and {t[bad + 1]}"
        )


def model_forcing(model, ds: xr.Dataset):
    """Build ``model.Forcing`` (leaves of shape (site, time)) from a forcing dataset.

    Variables are looked up by the model's forcing field names (see :mod:`bayeslsm.data.variables`
    for units).  ``run_day`` (1..T), ``doy``, ``deltat`` (1 day), ``removed_frac`` and ``burned_frac``
    (0) are derived when absent; ``lat`` comes from a ``lat`` coordinate per site.
    """
    ds = as_site_dataset(ds)
    _check_daily(ds["time"].values)
    n_site, n_time = ds.sizes["site"], ds.sizes["time"]
    out = {}
    for field in model.Forcing._fields:
        if field in ds.data_vars:
            arr = np.asarray(ds[field].transpose("site", "time").values, dtype=float)
            if not np.all(np.isfinite(arr)):
                s, t = np.argwhere(~np.isfinite(arr))[0]
                raise ForcingError(
                    f"forcing variable {field!r} has {int((~np.isfinite(arr)).sum())} non-finite values "
                    f"(first at site {ds['site'].values[s]!r}, {str(ds['time'].values[t])[:10]}); "
                    "fill the gaps first (e.g. bayeslsm.data.read_fluxnet(..., era_path=...))"
                )
            out[field] = arr
        elif field == "run_day":
            out[field] = np.broadcast_to(np.arange(1, n_time + 1, dtype=float), (n_site, n_time))
        elif field == "doy":
            t = np.asarray(ds["time"].values, dtype="datetime64[D]")
            doy = ((t - t.astype("datetime64[Y]")).astype(int) + 1).astype(float)
            out[field] = np.broadcast_to(doy, (n_site, n_time))
        elif field == "lat":
            if "lat" not in ds.coords:
                raise ForcingError(
                    f"model {model.name!r} needs the site latitude: add a `lat` coordinate [degrees_north] "
                    "to the forcing (per site)"
                )
            lat = np.asarray(ds["lat"].values, dtype=float).reshape(n_site)
            out[field] = np.broadcast_to(lat[:, None], (n_site, n_time))
        elif field == "deltat":
            out[field] = np.ones((n_site, n_time))
        elif field in ("removed_frac", "burned_frac"):
            out[field] = np.zeros((n_site, n_time))
        else:
            raise ForcingError(
                f"forcing is missing variable {field!r} needed by model {model.name!r}; "
                f"expected variables {[f for f in model.Forcing._fields if f not in DERIVED_FORCING]}, "
                f"found {sorted(ds.data_vars)}"
            )
    return model.Forcing(**{k: np.ascontiguousarray(v) for k, v in out.items()})
