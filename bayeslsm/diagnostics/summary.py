"""Numbers that say whether a calibration worked: convergence, efficiency, truth recovery, learning.

* convergence: the largest rank-normalised split R-hat and the smallest bulk and tail effective
  sample sizes over every posterior variable (Vehtari et al. 2021, doi:10.1214/20-BA1221);
* NUTS health: divergences and the fraction of transitions that hit the maximum tree depth;
* efficiency: sampling wall time and the smallest bulk ESS per second;
* twin experiments: whether the central ``ci_prob`` credible interval covers each true value;
* learning from data: the uncertainty reduction ``1 - sd_posterior / sd_prior`` per parameter.

Every value in the dictionaries returned here is a plain Python ``float`` / ``int`` / ``bool`` /
``str`` / ``None`` (never NumPy scalars or NaN), so the result serialises to strict JSON.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from bayeslsm._compat import import_arviz

__all__ = ["summarize", "parameter_table", "uncertainty_reduction", "write_summary_json"]

_SAMPLE_DIMS = ("chain", "draw")


# ---------------------------------------------------------------------------------------------
# helpers shared by plots.py and report.py


def _finite_or_none(x) -> float | None:
    """``float(x)``, or ``None`` where ``x`` is missing, NaN or infinite (strict JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _attrs(idata) -> dict:
    """The bayeslsm attributes, read from the first group that has them."""
    for g in ("posterior", "prior", "posterior_predictive", "prior_predictive", "observed_data"):
        if g in idata.groups() and idata[g].attrs:
            return dict(idata[g].attrs)
    return {}


def _attr_json(idata, key: str, default: Any = None) -> Any:
    """Attribute ``key`` decoded from JSON; ``default`` when absent, the raw value when not JSON."""
    raw = _attrs(idata).get(key)
    if raw is None:
        return default
    if isinstance(raw, (bytes, str)):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _require_group(idata, group: str, caller: str):
    if group not in idata.groups():
        raise ValueError(f"{caller} needs the {group!r} group of `idata`; found groups {list(idata.groups())}")
    return idata[group]


def _element_labels(name: str, da) -> list[str]:
    """Labels of the elements of ``da`` (sample dims excluded), as :func:`correlated_pairs` writes them."""
    extra = [d for d in da.dims if d not in _SAMPLE_DIMS]
    size = int(np.prod([da.sizes[d] for d in extra])) if extra else 1
    if size == 1:
        return [name]
    if len(extra) == 1:
        return [f"{name}[{c}]" for c in da[extra[0]].values]
    return [f"{name}[{i}]" for i in range(size)]


def _flat_draws(da) -> np.ndarray:
    """(chain * draw, n_elements) float array of a variable with leading dims (chain, draw)."""
    da = da.transpose("chain", "draw", ...)
    v = np.asarray(da.values, dtype=float)
    return v.reshape(v.shape[0] * v.shape[1], -1)


def _flat_columns(group, var_names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Label -> (chain, draw) array for every element of the chosen variables."""
    out = {}
    for name in _var_names(group, var_names):
        da = group[name].transpose("chain", "draw", ...)
        v = np.asarray(da.values, dtype=float)
        flat = v.reshape(v.shape[0], v.shape[1], -1)
        for j, label in enumerate(_element_labels(name, da)):
            out[label] = flat[:, :, j]
    return out


def _var_names(group, var_names: Sequence[str] | None) -> list[str]:
    """``var_names`` validated against ``group`` (all its variables when ``None``)."""
    available = list(group.data_vars)
    if var_names is None:
        return available
    if isinstance(var_names, str):
        var_names = [var_names]
    missing = [v for v in var_names if v not in group.data_vars]
    if missing:
        raise ValueError(f"`var_names` has {missing}, which are not variables of this group; expected "
                         f"some of {available}")
    return list(var_names)


def _free_parameters(idata, group: str = "posterior") -> list[str]:
    """The free model parameters recorded in ``attrs['free_parameters']`` that ``group`` holds."""
    free = _attr_json(idata, "free_parameters", None)
    ds = idata[group]
    if isinstance(free, list):
        names = [f for f in free if f in ds.data_vars]
        if names:
            return names
    return list(ds.data_vars)


def _sampler(idata) -> dict:
    s = _attr_json(idata, "sampler", {})
    return s if isinstance(s, dict) else {}


# ---------------------------------------------------------------------------------------------


def parameter_table(idata, var_names: Sequence[str] | None = None, ci_prob: float = 0.9) -> list[dict]:
    """One row per posterior element: mean, sd, central interval, R-hat and ESS.

    Parameters
    ----------
    idata
        ``InferenceData`` with a ``posterior`` group (layout of :mod:`bayeslsm.infer.results`).
    var_names
        Posterior variables to tabulate; all of them when ``None``.
    ci_prob
        Probability mass of the central (equal-tailed) interval, in (0, 1).

    Returns
    -------
    list of dict
        Keys ``parameter`` (``name`` or ``name[site]``), ``mean``, ``sd``, ``lower``, ``upper``
        (the ``(1 - ci_prob) / 2`` and ``(1 + ci_prob) / 2`` quantiles), ``r_hat``, ``ess_bulk``,
        ``ess_tail``; non-finite values are ``None``.

    Examples
    --------
    >>> rows = parameter_table(idata, ["a"])  # doctest: +SKIP
    >>> rows[0]["parameter"], rows[0]["r_hat"]  # doctest: +SKIP
    ('a', 1.001)
    """
    _check_prob(ci_prob, "ci_prob")
    post = _require_group(idata, "posterior", "parameter_table")
    names = _var_names(post, var_names)
    if not names:
        return []
    rhat, ess_b, ess_t = _convergence(post[names])
    lo_q, hi_q = (1 - ci_prob) / 2, (1 + ci_prob) / 2
    rows = []
    for name in names:
        da = post[name]
        flat = _flat_draws(da)
        extra = [d for d in da.dims if d not in _SAMPLE_DIMS]
        r = np.asarray(rhat[name].transpose(*extra).values, dtype=float).reshape(-1)
        eb = np.asarray(ess_b[name].transpose(*extra).values, dtype=float).reshape(-1)
        et = np.asarray(ess_t[name].transpose(*extra).values, dtype=float).reshape(-1)
        with np.errstate(invalid="ignore"):
            lo, hi = np.quantile(flat, [lo_q, hi_q], axis=0)
            mean, sd = flat.mean(axis=0), flat.std(axis=0, ddof=1)
        for j, label in enumerate(_element_labels(name, da)):
            rows.append({"parameter": label, "mean": _finite_or_none(mean[j]), "sd": _finite_or_none(sd[j]),
                         "lower": _finite_or_none(lo[j]), "upper": _finite_or_none(hi[j]),
                         "r_hat": _finite_or_none(r[j]), "ess_bulk": _finite_or_none(eb[j]),
                         "ess_tail": _finite_or_none(et[j])})
    return rows


def _convergence(ds):
    """R-hat, bulk and tail ESS datasets (NaN, without warnings, where undefined, e.g. constant draws)."""
    az = import_arviz()
    with np.errstate(invalid="ignore", divide="ignore"):
        return az.rhat(ds), az.ess(ds, method="bulk"), az.ess(ds, method="tail")


def _check_prob(p: float, name: str) -> None:
    if not 0.0 < float(p) < 1.0:
        raise ValueError(f"`{name}` must be a probability in (0, 1); got {p!r}")


def _extreme(ds, fn) -> float | None:
    vals = [np.asarray(ds[v].values, dtype=float).reshape(-1) for v in ds.data_vars]
    vals = np.concatenate(vals) if vals else np.array([])
    vals = vals[np.isfinite(vals)]
    return float(fn(vals)) if vals.size else None


def summarize(idata, truth: Mapping[str, Any] | None = None, ci_prob: float = 0.9) -> dict:
    """Convergence, NUTS health, efficiency and (for twin experiments) truth recovery in one dict.

    Parameters
    ----------
    idata
        ``InferenceData`` with a ``posterior`` group (layout of :mod:`bayeslsm.infer.results`);
        ``sample_stats``, ``prior`` and the ``sampler`` attribute are used when present.
    truth
        Optional true values by posterior variable name: scalars, or arrays shaped like the
        variable's non-sample dims (e.g. ``(site,)``); a scalar is compared with every element.
        Names that are not posterior variables are listed under ``truth["not_in_posterior"]``.
    ci_prob
        Probability mass of the central (equal-tailed) credible interval used for coverage.

    Returns
    -------
    dict
        ``max_r_hat``, ``min_ess_bulk``, ``min_ess_tail`` (over every element of every posterior
        variable, non-finite values ignored), ``divergences``, ``n_draws``, ``max_tree_depth``,
        ``tree_depth_saturation`` (fraction of transitions with ``tree_depth >= max_tree_depth``),
        ``sampling_wall_seconds`` [s], ``min_ess_bulk_per_second`` [s-1], ``method``, ``ci_prob``,
        ``parameters`` (:func:`parameter_table`), ``uncertainty_reduction`` (when the prior group
        exists) and, when ``truth`` is given, ``truth`` with keys ``table`` (one row per true element:
        ``parameter``, ``truth``, ``mean``, ``median``, ``lower``, ``upper``, ``covered``),
        ``n_checked``, ``n_covered``, ``coverage`` (fraction) and ``not_in_posterior``.
        Undefined numbers are ``None``.

    Examples
    --------
    >>> s = summarize(idata, truth={"a": 1.2})  # doctest: +SKIP
    >>> s["max_r_hat"] < 1.01, s["truth"]["coverage"]  # doctest: +SKIP
    (True, 1.0)
    """
    _check_prob(ci_prob, "ci_prob")
    post = _require_group(idata, "posterior", "summarize")
    rhat, ess_b, ess_t = _convergence(post)
    sampler = _sampler(idata)
    max_depth = int(sampler.get("max_tree_depth", 10))
    out: dict[str, Any] = {
        "method": sampler.get("method"),
        "n_chains": int(post.sizes["chain"]),
        "n_draws": int(post.sizes["chain"] * post.sizes["draw"]),
        "max_r_hat": _extreme(rhat, np.max),
        "min_ess_bulk": _extreme(ess_b, np.min),
        "min_ess_tail": _extreme(ess_t, np.min),
        "divergences": None,
        "max_tree_depth": max_depth,
        "tree_depth_saturation": None,
    }
    if "sample_stats" in idata.groups():
        ss = idata.sample_stats
        if "diverging" in ss:
            out["divergences"] = int(np.asarray(ss["diverging"].values).sum())
        if "tree_depth" in ss:
            out["tree_depth_saturation"] = float(np.mean(np.asarray(ss["tree_depth"].values) >= max_depth))
    wall = _finite_or_none(sampler.get("sampling_wall_seconds"))
    out["sampling_wall_seconds"] = wall
    out["min_ess_bulk_per_second"] = (
        out["min_ess_bulk"] / wall if wall and out["min_ess_bulk"] is not None else None)
    out["ci_prob"] = float(ci_prob)
    out["parameters"] = parameter_table(idata, ci_prob=ci_prob)
    if "prior" in idata.groups():
        out["uncertainty_reduction"] = uncertainty_reduction(idata)
    if truth is not None:
        out["truth"] = _truth_recovery(post, truth, ci_prob)
    return out


def _truth_recovery(post, truth: Mapping[str, Any], ci_prob: float) -> dict:
    lo_q, hi_q = (1 - ci_prob) / 2, (1 + ci_prob) / 2
    table, skipped = [], []
    for name, value in truth.items():
        if name not in post.data_vars:
            skipped.append(str(name))
            continue
        da = post[name]
        extra = [d for d in da.dims if d not in _SAMPLE_DIMS]
        shape = tuple(da.sizes[d] for d in extra)
        t = np.asarray(value, dtype=float)
        try:
            t = np.broadcast_to(t, shape).reshape(-1)
        except ValueError:
            raise ValueError(
                f"`truth[{name!r}]` has shape {t.shape}; expected a scalar or shape {shape} "
                f"(posterior dims {tuple(extra)})") from None
        flat = _flat_draws(da)
        lo, med, hi = np.quantile(flat, [lo_q, 0.5, hi_q], axis=0)
        mean = flat.mean(axis=0)
        for j, label in enumerate(_element_labels(name, da)):
            table.append({"parameter": label, "truth": _finite_or_none(t[j]), "mean": _finite_or_none(mean[j]),
                          "median": _finite_or_none(med[j]), "lower": _finite_or_none(lo[j]),
                          "upper": _finite_or_none(hi[j]), "covered": bool(lo[j] <= t[j] <= hi[j])})
    n_cov = sum(r["covered"] for r in table)
    return {"ci_prob": float(ci_prob), "n_checked": len(table), "n_covered": int(n_cov),
            "coverage": n_cov / len(table) if table else None, "table": table,
            "not_in_posterior": skipped}


def uncertainty_reduction(idata, var_names: Sequence[str] | None = None) -> dict:
    """Uncertainty reduction ``1 - sd_posterior / sd_prior`` per parameter.

    1 means the data pinned the parameter down, 0 that they taught nothing, negative values that
    the posterior is wider than the prior (a warning sign). Standard deviations are over chains and
    draws, per element for site- or PFT-varying parameters.

    Parameters
    ----------
    idata
        ``InferenceData`` with ``posterior`` and ``prior`` groups.
    var_names
        Parameters to evaluate; by default every variable in both groups.

    Returns
    -------
    dict
        Name -> float for scalar parameters, name -> list of floats (in the order of the variable's
        coordinate, e.g. ``site``) otherwise; ``None`` where the prior sd is zero or undefined.

    Examples
    --------
    >>> uncertainty_reduction(idata)["a"]  # doctest: +SKIP
    0.83
    """
    post = _require_group(idata, "posterior", "uncertainty_reduction")
    prior = _require_group(idata, "prior", "uncertainty_reduction")
    if var_names is None:
        names = [v for v in post.data_vars if v in prior.data_vars]
    else:
        names = _var_names(post, var_names)
        missing = [v for v in names if v not in prior.data_vars]
        if missing:
            raise ValueError(f"`var_names` has {missing}, which the prior group lacks; expected some of "
                             f"{list(prior.data_vars)}")
    out = {}
    for name in names:
        sd_post = _flat_draws(post[name]).std(axis=0, ddof=1)
        prior_da = prior[name].transpose("chain", "draw", *[d for d in post[name].dims if d not in _SAMPLE_DIMS])
        sd_prior = _flat_draws(prior_da).std(axis=0, ddof=1)
        if sd_prior.shape != sd_post.shape:
            raise ValueError(f"parameter {name!r} has {sd_post.size} elements in the posterior but "
                             f"{sd_prior.size} in the prior; expected the same dims in both groups")
        with np.errstate(invalid="ignore", divide="ignore"):
            ur = 1.0 - sd_post / sd_prior
        vals = [_finite_or_none(x) for x in ur]
        out[name] = vals[0] if post[name].ndim == 2 else vals
    return out


def _jsonable(obj):
    """Recursively convert NumPy scalars/arrays to Python types and non-finite floats to ``None``."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _finite_or_none(obj)
    return obj


def write_summary_json(summary: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write ``summary`` as strict JSON, atomically (temporary file in the same folder, then rename).

    Parameters
    ----------
    summary
        Typically the output of :func:`summarize`; NumPy values are converted and NaN becomes ``null``.
    path
        Destination file; parent folders are created.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> write_summary_json(summarize(idata), "out/summary.json")  # doctest: +SKIP
    """
    text = json.dumps(_jsonable(summary), indent=2, allow_nan=False) + "\n"
    return _atomic_write_text(path, text)


def _atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    from bayeslsm.data.atomic import write_text_atomic

    return write_text_atomic(path, text)


