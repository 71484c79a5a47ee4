"""Running an experiment end to end (:func:`run_experiment`): data, calibration, sampling, outputs, skill, report."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any, Mapping

from bayeslsm.experiments._io import _jsonable, _write_json
from bayeslsm.experiments.build import _sample, build_calibration
from bayeslsm.experiments.prepare import PreparedData, prepare_data
from bayeslsm.experiments.report import write_experiment_report
from bayeslsm.experiments.skill import heldout_skill
from bayeslsm.experiments.spec import Experiment, load_experiment


def _run_info(exp: Experiment, data: PreparedData) -> dict:
    return {
        "name": exp.name,
        "description": exp.description,
        "file": str(exp.path) if exp.path else None,
        "model": exp.model,
        "calibration_period": exp.calibration.as_list(),
        "validation_period": exp.validation.as_list() if exp.validation else None,
        "sites_calibrated": {s.id: s.pft for s in data.sites if s.calibrated},
        "sites_excluded": data.excluded,
        "sites_not_validated": data.not_validated,
        "data_notes": data.notes,
        "streams": {s.name: {**s.config.to_dict(), "resample": s.resample} for s in exp.streams},
        "free": list(exp.free),
        "fixed": dict(exp.fixed),
        "fixed_by_pft": {k: dict(v) for k, v in exp.fixed_by_pft.items()},
        "hierarchy": None if exp.hierarchy is None else dataclasses.asdict(exp.hierarchy),
        "spinup": exp.spinup,
        "n_cycles": exp.n_cycles,
        "edc": exp.edc if exp.edc in (None, True) else list(exp.edc),
        "sampler": dataclasses.asdict(exp.sampler),
        "skill": dataclasses.asdict(exp.skill),
    }


def run_experiment(exp: Experiment | str | os.PathLike, out_dir: str | os.PathLike,
                   overrides: Mapping[str, Any] | None = None) -> dict:
    """Run an experiment end to end: data, calibration, ``posterior.nc``, held-out skill, report.

    Parameters
    ----------
    exp
        An :class:`Experiment`, a TOML file or a shipped experiment name.
    out_dir
        Output folder (created): ``posterior.nc`` (written atomically), ``skill.json``, ``report.md``
        and figures.
    overrides
        Small changes for tests and quick runs (:meth:`Experiment.with_overrides`), e.g.
        ``{"chains": 1, "warmup": 20, "draws": 20, "sites": ["FR-Pue"], "calibration": [...],
        "validation": [...]}``; ``progress`` (bool) shows the sampler's progress bar.

    Returns
    -------
    dict
        ``posterior``, ``skill``, ``report`` (paths), ``wall_seconds`` (``data``, ``sampling``, ``skill``,
        ``report``, ``total``), the sampling summary (max R-hat, min ESS, divergences) and the skill dict.

    Examples
    --------
    >>> res = run_experiment("fr-pue", "out/fr-pue", {"chains": 1, "warmup": 50, "draws": 50})  # doctest: +SKIP
    >>> res["skill"]["streams"]["NEE"]["validation"]["posterior"]["rmse"]  # doctest: +SKIP
    """
    from bayeslsm.diagnostics import summarize
    from bayeslsm.infer import save

    t_start = time.perf_counter()
    if not isinstance(exp, Experiment):
        exp = load_experiment(exp)
    progress = bool((overrides or {}).get("progress", False))
    exp = exp.with_overrides(overrides)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wall: dict[str, float] = {}

    t0 = time.perf_counter()
    data = prepare_data(exp)
    wall["data"] = time.perf_counter() - t0
    info = _run_info(exp, data)
    info["overrides"] = {k: v for k, v in (overrides or {}).items()}

    t0 = time.perf_counter()
    forcing, obs = data.calibration
    cal = build_calibration(exp, forcing, obs)
    idata = _sample(exp, cal, progress)
    wall["sampling"] = time.perf_counter() - t0
    for g in idata.groups():
        idata[g].attrs["experiment"] = json.dumps(_jsonable(info))
        if exp.text is not None:
            idata[g].attrs["experiment_toml"] = exp.text
    posterior_path = save(idata, out / "posterior.nc")

    t0 = time.perf_counter()
    skill: dict[str, Any] = {"experiment": exp.name, "calibration_period": exp.calibration.as_list(),
                             "validation_period": exp.validation.as_list() if exp.validation else None,
                             "sites_not_validated": data.not_validated, "sites_excluded": data.excluded}
    if exp.validation is None:
        skill["note"] = "no validation (held-out) period in the experiment"
    elif data.validation is None:
        skill["note"] = "no site has complete forcing over the validation period"
    else:
        vf, vo = data.validation
        skill.update(heldout_skill(exp, idata, vf, vo, n_cal_days=exp.calibration.n_days, seed=exp.sampler.seed + 1))
    wall["skill"] = time.perf_counter() - t0
    summary = summarize(idata, ci_prob=exp.skill.prob)
    skill["sampling"] = {k: summary.get(k) for k in ("max_r_hat", "min_ess_bulk", "min_ess_tail", "divergences",
                                                     "n_chains", "n_draws", "sampling_wall_seconds")}
    skill_path = _write_json(out / "skill.json", skill)

    t0 = time.perf_counter()
    report_path = write_experiment_report(idata, out, skill=skill)
    wall["report"] = time.perf_counter() - t0
    wall["total"] = time.perf_counter() - t_start
    skill["wall_seconds"] = wall
    _write_json(skill_path, skill)
    return {"posterior": posterior_path, "skill_path": skill_path, "report": report_path, "wall_seconds": wall,
            "sampling": skill["sampling"], "skill": skill}


# --------------------------------------------------------------------------------------------------
# report
