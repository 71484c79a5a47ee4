"""A calibration report: figures, ``summary.json`` and a short, readable ``report.md``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from bayeslsm.diagnostics.checks import check_sampling
from bayeslsm.diagnostics.plots import (
    _ensure_backend,
    _hierarchical_vars,
    plot_forest,
    plot_pairs,
    plot_predictive,
    plot_prior_posterior,
    plot_trace,
    stream_names,
    stream_variable,
)
from bayeslsm.diagnostics.summary import (
    _atomic_write_text,
    _attr_json,
    _attrs,
    _element_labels,
    _free_parameters,
    _require_group,
    summarize,
    write_summary_json,
)

__all__ = ["write_report"]


def _fmt(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "**no**"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return f"{x:.4g}"
    return str(x)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return lines


def _safe_name(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s)


def _busiest_site(idata, stream: str) -> int | str:
    """The site with the most observations of ``stream`` (site 0 when unknown)."""
    if "observed_data" not in idata.groups() or stream not in idata.observed_data:
        return 0
    coord = f"{stream}_site"
    ob = idata.observed_data[stream]
    if coord not in ob.coords or ob.size == 0:
        return 0
    names, counts = np.unique(np.asarray(ob[coord].values).astype(str), return_counts=True)
    return str(names[np.argmax(counts)])


def write_report(idata, out_dir: str | os.PathLike, truth: Mapping[str, Any] | None = None,
                 title: str | None = None, ci_prob: float = 0.9) -> Path:
    """Write figures, ``summary.json`` and ``report.md`` for a calibration into ``out_dir``.

    Figures: ``trace.png``, ``pairs.png`` (when at least two parameters vary),
    ``predictive_<stream>.png`` per stream in the posterior predictive (at the site with the most
    observations of that stream), ``prior_posterior.png`` (when the prior group exists) and
    ``forest.png`` (when site- or PFT-varying parameters exist). Text files are written atomically;
    figures are closed after saving.

    Parameters
    ----------
    idata
        ``InferenceData`` from :class:`~bayeslsm.infer.Calibration` (posterior group required).
    out_dir
        Output folder (created if needed).
    truth
        Optional true parameter values (twin experiments), as for
        :func:`~bayeslsm.diagnostics.summarize`; adds truth / covered columns.
    title
        Report title; default ``"Calibration report: <model>"``.
    ci_prob
        Probability mass of the central credible intervals in the tables and coverage.

    Returns
    -------
    Path
        The path of ``report.md``.

    Examples
    --------
    >>> write_report(idata, "out/report", truth=twin_truth)  # doctest: +SKIP
    PosixPath('out/report/report.md')
    """
    _require_group(idata, "posterior", "write_report")
    _ensure_backend()
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(idata, truth=truth, ci_prob=ci_prob)
    write_summary_json(summary, out / "summary.json")
    checks = check_sampling(idata, max_tree_depth=summary["max_tree_depth"], warn=False)

    figures: list[tuple[str, str]] = []  # (caption, file)
    skipped: list[str] = []

    def save(caption: str, fname: str, make) -> None:
        fig = make(out / fname)
        plt.close(fig)
        figures.append((caption, fname))

    save("Traces", "trace.png", lambda p: plot_trace(idata, path=p))
    try:
        save("Most correlated parameters", "pairs.png", lambda p: plot_pairs(idata, path=p))
    except ValueError as err:
        skipped.append(f"pairs.png: {err}")
    streams = stream_names(idata)
    if "posterior_predictive" in idata.groups():
        for s in streams:
            if s not in idata.posterior_predictive:
                skipped.append(f"predictive_{_safe_name(s)}.png: stream {s!r} has no posterior predictive")
                continue
            site = _busiest_site(idata, s)
            save(f"Posterior predictive check: {s} at {site}", f"predictive_{_safe_name(s)}.png",
                 lambda p, s=s, site=site: plot_predictive(idata, s, site=site, prob=ci_prob, path=p))
    if "prior" in idata.groups():
        try:
            save("Prior vs posterior", "prior_posterior.png", lambda p: plot_prior_posterior(idata, path=p))
        except ValueError as err:
            skipped.append(f"prior_posterior.png: {err}")
    if _hierarchical_vars(idata.posterior):
        save("Site- and PFT-level values", "forest.png", lambda p: plot_forest(idata, prob=ci_prob, path=p))

    text = "\n".join(_markdown(idata, summary, checks, streams, figures, skipped, truth is not None, title))
    return _atomic_write_text(out / "report.md", text + "\n")


def _markdown(idata, summary, checks, streams, figures, skipped, with_truth, title) -> list[str]:
    attrs = _attrs(idata)
    model = attrs.get("model", "unknown model")
    sites = _attr_json(idata, "sites", None)
    if sites is None and "site" in idata.posterior.coords:
        sites = [str(s) for s in idata.posterior["site"].values]
    site_pft = _attr_json(idata, "site_pft", None)
    sampler = _attr_json(idata, "sampler", {}) or {}
    pct = round(100 * summary["ci_prob"])
    lo_pct, hi_pct = (100 - pct) / 2, (100 + pct) / 2

    L = [f"# {title or f'Calibration report: {model}'}", "", "## Set-up", ""]
    L.append(f"- **Model:** {model}")
    if sites:
        if isinstance(site_pft, list) and len(site_pft) == len(sites):
            L.append(f"- **Sites ({len(sites)}):** " + ", ".join(f"{s} ({p})" for s, p in zip(sites, site_pft)))
        else:
            L.append(f"- **Sites ({len(sites)}):** " + ", ".join(map(str, sites)))
    if streams:
        L.append("- **Streams:** " + ", ".join(
            f"{s} (model `{v}`)" if (v := stream_variable(idata, s)) else s for s in streams))
    free = _attr_json(idata, "free_parameters", None)
    if isinstance(free, list):
        L.append("- **Free parameters:** " + (", ".join(f"`{f}`" for f in free) or "none"))
    hier = _attr_json(idata, "hierarchy", None)
    if isinstance(hier, dict) and hier.get("params"):
        L.append(f"- **Hierarchy:** {hier.get('mode')} over {', '.join(hier['params'])}"
                 + (f" (centred: {', '.join(hier['centered'])}; others non-centred)"
                    if isinstance(hier.get("centered"), list)
                    else " (centred)" if hier.get("centered") else " (non-centred)")
                 + (f"; PFT level centred: {', '.join(hier['pft_centered']) or 'none'}"
                    if isinstance(hier.get("pft_centered"), list)
                    else f"; PFT level {'centred' if hier['pft_centered'] else 'non-centred'}"
                    if isinstance(hier.get("pft_centered"), bool) else "")
                 + (f"; site values regressed on covariates {', '.join(hier['covariates'])}"
                    if hier.get("covariates") else ""))
    if attrs.get("spinup"):
        L.append(f"- **Spin-up:** {attrs['spinup']}")
    if isinstance(sampler, dict) and sampler:
        L.append("- **Sampler:** " + ", ".join(f"{k}={_fmt(v)}" for k, v in sampler.items()
                                               if k != "sampling_wall_seconds"))
    versions = _attr_json(idata, "versions", None)
    if isinstance(versions, dict):
        L.append("- **Versions:** " + ", ".join(f"{k} {v}" for k, v in versions.items()))

    L += ["", "## Sampling", ""]
    L += _table(["quantity", "value"], [
        ["chains × draws", f"{summary['n_chains']} × {summary['n_draws'] // max(summary['n_chains'], 1)}"],
        ["max R-hat", summary["max_r_hat"]],
        ["min bulk ESS", summary["min_ess_bulk"]],
        ["min tail ESS", summary["min_ess_tail"]],
        ["divergences", summary["divergences"]],
        [f"tree-depth saturation (depth ≥ {summary['max_tree_depth']})", summary["tree_depth_saturation"]],
        ["min E-BFMI", checks.min_ebfmi if np.isfinite(checks.min_ebfmi) else None],
        ["sampling wall time [s]", summary["sampling_wall_seconds"]],
        ["min bulk ESS per second [s-1]", summary["min_ess_bulk_per_second"]],
    ])
    L += ["", "### Warnings and advice", ""]
    L += [f"- {m}" for m in checks.messages] or ["- none: no divergences, tree-depth saturation, low E-BFMI "
                                                 "or strongly correlated pairs."]
    if checks.correlated:
        L += ["", "### Correlated parameter pairs (equifinality)", ""]
        L += _table(["parameter", "parameter", "r"], [[f"`{a}`", f"`{b}`", r] for a, b, r in checks.correlated[:10]])
        if len(checks.correlated) > 10:
            L.append(f"\n({len(checks.correlated) - 10} more pairs with |r| > 0.8 in summary.json's checks.)")

    L += ["", "## Parameters", ""]
    ur = summary.get("uncertainty_reduction", {})
    ur_flat = {}
    for name, v in ur.items():
        if isinstance(v, list):
            ur_flat.update(zip(_element_labels(name, idata.posterior[name]), v))
        else:
            ur_flat[name] = v
    truth_rows = {r["parameter"]: r for r in summary.get("truth", {}).get("table", [])}
    header = ["parameter", "mean", "sd", f"{lo_pct:g}%", f"{hi_pct:g}%", "R-hat", "ESS bulk"]
    header += ["uncertainty reduction"] if ur else []
    header += ["truth", f"in {pct}% CI"] if with_truth else []
    order = _free_parameters(idata)
    rows_in = sorted(summary["parameters"], key=lambda r: (r["parameter"].split("[")[0] not in order,
                                                          order.index(r["parameter"].split("[")[0])
                                                          if r["parameter"].split("[")[0] in order else 0))
    rows = []
    for r in rows_in:
        row = [f"`{r['parameter']}`", r["mean"], r["sd"], r["lower"], r["upper"], r["r_hat"], r["ess_bulk"]]
        if ur:
            row.append(ur_flat.get(r["parameter"]))
        if with_truth:
            t = truth_rows.get(r["parameter"])
            row += [t["truth"], t["covered"]] if t else [None, None]
        rows.append(row)
    L += _table(header, rows)
    if with_truth:
        tr = summary["truth"]
        L += ["", f"Truth recovery: {tr['n_covered']} of {tr['n_checked']} true values inside the central "
                  f"{pct}% interval (coverage {_fmt(tr['coverage'])})."]
        if tr["not_in_posterior"]:
            L.append(f"True values not in the posterior (fixed or unknown): {', '.join(tr['not_in_posterior'])}.")

    L += ["", "## Figures", ""]
    for caption, fname in figures:
        L += [f"### {caption}", "", f"![{caption}]({fname})", ""]
    if skipped:
        L += ["Not drawn:", ""] + [f"- {s}" for s in skipped] + [""]
    L.append("Numbers above are also in [summary.json](summary.json).")
    return L
