"""Prior predictive checks per PFT: does the catalogue prior predict ecosystems that exist?

A prior is implausible when the model, run with parameters drawn from it, predicts canopies or carbon
balances that are never observed (Gabry et al. 2019, doi:10.1111/rssa.12378, sect. 3: "prior predictive
checks").  :func:`prior_predictive_check` draws parameter sets from a catalogue's PFT prior
(:meth:`bayeslsm.priors.Catalogue.prior_for`), runs the model with the spin-up the experiments use on the
given forcing, and compares the 5 %, 50 % and 95 % prior predictive quantiles of three annual quantities with
the catalogue's plausible ranges (``[plausible.<PFT>]`` in ``models/dalec2.toml``,
:class:`bayeslsm.priors.PlausibleRange`):

``peak_LAI``    largest daily LAI of each calendar year [m2 m-2]
``annual_GPP``  annual sum of daily GPP [gC m-2 yr-1]
``annual_NEE``  annual sum of daily NEE, positive = source [gC m-2 yr-1]

each averaged over the complete calendar years of the forcing.  A quantity passes when its 5 % and 95 %
quantiles both lie inside the range.

The draws are those of the calibration's own NumPyro model (:class:`bayeslsm.infer.Calibration`, the same
priors, transforms, spin-up and forward run as ``Calibration.prior_predictive``), traced in jitted, vmapped
batches.  Ecological and dynamic constraints (EDCs, :mod:`bayeslsm.priors.edc`) are NumPyro factors, which
ancestral sampling ignores; with ``edc`` given they are applied by rejection, as Bloom & Williams (2015,
doi:10.5194/bg-12-1299-2015) apply them: a draw with EDC log-potential ``ℓ <= 0`` is kept with probability
``exp(ℓ)``, which samples exactly from prior × exp(ℓ) (the density the calibration uses).
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

__all__ = ["QUANTILES", "annual_statistics", "prior_predictive_check", "prior_check_table"]

QUANTILES = (0.05, 0.5, 0.95)
"""Prior predictive quantiles reported; the outer two are checked against the plausible range."""

_VARS = ("LAI", "GPP", "NEE")


def _year_index(time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(day index -> complete-year number or -1, the years) for daily ``time`` (datetime64[D])."""
    t = np.asarray(time, dtype="datetime64[D]")
    years = t.astype("datetime64[Y]").astype(int) + 1970
    idx = np.full(t.size, -1, dtype=int)
    complete = []
    for y in np.unique(years):
        days = np.nonzero(years == y)[0]
        n_days = 366 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 365
        if days.size == n_days:
            idx[days] = len(complete)
            complete.append(int(y))
    return idx, np.asarray(complete, dtype=int)


def annual_statistics(lai, gpp, nee, year_index: np.ndarray, n_years: int) -> dict[str, jnp.ndarray]:
    """Peak LAI, annual GPP and annual NEE, averaged over complete years.

    Parameters
    ----------
    lai, gpp, nee
        Daily series, time last ``(..., T)``: LAI [m2 m-2], GPP and NEE [gC m-2 d-1].
    year_index
        ``(T,)`` integers: the complete year each day belongs to (0 .. ``n_years`` - 1), -1 for days
        outside a complete calendar year (ignored).
    n_years
        Number of complete years (>= 1).

    Returns
    -------
    dict
        ``peak_LAI`` [m2 m-2], ``annual_GPP`` and ``annual_NEE`` [gC m-2 yr-1], shape ``(...)``.

    Examples
    --------
    >>> import numpy as np
    >>> lai = np.r_[np.linspace(0, 4, 365), np.linspace(0, 2, 365)]
    >>> s = annual_statistics(lai, np.ones(730), -np.ones(730), np.repeat([0, 1], 365), 2)
    >>> [round(float(s[k]), 3) for k in ("peak_LAI", "annual_GPP", "annual_NEE")]
    [3.0, 365.0, -365.0]
    """
    onehot = jnp.asarray(np.asarray(year_index)[:, None] == np.arange(n_years)[None, :], dtype=float)  # (T, Y)
    mask = onehot.T.astype(bool)  # (Y, T)
    peak = jnp.max(jnp.where(mask, jnp.asarray(lai)[..., None, :], -jnp.inf), axis=-1)  # (..., Y)
    return {
        "peak_LAI": jnp.mean(peak, axis=-1),
        "annual_GPP": jnp.mean(jnp.asarray(gpp) @ onehot, axis=-1),
        "annual_NEE": jnp.mean(jnp.asarray(nee) @ onehot, axis=-1),
    }


def _with_pft(forcing: xr.Dataset, pft: str) -> xr.Dataset:
    if "site" in forcing.dims:
        return forcing.assign_coords(pft=("site", [pft] * forcing.sizes["site"]))
    return forcing.assign_coords(pft=pft)


def prior_predictive_check(model, pft: str, forcing: xr.Dataset, *, n: int = 200, seed: int = 0,
                           spinup: str = "none", n_cycles: int = 5, edc: bool | Sequence[str] | None = None,
                           free: Sequence[str] | None = None, fixed: Mapping[str, Any] | None = None,
                           catalogue=None, ranges: Mapping[str, Any] | None = None, batch: int = 100,
                           max_proposals: int | None = None) -> xr.Dataset:
    """Prior predictive quantiles of peak LAI, annual GPP and annual NEE for one PFT, against plausible ranges.

    Parameters
    ----------
    model
        Process model instance or name (``"dalec2"``, ``"dalec2_water"``).
    pft
        PFT whose catalogue prior is drawn (one of ``catalogue.pfts``); every site of ``forcing`` is given it.
    forcing
        Daily forcing (dims ``time`` and optionally ``site``) with at least one complete calendar year,
        as for :class:`~bayeslsm.infer.Calibration`.  Draws x sites are pooled.
    n
        Number of prior draws kept (after EDC rejection).
    seed
        Seed of every random choice (same seed -> same draws).
    spinup, n_cycles
        Spin-up, as in experiments (:data:`bayeslsm.lsm.spinup.SPINUP_METHODS`).
    edc
        EDCs applied by rejection (module docstring): ``True``, a sequence of names, or ``None``.
    free
        Parameters drawn from the prior (default: every catalogue parameter); the others are held at
        ``fixed`` or the catalogue default.
    fixed
        Values of non-free parameters that differ from the defaults.
    catalogue
        A :class:`~bayeslsm.priors.Catalogue` (default: the model's packaged one).
    ranges
        Quantity -> :class:`~bayeslsm.priors.PlausibleRange` (or ``(lower, upper)``), overriding the
        catalogue's ``[plausible.<pft>]``.  A quantity without a range is reported with ``passed`` = NaN.
    batch
        Draws per jitted, vmapped batch.
    max_proposals
        Stop drawing after this many proposals (default ``50 * n`` with ``edc``, else ``2 * n``: only
        non-finite simulations are replaced) and warn if fewer than ``n`` were kept.

    Returns
    -------
    xarray.Dataset
        Dims ``quantity`` (``peak_LAI``, ``annual_GPP``, ``annual_NEE``), ``quantile`` (0.05, 0.5, 0.95) and
        ``sample`` (draw x site). Variables: ``value`` (quantity, quantile), ``lower``, ``upper``
        (quantity; NaN without a range), ``passed`` (quantity: 5 % and 95 % quantiles inside the range;
        NaN without one), ``inside`` (fraction of samples inside the range), ``samples``
        (sample, quantity) and ``parameter_values`` (sample, parameter: the drawn values of ``free``). ``attrs``: model, pft, n, seed, spinup, n_cycles, edc, acceptance (EDC
        acceptance rate), years (complete years used), sources of the ranges, and ``all_passed``.

    Raises
    ------
    ValueError
        Unknown PFT, no complete calendar year in ``forcing``, ``n < 1``.

    References
    ----------
    Gabry J, Simpson D, Vehtari A, Betancourt M, Gelman A (2019). Visualization in Bayesian workflow.
    J. R. Stat. Soc. A 182, 389-402. doi:10.1111/rssa.12378

    Examples
    --------
    >>> from bayeslsm.data.synthetic import weather_generator            # doctest: +SKIP
    >>> ds = prior_predictive_check("dalec2", "DBF", weather_generator(years=2), n=100)  # doctest: +SKIP
    >>> ds["value"].sel(quantity="peak_LAI").values                     # doctest: +SKIP
    """
    from bayeslsm.infer import Calibration
    from bayeslsm.infer.calibration import get_model
    from bayeslsm.priors import PlausibleRange, load_catalogue
    from bayeslsm.priors.catalogue import PLAUSIBLE_QUANTITIES

    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"`n` must be an integer >= 1 (number of prior draws); got {n!r}")
    mdl = get_model(model)
    cat = catalogue if catalogue is not None else load_catalogue(mdl.name)
    if pft not in cat.pfts:
        raise ValueError(f"`pft` = {pft!r} has no prior table in the {cat.model!r} catalogue; "
                         f"expected one of {list(cat.pfts)}")
    missing = [v for v in _VARS if v not in mdl.Outputs._fields]
    if missing:
        raise ValueError(f"model {mdl.name!r} has no output(s) {missing}; the prior check needs {list(_VARS)}")
    year_index, years = _year_index(np.asarray(forcing["time"].values))
    if years.size == 0:
        raise ValueError(f"`forcing` has no complete calendar year (time {str(forcing['time'].values[0])[:10]} .. "
                         f"{str(forcing['time'].values[-1])[:10]}); the annual quantities need at least one")
    free = tuple(cat.names() if free is None else free)
    fixed = {k: v for k, v in dict(fixed or {}).items() if k not in free}
    streams = [{"name": v, "variable": v} for v in _VARS]  # recorded daily; their noise is not used
    cal = Calibration(mdl, _with_pft(forcing, pft), None, streams, free=free, fixed=fixed, spinup=spinup,
                      n_cycles=n_cycles, edc=edc, catalogue=cat)

    import numpyro

    from bayeslsm.infer import names

    n_years = int(years.size)

    def one(key, frc):
        tr = numpyro.handlers.trace(numpyro.handlers.seed(cal.numpyro_model, key)).get_trace(
            obs=None, record=True, forcing=frc)
        daily = [tr[names.daily(v)]["value"] for v in _VARS]  # (site, T)
        out = annual_statistics(*daily, year_index, n_years)  # (site,)
        site = tr["edc"] if "edc" in tr else None
        out["edc"] = site["fn"].log_prob(site["value"]) if site is not None else jnp.zeros(())
        n_site = daily[0].shape[0]
        out["parameters"] = (jnp.stack([jnp.broadcast_to(tr[p]["value"], (n_site,)) for p in free], axis=-1)
                             if free else jnp.zeros((n_site, 0)))
        return out

    run = jax.jit(jax.vmap(one, in_axes=(0, None)))
    batch = int(batch) if cal.edc is not None else min(int(batch), int(n))  # without EDCs every draw is kept
    rng = np.random.default_rng(seed)
    key = jax.random.PRNGKey(seed)
    # proposals: EDC rejection needs many; without EDCs only non-finite simulations are replaced
    cap = (50 * n if cal.edc is not None else 2 * n) if max_proposals is None else int(max_proposals)
    kept: dict[str, list] = {q: [] for q in (*PLAUSIBLE_QUANTITIES, "parameters")}
    n_kept = n_prop = 0
    while n_kept < n and n_prop < cap:
        key, sub = jax.random.split(key)
        res = {k: np.asarray(v) for k, v in run(jax.random.split(sub, batch), cal.forcing).items()}
        n_prop += batch
        take = np.ones(batch, bool)
        if cal.edc is not None:  # rejection: keep with probability exp(edc), edc <= 0 (log-sigmoid sums)
            take = rng.uniform(size=batch) < np.exp(np.minimum(res["edc"], 0.0))
        take &= np.all([np.all(np.isfinite(res[q]).reshape(batch, -1), axis=1) for q in PLAUSIBLE_QUANTITIES], axis=0)
        idx = np.nonzero(take)[0][: n - n_kept]
        for q in PLAUSIBLE_QUANTITIES:
            kept[q].append(res[q][idx])  # (kept, site)
        kept["parameters"].append(res["parameters"][idx].reshape(idx.size * cal.n_site, len(free)))
        n_kept += idx.size
    if n_kept == 0:
        raise ValueError(f"no prior draw of PFT {pft!r} was kept out of {n_prop} proposals (EDCs {edc!r} reject "
                         f"them all, or every simulation is non-finite); raise `max_proposals` or drop EDCs")
    if n_kept < n:
        warnings.warn(f"prior_predictive_check: only {n_kept} of n = {n} draws kept for PFT {pft!r} after "
                      f"{n_prop} proposals (acceptance {n_kept / n_prop:.3g}: EDC rejections and non-finite "
                      f"simulations); raise `max_proposals`", UserWarning, stacklevel=2)
    samples = np.stack([np.concatenate(kept[q], axis=0).ravel() for q in PLAUSIBLE_QUANTITIES], axis=1)

    rng_table = dict(cat.plausible.get(pft, {}))
    for q, r in dict(ranges or {}).items():
        if q not in PLAUSIBLE_QUANTITIES:
            raise ValueError(f"`ranges` has unknown quantity {q!r}; expected some of {list(PLAUSIBLE_QUANTITIES)}")
        if not isinstance(r, PlausibleRange):
            lo, hi = r
            r = PlausibleRange(q, lo, hi, PLAUSIBLE_QUANTITIES[q][0], "given as `ranges`")
        rng_table[q] = r
    quantities = list(PLAUSIBLE_QUANTITIES)
    value = np.quantile(samples, QUANTILES, axis=0).T  # (quantity, quantile)
    lower = np.array([rng_table[q].lower if q in rng_table else np.nan for q in quantities])
    upper = np.array([rng_table[q].upper if q in rng_table else np.nan for q in quantities])
    has = np.isfinite(lower)
    passed = np.where(has, (value[:, 0] >= lower) & (value[:, -1] <= upper), np.nan)
    inside = np.where(has, np.mean((samples >= lower) & (samples <= upper), axis=0), np.nan)
    units = [PLAUSIBLE_QUANTITIES[q][0] for q in quantities]
    ds = xr.Dataset(
        {
            "value": (("quantity", "quantile"), value),
            "lower": ("quantity", lower),
            "upper": ("quantity", upper),
            "passed": ("quantity", passed),
            "inside": ("quantity", inside),
            "samples": (("sample", "quantity"), samples),
            "parameter_values": (("sample", "parameter"), np.concatenate(kept["parameters"], axis=0)),
        },
        coords={"quantity": quantities, "quantile": list(QUANTILES), "unit": ("quantity", units),
                "parameter": list(free)},
    )
    ds.attrs.update({
        "model": mdl.name, "pft": pft, "n": int(n_kept), "proposals": int(n_prop), "seed": int(seed),
        "spinup": spinup, "n_cycles": int(n_cycles), "edc": str(list(cal.edc.names) if cal.edc else None),
        "acceptance": n_kept / n_prop, "years": str(years.tolist()), "sites": str(list(cal.sites)),
        "free": str(list(free)),
        "sources": str({q: rng_table[q].source for q in quantities if q in rng_table}),
        "all_passed": int(bool(np.all(passed[has] == 1)) and bool(has.all())),
    })
    return ds


def prior_check_table(results: Mapping[str, xr.Dataset] | Sequence[xr.Dataset]):
    """One row per (PFT, quantity): 5/50/95 % quantiles, range and pass/fail, as a ``pandas.DataFrame``.

    Parameters
    ----------
    results
        Outputs of :func:`prior_predictive_check` (a sequence, or a mapping label -> result).

    Examples
    --------
    >>> prior_check_table([ds_dbf, ds_enf])        # doctest: +SKIP
    """
    import pandas as pd

    items = results.items() if isinstance(results, Mapping) else ((r.attrs["pft"], r) for r in results)
    rows = []
    for label, ds in items:
        for i, q in enumerate(ds["quantity"].values):
            v = ds["value"].values[i]
            p = ds["passed"].values[i]
            rows.append({"pft": label, "quantity": str(q), "unit": str(ds["unit"].values[i]),
                         "q05": v[0], "q50": v[1], "q95": v[2], "lower": ds["lower"].values[i],
                         "upper": ds["upper"].values[i], "inside": ds["inside"].values[i],
                         "passed": None if np.isnan(p) else bool(p)})
    return pd.DataFrame(rows).set_index(["pft", "quantity"])
