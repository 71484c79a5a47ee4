"""Reading an experiment's sites into stacked forcing and observations (:func:`prepare_data`)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from bayeslsm.experiments.spec import (
    OBSERVATION_VARIABLES,
    Experiment,
    ExperimentError,
    Period,
    SiteSpec,
    load_experiment,
)


class HeldOutForcingWarning(UserWarning):
    """A calibrated site cannot be validated: its forcing is incomplete over the held-out period.

    Raised as a warning by :func:`prepare_data` (so before any sampling) when ``[data].incomplete =
    "exclude"``; with ``incomplete = "error"`` (the default) the same finding is an
    :class:`~bayeslsm.experiments.ExperimentError`.
    """


@dataclass
class SiteData:
    """What :func:`prepare_data` found for one site."""

    id: str
    pft: str | None = None
    forcing: Any = None  # xarray.Dataset on the full window (calibration start .. last end)
    obs: Any = None
    calibrated: bool = False
    validated: bool = False
    reason: str | None = None  # why the site is excluded / not validated
    notes: list[str] = field(default_factory=list)
    covariates: Any = None  # xarray.Dataset of scalars ([hierarchy].covariates), over the calibration period


@dataclass
class PreparedData:
    """Forcing and observations of the usable sites (:func:`prepare_data`)."""

    sites: list[SiteData]
    calibration: tuple[Any, Any] | None  # (forcing, obs) with dims (site, time)
    validation: tuple[Any, Any] | None  # on the calibration + validation window, validated sites only

    @property
    def excluded(self) -> dict[str, str]:
        return {s.id: s.reason for s in self.sites if not s.calibrated}

    @property
    def not_validated(self) -> dict[str, str]:
        return {s.id: s.reason for s in self.sites if s.calibrated and not s.validated}

    @property
    def notes(self) -> dict[str, list[str]]:
        return {s.id: list(s.notes) for s in self.sites if s.notes}


def _file_path(name: str) -> Path:
    from bayeslsm.data.cache import REGISTRY, fetch

    return fetch(name) if name in REGISTRY else Path(name)


def _model_forcing_vars(model) -> list[str]:
    from bayeslsm.infer.forcing import DERIVED_FORCING

    return [f for f in model.Forcing._fields if f not in DERIVED_FORCING]


def _read_site(exp: Experiment, site: SiteSpec, window: Period, model):
    """(forcing, obs, notes, pft, covariates) of one site on ``window`` (days outside the file are NaN).

    ``covariates``: the ``[hierarchy].covariates`` of the site (:func:`bayeslsm.data.covariates.site_covariates`
    over the calibration period, from the file's forcing before it is reduced to the model's variables), or
    ``None``.
    """
    from bayeslsm.data.fluxnet import DataQualityWarning, read_fluxnet

    opts = dict(exp.data.reader)
    opts.update(site.reader)
    path = _file_path(site.file)
    era = _file_path(site.era_file) if site.era_file else None
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataQualityWarning)
        forcing, obs = read_fluxnet(path, site=site.id, lat=site.lat, pft=site.pft, era_path=era,
                                    start=str(window.start), end=str(window.end), **opts)
    quality = [w for w in caught if issubclass(w.category, DataQualityWarning)]
    for w in caught:  # other warnings are not ours to handle: pass them on unchanged
        if not issubclass(w.category, DataQualityWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    # zero diurnal range (reader rule: tmin == tmax on >= 99 % of days)
    tmin, tmax, ta = (np.asarray(forcing[v].values, dtype=float) for v in ("tmin", "tmax", "ta"))
    ok = np.isfinite(tmin) & np.isfinite(tmax)
    flat = ok.any() and np.isclose(tmin, tmax)[ok].sum() >= 0.99 * ok.sum()
    handled_dtr = False
    if flat:
        if site.diurnal_range is None:
            raise ExperimentError(
                exp.path, f"sites[id={site.id}].diurnal_range",
                f"site {site.id!r} ({Path(path).name}): tmin == tmax == ta on every day (the product has no diurnal "
                f"range; DALEC's ACM divides by the range). Set diurnal_range = 'as_is' to accept it, or a range "
                f"in K (one value or 12 monthly values) to impose tmin = ta - D/2, tmax = ta + D/2")
        handled_dtr = True
        if site.diurnal_range == "as_is":
            notes.append("tmin == tmax == ta in the file (no diurnal range); kept as is (diurnal_range = 'as_is')")
        else:
            months = np.asarray(forcing["time"].dt.month.values) - 1
            dtr = np.asarray(site.diurnal_range, dtype=float)
            d = dtr[months] if dtr.ndim == 1 else np.full(ta.shape, float(dtr))
            forcing["tmin"] = forcing["tmin"].copy(data=ta - 0.5 * d)
            forcing["tmax"] = forcing["tmax"].copy(data=ta + 0.5 * d)
            rule = (f"tmin = ta - D/2, tmax = ta + D/2 with D = {site.diurnal_range} K"
                    + (" (monthly, Jan..Dec)" if dtr.ndim == 1 else ""))
            for v in ("tmin", "tmax"):
                forcing[v].attrs.update(derivation=f"experiment {exp.name!r}: {rule}")
            notes.append(f"tmin == tmax == ta in the file (no diurnal range); imposed {rule}")
    elif site.diurnal_range is not None:
        raise ExperimentError(exp.path, f"sites[id={site.id}].diurnal_range",
                              f"site {site.id!r} ({Path(path).name}) has a diurnal temperature range in its file; "
                              f"remove diurnal_range (it would overwrite measured tmin/tmax)")
    for w in quality:
        msg = str(w.message)
        if handled_dtr and "diurnal" in msg:
            continue
        notes.append(f"reader: {msg}")
        warnings.warn(msg, DataQualityWarning, stacklevel=3)

    for var, value in site.constant_forcing.items():
        if var not in forcing.data_vars:
            raise ExperimentError(exp.path, f"sites[id={site.id}].constant_forcing.{var}",
                                  f"unknown forcing variable {var!r}; expected one of {sorted(forcing.data_vars)}")
        n_bad = int((~np.isfinite(forcing[var].values)).sum())
        forcing[var] = forcing[var].copy(data=np.full(forcing.sizes["time"], value))
        forcing[var].attrs["derivation"] = f"experiment {exp.name!r}: constant {value:g} (replaces the file's values)"
        missing = f" ({n_bad} missing days in the file)" if n_bad else ""
        notes.append(f"{var} replaced by the constant {value:g}{missing}")

    era_note = forcing.attrs.get("era_filled_days")
    if era_note:
        notes.append(f"gap-filled from {forcing.attrs.get('era_file')}: {era_note}")
    if obs.attrs.get("unfiltered_streams"):
        notes.append(f"not QC-filtered (QC absent or empty): {obs.attrs['unfiltered_streams']}")
    if obs.attrs.get("empty_streams"):
        notes.append(f"empty in the file: {obs.attrs['empty_streams']}")
    if "LAI" in obs and obs["LAI"].attrs.get("n_masked_before_modis"):
        notes.append(f"LAI: {obs['LAI'].attrs['n_masked_before_modis']} days before MODIS (2002-07-04) masked")

    covariates = None
    names = tuple(getattr(exp.hierarchy, "covariates", ()) or ())
    if names:
        from bayeslsm.data.covariates import CovariateError, site_covariates

        try:
            covariates = site_covariates(forcing, names, period=(exp.calibration.start, exp.calibration.end))
        except CovariateError as err:
            raise ExperimentError(exp.path, "hierarchy.covariates", f"site {site.id!r}: {err}") from None

    days = window.days().astype("datetime64[ns]")
    keep_f = _model_forcing_vars(model) + (["doy"] if "doy" in forcing else [])
    forcing = forcing[[v for v in keep_f if v in forcing.data_vars]].reindex(time=days)
    if "doy" in forcing:  # a day outside the file's record still has a day of year
        t = days.astype("datetime64[D]")
        forcing["doy"] = forcing["doy"].copy(data=((t - t.astype("datetime64[Y]")).astype(int) + 1).astype(float))
    obs_vars = [v for v in obs.data_vars if v in OBSERVATION_VARIABLES]
    obs = obs[obs_vars].reindex(time=days)
    pft = str(forcing.coords["pft"].item()) if "pft" in forcing.coords else None
    return forcing, obs, notes, pft, covariates


def _complete(forcing, period: Period) -> str | None:
    """None when every forcing variable is finite on every day of ``period``; else the reason."""
    sel = forcing.sel(time=slice(np.datetime64(period.start, "ns"), np.datetime64(period.end, "ns")))
    if sel.sizes["time"] != period.n_days:
        return f"the file does not cover {period}"
    bad = {v: int((~np.isfinite(sel[v].values)).sum()) for v in sel.data_vars}
    bad = {v: n for v, n in bad.items() if n}
    if bad:
        return f"forcing missing in {period}: " + ", ".join(f"{v} ({n} days)" for v, n in bad.items())
    return None


def _resample(values: np.ndarray, days: np.ndarray, support: str) -> np.ndarray:
    """Daily ``values`` (site, time) -> means over complete periods of ``support``, stamped on period starts."""
    from bayeslsm.obs import support_grid
    from bayeslsm.obs.operators import build_operator

    starts = np.asarray(support_grid(support, days), dtype="datetime64[D]")
    out = np.full(values.shape, np.nan)
    if starts.size == 0:
        return out
    idx = build_operator(support, "mean", days, starts, name="resample")
    for a, b in zip(np.asarray(idx.start), np.asarray(idx.stop)):
        block = values[:, a:b]
        full = np.isfinite(block).all(axis=1)
        out[full, a] = block[full].mean(axis=1)
    return out


def _stack(site_data: list[SiteData], period: Period, exp: Experiment):
    """Multi-site (forcing, obs) on ``period`` for the given sites, streams resampled as configured."""
    import xarray as xr

    t0, t1 = np.datetime64(period.start, "ns"), np.datetime64(period.end, "ns")
    fs, os_ = [], []
    for sd in site_data:
        f = sd.forcing.sel(time=slice(t0, t1)).drop_vars(["site", "lat", "lon", "pft"], errors="ignore")
        o = sd.obs.sel(time=slice(t0, t1)).drop_vars(["site", "lat", "lon", "pft"], errors="ignore")
        fs.append(f.expand_dims(site=[sd.id]))
        os_.append(o.expand_dims(site=[sd.id]))
    forcing = xr.concat(fs, dim="site", join="exact", combine_attrs="drop")
    lats = [float(sd.forcing.coords["lat"].item()) for sd in site_data]
    forcing = forcing.assign_coords(lat=("site", lats), pft=("site", [sd.pft for sd in site_data]))
    if site_data[0].covariates is not None:  # [hierarchy].covariates, computed over the calibration period
        for name, da in site_data[0].covariates.data_vars.items():
            if name in forcing.coords:  # lat: already the site coordinate
                continue
            vals = [float(sd.covariates[name].item()) for sd in site_data]
            forcing = forcing.assign_coords({name: ("site", vals, dict(da.attrs))})
    names = [s.name for s in exp.streams]
    obs = xr.concat(os_, dim="site", join="outer", combine_attrs="drop", data_vars="all")
    obs = obs[[v for v in names if v in obs.data_vars]]
    days = np.asarray(forcing["time"].values, dtype="datetime64[D]")
    for spec in exp.streams:
        if spec.name not in obs:
            continue
        vals = np.asarray(obs[spec.name].transpose("site", "time").values, dtype=float)
        if spec.resample:
            vals = _resample(vals, days, spec.config.support)
        obs[spec.name] = (("site", "time"), vals)
    return forcing, obs


def prepare_data(exp: Experiment) -> PreparedData:
    """Read every included site on the calibration (+ validation) window and decide which sites are used.

    A site is calibrated when its forcing is complete over the calibration period and its PFT has
    catalogue priors (after ``[data].pft_map``); it is validated when its forcing is also complete over
    the validation period. Sites that fail are excluded (``[data].incomplete = "exclude"`` /
    ``unknown_pft = "exclude"``, with the reason) or raise :class:`ExperimentError`.

    Returns
    -------
    PreparedData
        ``calibration``: (forcing, obs) on the calibration period; ``validation``: (forcing, obs) on the
        calibration start .. validation end, validated sites only (``None`` without a held-out period or
        without validated sites).
    """
    from bayeslsm.lsm import MODELS
    from bayeslsm.priors.catalogue import load_catalogue

    model = MODELS[exp.model]()
    catalogue = load_catalogue(exp.model)
    window = Period(exp.calibration.start, (exp.validation or exp.calibration).end)
    out: list[SiteData] = []
    for site in exp.sites:
        sd = SiteData(site.id)
        out.append(sd)
        if site.exclude is not None:
            sd.reason = f"excluded in the experiment file: {site.exclude}"
            continue
        sd.forcing, sd.obs, sd.notes, pft, sd.covariates = _read_site(exp, site, window, model)
        sd.pft = exp.data.pft_map.get(pft, pft) if pft else None
        if sd.pft != pft:
            sd.notes.append(f"PFT {pft} mapped to {sd.pft} ([data].pft_map)")
        if sd.pft not in catalogue.pfts:
            reason = (f"PFT {pft!r} has no priors in the {exp.model!r} catalogue (catalogue PFTs: "
                      f"{sorted(catalogue.pfts)})")
            if exp.data.unknown_pft == "error":
                raise ExperimentError(exp.path, "data.unknown_pft",
                                      f"site {site.id!r}: {reason}; set its `pft`, map it in [data].pft_map or set "
                                      f"unknown_pft = 'exclude'")
            sd.reason = f"unknown PFT: {reason}"
            continue
        why = _complete(sd.forcing, exp.calibration)
        if why is not None:
            if exp.data.incomplete == "error":
                raise ExperimentError(exp.path, "data.incomplete",
                                      f"site {site.id!r}: {why}; fix the data (e.g. an era_file), shorten the "
                                      f"period, or set incomplete = 'exclude'")
            sd.reason = f"incomplete forcing: {why}"
            continue
        sd.calibrated = True
        if exp.validation is not None:
            why = _complete(sd.forcing, exp.validation)
            sd.validated = why is None
            if why is not None:
                if exp.data.incomplete == "error":
                    raise ExperimentError(exp.path, "data.incomplete",
                                          f"site {site.id!r} cannot be validated: {why}; fix the data (e.g. an "
                                          f"era_file), shorten the validation period, or set incomplete = 'exclude' "
                                          f"to calibrate it without validating it")
                sd.reason = f"not validated: {why}"
    held_out = {s.id: s.reason for s in out if s.calibrated and not s.validated and exp.validation is not None}
    if held_out:
        warnings.warn(f"{len(held_out)} calibrated site(s) will not be validated (held-out forcing incomplete; "
                      f"[data].incomplete = 'exclude'): " + "; ".join(f"{k}: {v}" for k, v in held_out.items()),
                      HeldOutForcingWarning, stacklevel=2)
    cal_sites = [s for s in out if s.calibrated]
    if not cal_sites:
        raise ExperimentError(exp.path, "sites", "no site can be calibrated: " +
                              "; ".join(f"{s.id}: {s.reason}" for s in out))
    calibration = _stack(cal_sites, exp.calibration, exp)
    val_sites = [s for s in cal_sites if s.validated]
    validation = _stack(val_sites, window, exp) if val_sites else None
    return PreparedData(out, calibration, validation)


def calibration_window_data(exp: Experiment | str | Path, overrides: Mapping[str, Any] | None = None):
    """``(experiment, forcing, obs)`` of the calibration period only (no validation period is read).

    For the pre-sampling tools (sensitivity, prior predictive check): ``exp`` is an :class:`Experiment` or
    a TOML path, ``overrides`` as for :meth:`Experiment.with_overrides`.
    """
    if not isinstance(exp, Experiment):
        exp = load_experiment(exp)
    overrides = dict(overrides or {})
    overrides.setdefault("validation", None)
    exp = exp.with_overrides(overrides)
    forcing, obs = prepare_data(exp).calibration
    return exp, forcing, obs
