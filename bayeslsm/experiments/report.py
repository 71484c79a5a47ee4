"""The experiment report (``report.md`` and figures) of a saved run (:func:`write_experiment_report`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

from bayeslsm.experiments._io import _write_text


def _fmt(x) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.3g}"
    return str(x)


def _skill_tables(skill: Mapping) -> list[str]:
    L: list[str] = []
    streams = skill.get("streams") or {}
    if not streams:
        L.append(f"No held-out skill: {skill.get('note', 'not computed')}.")
        return L
    pct = round(100 * float(skill.get("prob", 0.9)))
    for period in ("validation", "calibration"):
        title = "Held-out years" if period == "validation" else "Calibration years (in-sample, for comparison)"
        rng = skill.get(f"{period}_period")
        L += [f"### {title}" + (f" ({rng[0]} .. {rng[1]})" if rng else ""), ""]
        L.append(f"| stream | n obs | RMSE prior | RMSE posterior | mean error prior | mean error posterior | "
                 f"{pct}% coverage prior | {pct}% coverage posterior |")
        L.append("|---|---|---|---|---|---|---|---|")
        for name, e in streams.items():
            po = e[period]["posterior"]
            pr = e[period].get("prior", dict.fromkeys(po))
            L.append(f"| {name} | {po['n_obs']} | {_fmt(pr['rmse'])} | {_fmt(po['rmse'])} | {_fmt(pr['mean_error'])} | "
                     f"{_fmt(po['mean_error'])} | {_fmt(pr['coverage'])} | {_fmt(po['coverage'])} |")
        L.append("")
    n = skill.get("n_draws", {})
    L.append(f"RMSE and mean error (prediction − observation) of the predictive mean (mean over draws of the "
             f"noise-free, biased prediction); coverage: fraction of observations inside the central {pct}% "
             f"interval of replicated observations (bias and noise included). Draws: {n.get('posterior')} posterior, "
             f"{n.get('prior')} prior. Sites: {', '.join(skill.get('sites', []))}.")
    from bayeslsm.experiments.skill import explain_heldout

    why = explain_heldout(dict(skill))
    if why:
        L += ["", "#### Posterior against prior on the held-out years", ""] + [f"- {w}" for w in why]
    per_site = {name: e["per_site"] for name, e in streams.items() if "per_site" in e}
    if per_site:
        L += ["", "#### Held-out RMSE per site (prior → posterior)", ""]
        sites = skill.get("sites", [])
        names = list(per_site)
        L.append("| site | " + " | ".join(names) + " |")
        L.append("|---|" + "---|" * len(names))
        for s in sites:
            cells = []
            for name in names:
                v = per_site[name].get(s, {}).get("validation")
                cells.append("–" if v is None or v["posterior"]["n_obs"] == 0 else
                             f"{_fmt(v.get('prior', {}).get('rmse'))} → {_fmt(v['posterior']['rmse'])}")
            L.append(f"| {s} | " + " | ".join(cells) + " |")
    return L


def _read_skill(path: Path) -> dict:
    """``skill.json`` as a dict; a corrupt file is a :class:`~bayeslsm.infer.results.ResultsFileError`."""
    from bayeslsm.infer.results import ResultsFileError

    try:
        skill = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ResultsFileError(path, f"expected UTF-8 JSON; found undecodable bytes at offset {err.start}") from None
    except json.JSONDecodeError as err:
        raise ResultsFileError(path, f"not valid JSON: {err.msg} (line {err.lineno}, column {err.colno}); "
                                     f"delete it or rerun `bayeslsm run` to rewrite it") from None
    if not isinstance(skill, dict):
        raise ResultsFileError(path, f"expected a JSON object (the held-out skill); found a {type(skill).__name__}")
    return skill


def write_experiment_report(idata_or_path, out_dir: str | os.PathLike | None = None,
                            skill: Mapping | None = None) -> Path:
    """Figures and ``report.md`` for an experiment run, with the held-out skill and (hierarchies) shrinkage.

    Calls :func:`bayeslsm.diagnostics.write_report` (traces, pairs, predictive checks, prior vs
    posterior, forest plot of site- and PFT-level values) and appends: the experiment set-up (sites
    used, excluded and not validated, with reasons; data notes), the held-out skill tables
    (``skill.json``) and, for hierarchical runs, one shrinkage plot per pooled parameter.

    Parameters
    ----------
    idata_or_path
        ``InferenceData`` or the path of ``posterior.nc``.
    out_dir
        Output folder; default the folder of ``posterior.nc``.
    skill
        The skill dict; default read from ``skill.json`` beside ``posterior.nc`` (or in ``out_dir``).

    Returns
    -------
    Path
        ``report.md``.
    """
    from bayeslsm.diagnostics import plot_shrinkage, write_report
    from bayeslsm.diagnostics.plots import _ensure_backend
    from bayeslsm.infer import load

    src_dir = None
    if isinstance(idata_or_path, (str, os.PathLike)):
        src = Path(idata_or_path)
        if not src.is_file():
            raise FileNotFoundError(f"posterior file '{src}' not found")
        idata = load(src)
        src_dir = src.parent
    else:
        idata = idata_or_path
    out = Path(out_dir) if out_dir is not None else src_dir
    if out is None:
        raise ValueError("`out_dir` is needed when an InferenceData (not a file) is given")
    out.mkdir(parents=True, exist_ok=True)
    if skill is None:
        for d in (src_dir, out):
            if d is not None and (d / "skill.json").is_file():
                skill = _read_skill(d / "skill.json")
                break
    attrs = idata.posterior.attrs
    info = json.loads(attrs["experiment"]) if "experiment" in attrs else {}
    title = f"Experiment {info['name']}: {info['model']}" if info else None
    report = write_report(idata, out, title=title, ci_prob=(skill or {}).get("prob", 0.9))

    L: list[str] = []
    if info:
        L += ["", "## Experiment", ""]
        if info.get("description"):
            L += [info["description"], ""]
        L.append(f"- **File:** `{info.get('file')}`")
        L.append(f"- **Calibration period:** {' .. '.join(info['calibration_period'])}")
        if info.get("validation_period"):
            L.append(f"- **Validation (held-out) period:** {' .. '.join(info['validation_period'])}")
        L.append(f"- **Sites calibrated ({len(info['sites_calibrated'])}):** "
                 + ", ".join(f"{s} ({p})" for s, p in info["sites_calibrated"].items()))
        for key, label in (("sites_excluded", "Sites excluded"), ("sites_not_validated", "Sites not validated")):
            if info.get(key):
                L += [f"- **{label}:**"] + [f"  - {s}: {r}" for s, r in info[key].items()]
        if info.get("data_notes"):
            L += ["- **Data notes:**"]
            for s, notes in info["data_notes"].items():
                L += [f"  - {s}: " + "; ".join(notes)]
        if info.get("overrides"):
            L.append(f"- **Overrides:** {info['overrides']}")
    L += ["", "## Held-out skill", ""]
    L += _skill_tables(skill) if skill else ["No skill.json found next to posterior.nc."]
    wall = (skill or {}).get("wall_seconds")
    if wall:
        L += ["", "Wall time [s]: " + ", ".join(f"{k} {v:.0f}" for k, v in wall.items())]

    hier = json.loads(attrs.get("hierarchy", "{}") or "{}")
    pooled = [p for p in hier.get("params", []) if p in idata.posterior and "site" in idata.posterior[p].dims]
    if pooled:
        _ensure_backend()
        import matplotlib.pyplot as plt

        L += ["", "## Partial pooling: shrinkage", "",
              ("Site posterior means and central intervals, coloured by PFT; dashed lines and bands: the PFT-level "
               "values they are pooled towards. The forest plot above shows the same site- and PFT-level "
               "posteriors."),
              ""]
        for p in pooled:
            fname = f"shrinkage_{p}.png"
            fig = plot_shrinkage(idata, p, prob=(skill or {}).get("prob", 0.9), path=out / fname)
            plt.close(fig)
            L += [f"### {p}", "", f"![shrinkage of {p}]({fname})", ""]
    text = Path(report).read_text(encoding="utf-8").rstrip("\n") + "\n" + "\n".join(L) + "\n"
    return _write_text(Path(report), text)
