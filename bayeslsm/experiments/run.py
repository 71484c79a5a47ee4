"""Running an experiment end to end (:func:`run_experiment`): data, calibration, sampling, outputs, skill, report."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from bayeslsm.experiments._io import _jsonable, _write_json
from bayeslsm.experiments.build import _sample, build_calibration
from bayeslsm.experiments.prepare import PreparedData, prepare_data
from bayeslsm.experiments.report import write_experiment_report
from bayeslsm.experiments.skill import heldout_skill
from bayeslsm.experiments.spec import Experiment, ExperimentError, load_experiment
from bayeslsm.infer import names


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


def _annual(pred, prob: float) -> dict:
    """Posterior annual sums per site and year with their central ``prob`` intervals (skill.json)."""
    from bayeslsm.infer.predict import annual_intervals

    out = {}
    for key in pred.data_vars:
        var = names.annual_variable(str(key))
        if var is not None:
            out[var] = annual_intervals(pred, var, prob).to_dict(orient="records")
    return out


def _save_prediction(pred, path: Path) -> Path:
    """The posterior prediction (stream draws as float32, annual sums) written atomically."""
    import tempfile

    ds = pred.copy()
    for k in ds.data_vars:
        if ds[k].dtype == "float64" and "draw" in ds[k].dims and names.annual_variable(str(k)) is None:
            ds[k] = ds[k].astype("float32")
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        ds.to_netcdf(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def run_experiment(exp: Experiment | str | os.PathLike, out_dir: str | os.PathLike,
                   overrides: Mapping[str, Any] | None = None, *, overwrite: bool = False,
                   allow_out_of_bounds: bool = False, resume: bool = False, preflight: bool = True,
                   on_preflight: Callable[[Any], None] | None = None) -> dict:
    """Run an experiment end to end: data, calibration, ``posterior.nc``, held-out skill, report.

    Parameters
    ----------
    exp
        An :class:`Experiment`, a TOML file or a shipped experiment name.
    out_dir
        Output folder (created): ``preflight.json``, ``posterior.nc`` (written atomically),
        ``skill.json`` (with posterior annual sums and intervals, ``annual``), ``prediction.nc``
        (:func:`bayeslsm.infer.predict.predict` on the calibration + validation window), ``report.md``
        and figures.
    overrides
        Small changes for tests and quick runs (:meth:`Experiment.with_overrides`), e.g.
        ``{"chains": 1, "warmup": 20, "draws": 20, "sites": ["FR-Pue"], "calibration": [...],
        "validation": [...]}``; ``progress`` (bool) shows the sampler's progress bar.
    overwrite
        Write into a non-empty ``out_dir`` (its outputs are replaced). Without it a non-empty folder is an
        :class:`~bayeslsm.data.reference_io.OutputFolderError`, raised before any data is read.
    allow_out_of_bounds
        Passed to :func:`load_experiment` (out-of-range fixed parameters and constant forcing warn).
    resume
        Continue an interrupted run in ``out_dir`` from its checkpoint (``out_dir/checkpoint``, written
        after warm-up and after every chunk of draws by the ``"chees"`` sampler): the draws equal those of
        an uninterrupted run with the same settings and seed. Only ``[sampler] method = "chees"`` is
        checkpointed; the checkpoint is removed once ``posterior.nc`` is written.
    preflight
        Run the identifiability preflight (:func:`bayeslsm.diagnostics.preflight`) before sampling and write
        ``preflight.json``; ``on_preflight`` receives its report (the CLI prints it).

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

    from bayeslsm.data.reference_io import check_output_dir

    t_start = time.perf_counter()
    out = check_output_dir(out_dir, overwrite=overwrite, resume=resume)  # before reading data or sampling
    if not isinstance(exp, Experiment):
        exp = load_experiment(exp, allow_out_of_bounds=allow_out_of_bounds)
    progress = bool((overrides or {}).get("progress", False))
    exp = exp.with_overrides(overrides)
    if resume and exp.sampler.method != "chees":
        raise ExperimentError(exp.path, "sampler.method",
                              f"resuming needs a checkpointed sampler: expected method = 'chees'; found "
                              f"{exp.sampler.method!r} (set it in [sampler] or pass --method chees)")
    checkpoint = out / "checkpoint"
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
    wall["data"] += time.perf_counter() - t0
    if preflight and not (resume and (out / "preflight.json").exists()):
        from bayeslsm.diagnostics.identifiability import preflight as _preflight

        t0 = time.perf_counter()
        report = _preflight(cal, seed=exp.sampler.seed)
        report.to_json(out / "preflight.json")
        wall["preflight"] = time.perf_counter() - t0
        if on_preflight is not None:
            on_preflight(report)
    t0 = time.perf_counter()
    idata = _sample(exp, cal, progress, checkpoint_dir=checkpoint)
    wall["sampling"] = time.perf_counter() - t0
    for g in idata.groups():
        idata[g].attrs["experiment"] = json.dumps(_jsonable(info))
        if exp.text is not None:
            idata[g].attrs["experiment_toml"] = exp.text
    posterior_path = save(idata, out / "posterior.nc")
    if checkpoint.is_dir():  # the draws are in posterior.nc now
        shutil.rmtree(checkpoint)

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
        sk, pred = heldout_skill(exp, idata, vf, vo, n_cal_days=exp.calibration.n_days, seed=exp.sampler.seed + 1,
                                 return_prediction=True)
        skill.update(sk)
        skill["annual"] = _annual(pred, exp.skill.prob)
        _save_prediction(pred, out / "prediction.nc")
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
