"""Held-out skill: RMSE, mean error and coverage of the prior and posterior predictive on the validation period."""

from __future__ import annotations

from typing import Any

import numpy as np

from bayeslsm.experiments.build import build_calibration
from bayeslsm.experiments.spec import Experiment


def _predictive_fn(cal, names: tuple[str, ...]):
    """jit(vmap((data, key) -> recorded stream sites)); ``data`` substituted (empty for prior draws)."""
    import jax
    import numpyro

    keep = []
    for sd in cal.streams:
        keep += [sd.config.name, f"_{sd.config.name}_model"]

    def one(data, key):
        model = numpyro.handlers.seed(cal.numpyro_model, key)
        if names:
            model = numpyro.handlers.substitute(model, data=data)
        tr = numpyro.handlers.trace(model).get_trace(obs=None, record=True)
        return {k: tr[k]["value"] for k in keep}

    return jax.jit(jax.vmap(one))


def _run_batches(fn, data: dict, keys, batch: int) -> dict:
    n = keys.shape[0]
    out: dict[str, list] = {}
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        idx = np.arange(start, start + batch) % n  # pad the last batch: same shapes, no recompile
        res = fn({k: v[idx] for k, v in data.items()}, keys[idx])
        for k, v in res.items():
            out.setdefault(k, []).append(np.asarray(v)[: stop - start])
    return {k: np.concatenate(v, axis=0) for k, v in out.items()}


def _posterior_substitutions(cal, idata, n_max: int, group: str = "posterior") -> dict[str, np.ndarray]:
    """Flattened, thinned draws (``group``: posterior or prior) of the model's sample and deterministic
    sites, site-level values selected by site name."""
    post = idata[group]
    n_total = post.sizes["chain"] * post.sizes["draw"]
    take = np.unique(np.linspace(0, n_total - 1, min(n_max, n_total)).round().astype(int))
    sites = list(cal.sites)
    data = {}
    for name in cal._posterior_sites():
        if name not in post.data_vars:
            continue
        da = post[name]
        if "pft" in da.dims:
            continue  # PFT-level values only record; the site values are substituted below
        if "site" in da.dims:
            da = da.sel(site=sites).transpose("chain", "draw", "site", ...)
        v = np.asarray(da.values, dtype=float)
        data[name] = v.reshape((n_total,) + v.shape[2:])[take]
    return data


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
                  batch: int = 50) -> dict:
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

    Returns
    -------
    dict
        ``streams[name][period][group]`` with ``period`` in (``calibration``, ``validation``) and
        ``group`` in (``prior``, ``posterior``) holding ``rmse``, ``mean_error``, ``coverage``,
        ``interval_width``, ``n_obs``, ``n_draws``; ``per_site`` the same per site (multi-site runs).
    """
    import jax

    cal = build_calibration(exp, forcing, obs, spinup_days=n_cal_days)
    prob = exp.skill.prob
    k_post, k_prior = jax.random.split(jax.random.PRNGKey(seed))
    post = _posterior_substitutions(cal, idata, exp.skill.draws)
    n_post = next(iter(post.values())).shape[0]
    fn = _predictive_fn(cal, tuple(post))
    rec = {"posterior": _run_batches(fn, post, jax.random.split(k_post, n_post), batch)}
    groups = ["posterior"]
    n_prior = 0
    if "prior" in idata.groups():
        # the calibration's stored prior draws, through the same compiled function
        prior = _posterior_substitutions(cal, idata, idata.prior.sizes["draw"] * idata.prior.sizes["chain"], "prior")
        prior = {k: v for k, v in prior.items() if k in post}
        n_prior = next(iter(prior.values())).shape[0]
        fn_prior = fn if set(prior) == set(post) else _predictive_fn(cal, tuple(prior))
        rec["prior"] = _run_batches(fn_prior, prior, jax.random.split(k_prior, n_prior), batch)
        groups.insert(0, "prior")

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
            entry[pname] = {g: _metrics(y, rec[g][f"_{name}_model"][:, si, ti], rec[g][name][:, si, ti], prob)
                            for g in groups}
            if cal.n_site > 1:
                for k, site in enumerate(cal.sites):
                    m = si == k
                    per_site.setdefault(site, {})[pname] = {
                        g: _metrics(y[m], rec[g][f"_{name}_model"][:, si[m], ti[m]], rec[g][name][:, si[m], ti[m]],
                                    prob) for g in groups}
        if per_site:
            entry["per_site"] = per_site
        out["streams"][name] = entry
    return out
