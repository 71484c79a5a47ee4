"""Held-out skill: RMSE, mean error and coverage of the prior and posterior predictive on the validation period."""

from __future__ import annotations

from typing import Any

import numpy as np

from bayeslsm.experiments.build import build_calibration
from bayeslsm.experiments.spec import Experiment
from bayeslsm.infer import names


def _metrics(y: np.ndarray, model: np.ndarray, rep: np.ndarray, prob: float) -> dict:
    """RMSE and mean error of the predictive mean, interval coverage and width; draws on axis 0.

    ``centred_rmse`` is the RMSE after the mean error is removed (``rmse**2 = mean_error**2 +
    centred_rmse**2``, the bias / variance split of Taylor 2001, doi:10.1029/2000JD900719); ``obs_mean`` the
    mean observation. :func:`explain_heldout` uses them to say why a posterior predicts worse than its prior.
    """
    good = np.isfinite(model).all(axis=1) & np.isfinite(rep).all(axis=1)
    n_bad = int((~good).sum())
    model, rep = model[good], rep[good]
    if model.shape[0] == 0 or y.size == 0:
        return {"n_obs": int(y.size), "rmse": None, "mean_error": None, "centred_rmse": None, "obs_mean": None,
                "coverage": None, "interval_width": None, "n_draws": int(model.shape[0]), "n_draws_nonfinite": n_bad}
    mean = model.mean(axis=0)
    err = mean - y
    lo, hi = np.quantile(rep, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    return {
        "n_obs": int(y.size),
        "rmse": float(np.sqrt(np.mean(err ** 2))),
        "mean_error": float(np.mean(err)),
        "centred_rmse": float(np.std(err)),
        "obs_mean": float(np.mean(y)),
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
            entry[pname] = {g: _metrics(y, rec[g][names.model_var(name)][:, si, ti], rec[g][name][:, si, ti], prob)
                            for g in groups}
            if cal.n_site > 1:
                for k, site in enumerate(cal.sites):
                    m = si == k
                    per_site.setdefault(site, {})[pname] = {
                        g: _metrics(y[m], rec[g][names.model_var(name)][:, si[m], ti[m]], rec[g][name][:, si[m], ti[m]],
                                    prob) for g in groups}
        if per_site:
            entry["per_site"] = per_site
        out["streams"][name] = entry
    if return_prediction:
        return out, pred["posterior"]
    return out


def _centred(m: dict) -> float | None:
    """``centred_rmse`` of a metrics dict, or from ``rmse`` and ``mean_error`` (skill files written before it)."""
    if m.get("centred_rmse") is not None:
        return m["centred_rmse"]
    if m.get("rmse") is None or m.get("mean_error") is None:
        return None
    return float(np.sqrt(max(m["rmse"] ** 2 - m["mean_error"] ** 2, 0.0)))


def explain_heldout(skill: dict, *, tol: float = 0.0) -> list[str]:
    """Sentences saying, per stream, why the posterior predicts the held-out period worse than the prior.

    For every stream whose validation RMSE of the posterior exceeds the prior's by more than ``tol``
    (relative), the RMSE is split into mean error and centred RMSE (``rmse**2 = mean_error**2 +
    centred_rmse**2``) and the posterior's mean error on the held-out years is compared with its mean error on
    the calibration years and with the change of the observed mean between the periods:

    * a mean error that grows from calibration to validation while the centred RMSE improves means the
      held-out years differ systematically from the calibration years (a shift the calibrated parameters
      cannot follow: e.g. a sink that weakens, a disturbance, a change of instrument), not that the
      calibration degraded the day-to-day dynamics;
    * a centred RMSE that grows means the posterior fits the calibration years' dynamics in a way that does
      not carry over (over-fitting or compensating errors).

    Multi-site runs add one sentence per stream counting the validated sites where the posterior beats the
    prior. Returns an empty list when the posterior is no worse than the prior on every stream.
    """
    out: list[str] = []
    for name, e in (skill.get("streams") or {}).items():
        val, cal = e.get("validation", {}), e.get("calibration", {})
        po, pr = val.get("posterior", {}), val.get("prior", {})
        if po.get("rmse") is None or pr.get("rmse") is None:
            continue
        per_site = e.get("per_site") or {}
        if per_site:
            wins = [s for s, v in per_site.items() if v.get("validation", {}).get("posterior", {}).get("rmse") is not None
                    and v["validation"].get("prior", {}).get("rmse") is not None
                    and v["validation"]["posterior"]["rmse"] <= v["validation"]["prior"]["rmse"]]
            n = sum(1 for v in per_site.values() if v.get("validation", {}).get("posterior", {}).get("rmse") is not None)
            losers = sorted(set(s for s, v in per_site.items()
                                if v.get("validation", {}).get("posterior", {}).get("rmse") is not None) - set(wins))
            if n:
                out.append(f"{name}: the posterior beats the prior on held-out RMSE at {len(wins)} of {n} validated "
                           f"sites" + (f" (not at {', '.join(losers)})." if losers else "."))
        if po["rmse"] <= pr["rmse"] * (1 + tol):
            continue
        me_v, me_c = po.get("mean_error"), (cal.get("posterior") or {}).get("mean_error")
        c_po, c_pr = _centred(po), _centred(pr)
        if me_v is None or c_po is None or c_pr is None:
            out.append(f"{name}: the posterior's held-out RMSE {po['rmse']:.3g} exceeds the prior's {pr['rmse']:.3g}.")
            continue
        bias_share = me_v ** 2 / po["rmse"] ** 2
        s = (f"{name}: the posterior's held-out RMSE {po['rmse']:.3g} exceeds the prior's {pr['rmse']:.3g}. "
             f"Split into mean error and centred RMSE: mean error {pr['mean_error']:+.3g} (prior) -> {me_v:+.3g} "
             f"(posterior), {100 * bias_share:.0f} % of the posterior's squared error; centred RMSE "
             f"{c_pr:.3g} -> {c_po:.3g}.")
        obs_c, obs_v = (cal.get("posterior") or {}).get("obs_mean"), po.get("obs_mean")
        if c_po <= c_pr and me_c is not None:
            s += (f" The posterior follows the day-to-day variation better than the prior; it loses on its mean "
                  f"error, which moved from {me_c:+.3g} on the calibration years to {me_v:+.3g} on the held-out "
                  f"years.")
            if obs_c is not None and obs_v is not None:
                d_obs, d_pred = obs_v - obs_c, (obs_v + me_v) - (obs_c + me_c)
                s += (f" Between the periods the observed mean moved by {d_obs:+.3g} ({obs_c:.3g} -> {obs_v:.3g}) "
                      f"and the posterior's predicted mean by {d_pred:+.3g}: ")
                if abs(d_pred) > abs(d_obs):
                    s += ("the model drifts where the observations do not, i.e. a trend in simulated slow pools "
                          "(pools out of equilibrium after the spin-up, or an initial-pool / turnover trade-off the "
                          "calibration years cannot separate) carries on into the held-out years.")
                else:
                    s += ("the observations shifted (a trend, disturbance or instrument change) and the calibrated "
                          "model did not follow.")
            else:
                s += " The held-out years differ systematically from the calibration years for the calibrated model."
        else:
            s += (" The posterior's day-to-day errors grew too: the calibration fitted the calibration years in a "
                  "way that does not carry over (compensating parameters or model-structural error); check the "
                  "per-year mean errors in prediction.nc and the pairs plot.")
        out.append(s)
    return out
