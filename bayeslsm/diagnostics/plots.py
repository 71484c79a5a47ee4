"""Figures for a calibration: traces, pairs, predictive checks, prior vs posterior, hierarchy.

Every function returns the matplotlib ``Figure`` (created through pyplot, so ``plt.close(fig)``
releases it) and, when ``path`` is given, also saves it there atomically (temporary file, then
rename). When a figure is saved and no matplotlib backend has been chosen yet, the non-interactive
``Agg`` backend is selected; a backend the user chose is never changed. Nothing calls ``plt.show()``.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

import numpy as np

from bayeslsm._compat import import_arviz
from bayeslsm.diagnostics.checks import correlated_pairs
from bayeslsm.diagnostics.summary import (
    _attr_json,
    _check_prob,
    _element_labels,
    _flat_columns,
    _flat_draws,
    _free_parameters,
    _require_group,
    _var_names,
)

__all__ = [
    "plot_trace",
    "plot_pairs",
    "plot_predictive",
    "plot_prior_posterior",
    "plot_forest",
    "plot_shrinkage",
    "stream_names",
    "stream_variable",
]


def _ensure_backend() -> None:
    """Select ``Agg`` when neither ``MPLBACKEND`` nor any earlier call has chosen a backend."""
    import matplotlib

    if os.environ.get("MPLBACKEND"):
        return
    getter = getattr(matplotlib.rcParams, "_get_backend_or_none", None)
    if getter is not None and getter() is None:
        matplotlib.use("Agg")


@contextmanager
def _arviz_plotting(n_subplots: int):
    """ArviZ plotting with room for ``n_subplots`` and without ArviZ 0.x's matplotlib-3.11 chatter.

    ArviZ 0.x passes dicts to ``matplotlib.cbook.normalize_kwargs``, deprecated in matplotlib 3.11;
    that warning concerns ArviZ, not the caller, so it is silenced here and only here.
    """
    az = import_arviz()
    with warnings.catch_warnings(), az.rc_context({"plot.max_subplots": max(40, int(n_subplots))}):
        warnings.filterwarnings("ignore", message=".*alias_mapping to normalize_kwargs.*",
                                category=DeprecationWarning)
        yield az


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _finish(fig, path: str | os.PathLike | None):
    """Save ``fig`` atomically to ``path`` (format from the suffix, PNG by default); return ``fig``."""
    if path is None:
        return fig
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".").lower() or "png"
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format=fmt, dpi=110, bbox_inches="tight")
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; a figure is as readable as any file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return fig


def _figure_of(axes):
    return np.ravel(np.asarray(axes, dtype=object))[0].figure


def _pyplot(path):
    if path is not None:
        _ensure_backend()
    import matplotlib.pyplot as plt

    return plt


# ---------------------------------------------------------------------------------------------
# streams


def stream_names(idata) -> list[str]:
    """Observation streams of ``idata``: ``attrs["streams"]``, else the variables of ``observed_data``.

    Examples
    --------
    >>> stream_names(idata)  # doctest: +SKIP
    ['NEE', 'LE']
    """
    names = _attr_json(idata, "streams", None)
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    if "observed_data" in idata.groups():
        obs = idata.observed_data
        return [v for v in obs.data_vars if f"{v}_obs" in obs[v].dims]
    for g in ("posterior_predictive", "prior_predictive"):
        if g in idata.groups():
            ds = idata[g]
            return [v for v in ds.data_vars if not v.endswith(("_model", "_daily"))]
    return []


_VARIABLE_RE = re.compile(r"""\bvariable['"]?\s*[=:]\s*(['"])(?P<v>[^'"]+)\1""")


def stream_variable(idata, stream: str) -> str | None:
    """The model output a stream observes, or ``None`` when it cannot be determined.

    Read from ``attrs["stream_config"]`` (a JSON object stream -> config ``repr`` or dict with a
    ``variable`` entry); failing that, the ``{variable}_daily`` predictive variable whose name matches
    the stream (case-insensitive), or the only ``*_daily`` variable if there is exactly one.

    Examples
    --------
    >>> stream_variable(idata, "NEE")  # doctest: +SKIP
    'nee'
    """
    daily = set()
    for g in ("posterior_predictive", "prior_predictive"):
        if g in idata.groups():
            daily |= {v[: -len("_daily")] for v in idata[g].data_vars if v.endswith("_daily")}
    cfg = _attr_json(idata, "stream_config", {})
    if isinstance(cfg, dict) and stream in cfg:
        c = cfg[stream]
        if isinstance(c, dict) and c.get("variable"):
            return str(c["variable"])
        if isinstance(c, str):  # repr of a StreamConfig; nested configs may name variables too
            found = [m.group("v") for m in _VARIABLE_RE.finditer(c)]
            if found:
                return next((v for v in found if v in daily), found[0])
    for v in sorted(daily):
        if v.lower() == stream.lower():
            return v
    return next(iter(daily)) if len(daily) == 1 else None


def _site_name(idata, ds, site) -> tuple[int, str]:
    """(index, name) of ``site`` given as an index or a name."""
    if "site" in ds.coords:
        sites = [str(s) for s in ds["site"].values]
    else:
        sites = [str(s) for s in (_attr_json(idata, "sites", []) or [])]
    if isinstance(site, (int, np.integer)):
        if not sites:
            return int(site), str(site)
        if not -len(sites) <= site < len(sites):
            raise ValueError(f"`site` index {site} is out of range; expected 0..{len(sites) - 1} for sites {sites}")
        i = int(site) % len(sites)
        return i, sites[i]
    if str(site) not in sites:
        raise ValueError(f"`site` {site!r} is not a site of `idata`; expected an index or one of {sites}")
    return sites.index(str(site)), str(site)


# ---------------------------------------------------------------------------------------------


def plot_trace(idata, var_names: Sequence[str] | None = None, path: str | os.PathLike | None = None):
    """Trace and marginal density of each chain (``az.plot_trace``, compact: one row per variable; with
    more than 4 chains one density of all chains).

    Parameters
    ----------
    idata
        ``InferenceData`` with a ``posterior`` group.
    var_names
        Posterior variables; default the free parameters (``attrs["free_parameters"]``), else all.
    path
        Optional file to save the figure to (format from the suffix).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_trace(idata, ["a", "b"], path="trace.png")  # doctest: +SKIP
    """
    post = _require_group(idata, "posterior", "plot_trace")
    names = _free_parameters(idata) if var_names is None else _var_names(post, var_names)
    _pyplot(path)  # selects the backend before ArviZ creates the figure
    # many chains (ChEES runs 16+): one density of all chains; the traces still show every chain
    combined = post.sizes.get("chain", 1) > 4
    with _arviz_plotting(2 * len(names)) as az:
        axes = az.plot_trace(idata, var_names=names, compact=True, combined=combined, show=False,
                             backend_kwargs={"layout": "constrained"})
    fig = _figure_of(axes)
    return _finish(fig, path)


def plot_pairs(idata, var_names: Sequence[str] | None = None, max_vars: int = 6, kind: str = "scatter",
               path: str | os.PathLike | None = None):
    """Pairwise scatter (or KDE) plots of posterior draws, to show correlations and equifinality.

    Parameters
    ----------
    idata
        ``InferenceData`` with a ``posterior`` group.
    var_names
        Posterior variables (every element of site-varying ones is a column). By default the
        elements of the most correlated pairs among all posterior variables
        (:func:`~bayeslsm.diagnostics.correlated_pairs`, by decreasing ``|r|``; the same pairs the
        report lists), up to ``max_vars`` columns.
    max_vars
        Largest number of columns; with explicit ``var_names`` extra columns are dropped with a warning.
    kind
        ``"scatter"``, ``"kde"`` or ``"hexbin"`` (``az.plot_pair``).
    path
        Optional file to save the figure to.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        Fewer than two non-constant columns to plot.

    Examples
    --------
    >>> fig = plot_pairs(idata, max_vars=4)  # doctest: +SKIP
    """
    post = _require_group(idata, "posterior", "plot_pairs")
    if max_vars < 2:
        raise ValueError(f"`max_vars` must be at least 2; got {max_vars}")
    if var_names is None:
        cols = _flat_columns(post)
        chosen: list[str] = []
        for a, b, _ in correlated_pairs(post, threshold=0.0):
            for label in (a, b):
                if label in cols and label not in chosen and len(chosen) < max_vars:
                    chosen.append(label)
            if len(chosen) >= max_vars:
                break
    else:
        cols = _flat_columns(post, _var_names(post, var_names))
        chosen = [k for k, v in cols.items() if np.std(v) > 0]
        if len(chosen) > max_vars:
            warnings.warn(f"plot_pairs: `var_names` give {len(chosen)} columns; plotting the first "
                          f"{max_vars} ({chosen[:max_vars]}); raise `max_vars` to see all", UserWarning,
                          stacklevel=2)
            chosen = chosen[:max_vars]
    if len(chosen) < 2:
        raise ValueError(f"plot_pairs needs at least two non-constant posterior columns; found {chosen} "
                         f"among variables {list(post.data_vars)}")
    _pyplot(path)
    data = {k: cols[k] for k in chosen}
    size = 2.2 * (len(chosen) - 1) + 1.5
    kwargs = {"scatter_kwargs": {"alpha": 0.4, "s": 8}} if kind == "scatter" else {}
    with _arviz_plotting(len(chosen) ** 2) as az:
        axes = az.plot_pair(data, kind=kind, marginals=False, figsize=(size, size), textsize=9,
                            show=False, **kwargs)
    return _finish(_figure_of(axes), path)


def _quantiles(values: np.ndarray, prob: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower, median, upper) over the leading (sample) axis."""
    lo, med, hi = np.nanquantile(values, [(1 - prob) / 2, 0.5, (1 + prob) / 2], axis=0)
    return lo, med, hi


def plot_predictive(idata, stream: str, site: int | str = 0, group: str = "posterior_predictive",
                    prob: float = 0.9, path: str | os.PathLike | None = None):
    """Predictive check of one stream at one site: daily model band, observations, predictive intervals.

    Draws the central ``prob`` band and median of the model's daily trajectory ``{variable}_daily``
    (when present), the observations ``observed_data[stream]`` of that site, and the central ``prob``
    interval of the replicated observations ``{group}[stream]`` at the observed points (noise and bias
    included). In ``prior_predictive``, where the stream is stored on its full support grid, the
    interval is drawn at every support time of the site.

    Parameters
    ----------
    idata
        ``InferenceData`` (layout of :mod:`bayeslsm.infer.results`).
    stream
        Stream name, one of :func:`stream_names`.
    site
        Site index or name.
    group
        ``"posterior_predictive"`` or ``"prior_predictive"``.
    prob
        Probability mass of the central intervals.
    path
        Optional file to save the figure to.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_predictive(idata, "NEE", site="DE-Tha")  # doctest: +SKIP
    """
    _check_prob(prob, "prob")
    ds = _require_group(idata, group, "plot_predictive")
    streams = stream_names(idata)
    if stream not in streams or stream not in ds.data_vars:
        raise ValueError(f"`stream` {stream!r} is not a stream of `idata.{group}`; expected one of "
                         f"{[s for s in streams if s in ds.data_vars]}")
    i_site, site_name = _site_name(idata, ds, site)
    plt = _pyplot(path)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    var = stream_variable(idata, stream)
    daily = f"{var}_daily" if var is not None else None
    if daily is not None and daily in ds.data_vars:
        da = ds[daily].isel(site=i_site).transpose("chain", "draw", "time")
        v = np.asarray(da.values, dtype=float).reshape(-1, da.sizes["time"])
        lo, med, hi = _quantiles(v, prob)
        t = ds["time"].values
        ax.fill_between(t, lo, hi, color="C0", alpha=0.25, lw=0, label=f"model {var} ({prob:.0%})")
        ax.plot(t, med, color="C0", lw=1.0, label=f"model {var} (median)")
    rep = ds[stream]
    obs_dim = f"{stream}_obs"
    if obs_dim in rep.dims:
        sel = np.asarray(rep[f"{stream}_site"].values).astype(str) == site_name
        t_pts = rep[f"{stream}_time"].values[sel]
        v = _flat_draws(rep)[:, sel]
    else:  # full support grid (prior predictive)
        r = rep.isel(site=i_site).transpose("chain", "draw", f"{stream}_time")
        t_pts = r[f"{stream}_time"].values
        v = np.asarray(r.values, dtype=float).reshape(-1, t_pts.size)
    if t_pts.size:
        lo, med, hi = _quantiles(v, prob)
        ax.vlines(t_pts, lo, hi, color="C1", alpha=0.6, lw=1.2,
                  label=f"{group.replace('_', ' ')} {stream} ({prob:.0%})")
    if "observed_data" in idata.groups() and stream in idata.observed_data:
        ob = idata.observed_data[stream]
        sel = np.asarray(ob[f"{stream}_site"].values).astype(str) == site_name
        ax.plot(ob[f"{stream}_time"].values[sel], np.asarray(ob.values)[sel], "o", color="k", ms=3,
                label=f"observed {stream}")
    ax.set_title(f"{stream} at {site_name}")
    ax.set_ylabel(stream)
    ax.set_xlabel("time")
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    return _finish(fig, path)


def _grid(plt, n: int, ncols: int = 3, size=(3.4, 2.6)):
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:n]


def _density(ax, x: np.ndarray, bins: int = 40, **kw):
    x = x[np.isfinite(x)]
    if x.size == 0:
        return
    if np.ptp(x) == 0:
        ax.axvline(x[0], **{k: v for k, v in kw.items() if k in ("color", "label", "lw", "ls")})
        return
    dens, edges = np.histogram(x, bins=bins, density=True)
    ax.stairs(dens, edges, **kw)


def plot_prior_posterior(idata, var_names: Sequence[str] | None = None, path: str | os.PathLike | None = None):
    """Prior (grey, filled) and posterior (coloured; one line per site or PFT) histograms per parameter.

    Parameters
    ----------
    idata
        ``InferenceData`` with ``posterior`` and ``prior`` groups.
    var_names
        Parameters; default the free parameters present in both groups.
    path
        Optional file to save the figure to.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_prior_posterior(idata, ["a"])  # doctest: +SKIP
    """
    post = _require_group(idata, "posterior", "plot_prior_posterior")
    prior = _require_group(idata, "prior", "plot_prior_posterior")
    if var_names is None:
        names = [v for v in _free_parameters(idata) if v in prior.data_vars]
    else:
        names = _var_names(post, var_names)
        missing = [v for v in names if v not in prior.data_vars]
        if missing:
            raise ValueError(f"`var_names` has {missing}, which the prior group lacks; expected some of "
                             f"{list(prior.data_vars)}")
    if not names:
        raise ValueError(f"no parameter is in both the posterior ({list(post.data_vars)}) and the prior "
                         f"({list(prior.data_vars)})")
    plt = _pyplot(path)
    fig, axes = _grid(plt, len(names))
    for ax, name in zip(axes, names):
        pv = _flat_draws(prior[name]).reshape(-1)
        qv = _flat_draws(post[name])
        _density(ax, pv, fill=True, color="0.6", alpha=0.5, label="prior")
        labels = _element_labels(name, post[name])
        for j in range(qv.shape[1]):
            _density(ax, qv[:, j], color=f"C{j % 10}", lw=1.2,
                     label="posterior" if qv.shape[1] == 1 else labels[j][len(name):].strip("[]"))
        finite = pv[np.isfinite(pv)]
        if finite.size:
            lo, hi = np.quantile(finite, [0.005, 0.995])
            qf = qv[np.isfinite(qv)]
            if qf.size:
                lo, hi = min(lo, qf.min()), max(hi, qf.max())
            if hi > lo:
                ax.set_xlim(lo, hi)
        ax.set_title(name, fontsize=10)
        ax.set_yticks([])
        if qv.shape[1] <= 8:
            ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return _finish(fig, path)


def _hierarchical_vars(post) -> list[str]:
    return [v for v in post.data_vars if {"site", "pft"} & set(post[v].dims)]


def plot_forest(idata, var_names: Sequence[str] | None = None, prob: float = 0.9,
                path: str | os.PathLike | None = None):
    """Forest plot of site- and PFT-level values (``az.plot_forest``, chains combined, HDI intervals).

    Parameters
    ----------
    idata
        ``InferenceData`` with a ``posterior`` group.
    var_names
        Posterior variables; default every variable with a ``site`` or ``pft`` dim.
    prob
        Probability mass of the highest-density intervals.
    path
        Optional file to save the figure to.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_forest(idata, ["Vcmax", "Vcmax_pft"])  # doctest: +SKIP
    """
    _check_prob(prob, "prob")
    post = _require_group(idata, "posterior", "plot_forest")
    if var_names is None:
        names = _hierarchical_vars(post)
        if not names:
            raise ValueError(f"plot_forest: no posterior variable has a 'site' or 'pft' dim; pass `var_names` "
                             f"from {list(post.data_vars)}")
    else:
        names = _var_names(post, var_names)
    _pyplot(path)
    n_rows = sum(int(np.prod([post[v].sizes[d] for d in post[v].dims if d not in ("chain", "draw")]))
                 for v in names)
    with _arviz_plotting(n_rows) as az:
        axes = az.plot_forest(idata, var_names=names, combined=True, hdi_prob=prob, show=False)
    return _finish(_figure_of(axes), path)


def plot_shrinkage(idata, param: str, prob: float = 0.9, path: str | os.PathLike | None = None):
    """Site posterior means with central intervals, and the PFT-level value(s) they shrink towards.

    Sites are coloured by PFT (``attrs["site_pft"]``); the posterior mean and central ``prob``
    interval of ``{param}_pft`` are drawn as horizontal lines and bands when that variable exists.

    Parameters
    ----------
    idata
        ``InferenceData`` with a ``posterior`` group.
    param
        A posterior variable with a ``site`` dim.
    prob
        Probability mass of the central intervals.
    path
        Optional file to save the figure to.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_shrinkage(idata, "b")  # doctest: +SKIP
    """
    _check_prob(prob, "prob")
    post = _require_group(idata, "posterior", "plot_shrinkage")
    site_vars = [v for v in post.data_vars if "site" in post[v].dims]
    if param not in site_vars:
        raise ValueError(f"`param` {param!r} is not a site-varying posterior variable; expected one of {site_vars}")
    da = post[param].transpose("chain", "draw", "site", ...)
    v = _flat_draws(da)
    sites = [str(s) for s in da["site"].values]
    lo, _, hi = _quantiles(v, prob)
    mean = v.mean(axis=0)
    site_pft = _attr_json(idata, "site_pft", None)
    if not (isinstance(site_pft, list) and len(site_pft) == len(sites)):
        site_pft = [None] * len(sites)
    pft_names = list(dict.fromkeys(str(p) for p in site_pft if p is not None))
    colour = {p: f"C{k % 10}" for k, p in enumerate(pft_names)}
    plt = _pyplot(path)
    fig, ax = plt.subplots(figsize=(max(4.5, 0.45 * len(sites) + 2), 3.6))
    x = np.arange(len(sites))
    for p in dict.fromkeys(site_pft):
        idx = np.array([k for k, q in enumerate(site_pft) if q == p])
        c = colour.get(str(p), "C0") if p is not None else "C0"
        ax.errorbar(x[idx], mean[idx], yerr=[mean[idx] - lo[idx], hi[idx] - mean[idx]], fmt="o", color=c,
                    ms=4, capsize=2, label=f"sites ({p})" if p is not None else "sites")
    pft_var = f"{param}_pft"
    if pft_var in post.data_vars and "pft" in post[pft_var].dims:
        pda = post[pft_var].transpose("chain", "draw", "pft")
        pv = _flat_draws(pda)
        plo, _, phi = _quantiles(pv, prob)
        pmean = pv.mean(axis=0)
        for k, p in enumerate(str(s) for s in pda["pft"].values):
            c = colour.get(p, f"C{k % 10}")
            ax.axhline(pmean[k], color=c, ls="--", lw=1, label=f"{pft_var}[{p}]")
            ax.axhspan(plo[k], phi[k], color=c, alpha=0.12, lw=0)
    ax.set_xticks(x, sites, rotation=45 if len(sites) > 6 else 0, ha="right" if len(sites) > 6 else "center")
    ax.set_ylabel(param)
    ax.set_title(f"{param}: site posteriors ({prob:.0%} intervals) and PFT level")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return _finish(fig, path)
