"""Held-out skill: RMSE, mean error and coverage of the prior and posterior predictive on the validation period."""

from __future__ import annotations

from typing import Any

import numpy as np

from bayeslsm.experiments.build import build_calibration
from bayeslsm.experiments.spec import Experiment


def _metrics(y: np.ndarray, model: np.ndarray, rep: np.ndarray, prob: float) -> dict:
    """RMSE and mean error of the predictive mean, interval coverage and width; draws on axis 0."""
    good = np.isfinite(model).all(axis=1) & np.isfinite(rep).all(axis=1)
    n_bad = int((~good).sum())
    model, rep = model[good], rep[good]
    if model.shape[0] == 0 or y.size == 0:
        return {"n_obs": int(y.size), "rmse": None, "mean_error": None, "coverage": None, "interval_width": None,
                "n_draws": int(model.shape[0]), "n_draws_nonfinite": n_bad}
    mean = model.mean(axis=0)
    lo, hi = np.quantile(rep, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    return {
        "n_obs": int(y.size),
        "rmse": float(np.sqrt(np.mean((mean - y) ** 2))),
        "mean_error": float(np.mean(mean - y)),
        "coverage": float(np.mean((y >= lo) & (y <= hi))),
        "interval_width": float(np.mean(hi - lo)),
        "n_draws": int(model.shape[0]),
        "n_draws_nonfinite": n_bad,
    }


def heldout_skill(exp: Experiment, idata, forcing, obs, *, n_cal_days: int, seed: int = 0,
                  batch: int = 50, return_prediction: bool = False):
    """Prior and posterior predictive skill per stream on the calibration and validation periods.

    Parameters
    ----------
    exp
        The experiment (streams, parameters, spin-up, skill settings).
    idata
        The calibration's ``InferenceData`` (posterior group required).
    forcing, obs
        Forcing and observations on the calibration + validation window, at the validated sites.
    n_cal_days
        Length of the calibration period [d]: the spin-up window.
    seed
        Seed of the predictive noise and the prior draws.
    batch
        Draws per jitted batch.
    return_prediction
        Also return the posterior prediction (:func:`bayeslsm.infer.predict.predict`: stream draws and
        annual sums on the calibration + validation window).

    Returns
    -------
    dict
        ``streams[name][period][group]`` with ``period`` in (``calibration``, ``validation``) and
        ``group`` in (``prior``, ``posterior``) holding ``rmse``, ``mean_error``, ``coverage``,
        ``interval_width``, ``n_obs``, ``n_draws``; ``per_site`` the same per site (multi-site runs).
        With ``return_prediction``, ``(dict, xarray.Dataset)``.
    """
    from bayeslsm.infer.predict import predict

    stats = None
    if exp.hierarchy is not None and exp.hierarchy.covariates:
        from bayeslsm.infer.predict import calibration_covariate_stats

        stats = calibration_covariate_stats(idata, exp.hierarchy.covariates)
    cal = build_calibration(exp, forcing, obs, edc=False, covariate_stats=stats)
    prob = exp.skill.prob
    pred = {"posterior": predict(cal, idata, group="posterior", draws=exp.skill.draws, spinup_days=n_cal_days,
                                 seed=seed, batch=batch)}
    groups = ["posterior"]
    n_post = pred["posterior"].sizes["draw"]
    n_prior = 0
    if "prior" in idata.groups():
        # the calibration's stored prior draws, through the same prediction path
        pred["prior"] = predict(cal, idata, group="prior", draws=idata.prior.sizes["chain"] * idata.prior.sizes["draw"],
                                spinup_days=n_cal_days, seed=seed + 1, batch=batch)
        n_prior = pred["prior"].sizes["draw"]
        groups.insert(0, "prior")
    rec = {g: {k: pred[g][k].values for k in pred[g].data_vars} for g in groups}

    val = exp.validation
    out: dict[str, Any] = {"prob": prob, "sites": list(cal.sites), "n_draws": {"posterior": n_post, "prior": n_prior},
                           "streams": {}}
    for sd in cal.streams:
        name = sd.config.name
        if sd.obs is None:
            continue
        t = sd.support_time
        in_val = (t >= val.start) & (t <= val.end)
        in_cal = t <= exp.calibration.end
        entry: dict[str, Any] = {}
        per_site: dict[str, Any] = {}
        for pname, sel_t in (("calibration", in_cal), ("validation", in_val)):
            mask = np.isfinite(sd.obs) & sel_t[None, :]
            si, ti = np.nonzero(mask)
            y = sd.obs[si, ti]
            entry[pname] = {g: _metrics(y, rec[g][f"{name}_model"][:, si, ti], rec[g][name][:, si, ti], prob)
                            for g in groups}
            if cal.n_site > 1:
                for k, site in enumerate(cal.sites):
                    m = si == k
                    per_site.setdefault(site, {})[pname] = {
                        g: _metrics(y[m], rec[g][f"{name}_model"][:, si[m], ti[m]], rec[g][name][:, si[m], ti[m]],
                                    prob) for g in groups}
        if per_site:
            entry["per_site"] = per_site
        out["streams"][name] = entry
    if return_prediction:
        return out, pred["posterior"]
    return out
