"""Covariate hierarchy against the plain PFT hierarchy at left-out flux-tower sites (real data).

The experiment ``models/experiments/covariate-hierarchy.toml`` (DALEC2 + water, 2019 daily GPP at 13 ENF
and DBF sites of FluxDataKit / ICOS WW2020; ``ceff`` pooled PFT -> site; phenology fixed per PFT) is
calibrated on a subset of its sites with two hierarchies:

* ``pft``: the plain PFT hierarchy (``[hierarchy]`` of the file without ``covariates``);
* ``covariate``: the file's hierarchy, site ``ceff`` regressed on ``mat``, ``map`` and ``mvpd`` (each site's
  2019 means, :mod:`bayeslsm.data.covariates`).

The left-out sites' 2019 GPP is then predicted (:func:`bayeslsm.infer.predict.predict`): their ``ceff``
comes from the PFT level (``pft``) or from the PFT level plus the regression on their own covariates,
standardised with the calibration sites' mean and sd (``covariate``), plus a new site deviation. Sites are
assigned to folds in file order within each PFT (site i of a PFT -> fold i mod K), so every PFT is in
every calibration set; each fold's sites are left out once.

Printed per fold and pooled over folds, per hierarchy and for the prior (prior draws of the ``pft``
calibration, same prediction path): RMSE of the predictive mean of daily GPP, coverage of the central 90 %
interval of replicated observations (GPP error model included), and two log predictive densities of the
held-out observations (the GPP error model is Gaussian, so both are exact sums, Monte Carlo over S draws):

* ``elpd_point`` = sum over held-out days of log (1/S sum_s N(y_t | mu_st, sigma_s));
* ``elpd_site`` = sum over held-out sites of log (1/S sum_s prod_t N(y_t | mu_st, sigma_s)) -- the
  density of each site's whole year, the quantity a prediction for a new site is judged by (draws share a
  site's parameter, days do not vary independently of it; Vehtari, Gelman & Gabry 2017,
  doi:10.1007/s11222-016-9696-4, for the pointwise form).

    BAYESLSM_DATA_DIR=../shared/data .venv/bin/python benchmarks/covariate_hierarchy_real.py \
        --out benchmarks/results/covariate_hierarchy_real_$(date +%F).json     # ~15-25 min on 2 shared cores
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _metrics(y, model, rep, sigma, site_index, prob=0.9) -> dict:
    """RMSE, coverage and ELPDs of held-out observations ``y`` (n,) from draws ``model``/``rep`` (S, n)."""
    from scipy.special import logsumexp

    mean = model.mean(0)
    lo, hi = np.quantile(rep, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    lp = -0.5 * ((y[None, :] - model) / sigma[:, None]) ** 2 - np.log(sigma[:, None] * np.sqrt(2.0 * np.pi))
    S = model.shape[0]
    elpd_point = float(np.sum(logsumexp(lp, axis=0) - np.log(S)))
    keys = list(dict.fromkeys(site_index))
    L = np.stack([lp[:, site_index == k].sum(1) for k in keys], axis=1)  # (S, site): log density of a site's year
    elpd_site = float(np.sum(logsumexp(L, axis=0) - np.log(S)))
    # Monte Carlo sd of the two ELPDs: bootstrap over the S draws (200 resamples, fixed seed)
    idx = np.random.default_rng(0).integers(0, S, size=(200, S))
    boot_site = [np.sum(logsumexp(L[i], axis=0) - np.log(S)) for i in idx]
    boot_point = [np.sum(logsumexp(lp[i], axis=0) - np.log(S)) for i in idx[:50]]
    per_site = {str(k): {"rmse": float(np.sqrt(np.mean((mean[site_index == k] - y[site_index == k]) ** 2))),
                         "mean_error": float(np.mean(mean[site_index == k] - y[site_index == k])),
                         "elpd_site": float(logsumexp(L[:, j]) - np.log(S))} for j, k in enumerate(keys)}
    return {"n_obs": int(y.size), "rmse": float(np.sqrt(np.mean((mean - y) ** 2))),
            "mean_error": float(np.mean(mean - y)), "coverage": float(np.mean((y >= lo) & (y <= hi))),
            "elpd_point": elpd_point, "elpd_point_mc_sd": float(np.std(boot_point)),
            "elpd_site": elpd_site, "elpd_site_mc_sd": float(np.std(boot_site)), "per_site": per_site}


def _heldout(target, idata, group, draws, seed):
    """Held-out points of every stream: observations, model and replicated draws, error sd draws, site index."""
    from bayeslsm.infer.predict import _flat, _take, predict

    pred = predict(target, idata, group=group, draws=draws, seed=seed, annual=())
    take = _take(idata[group], draws)
    out = {}
    for sd in target.streams:
        name = sd.config.name
        if sd.config.error.kind != "gaussian" or sd.config.bias.kind != "none":
            raise ValueError(f"stream {name!r}: this benchmark's ELPD needs an unbiased Gaussian error model; found "
                             f"error {sd.config.error.kind!r}, bias {sd.config.bias.kind!r}")
        si, ti = np.nonzero(np.isfinite(sd.obs))
        sigma = _flat(idata[group][f"{name}_sigma"], take)
        out[name] = (sd.obs[si, ti], pred[f"{name}_model"].values[:, si, ti], pred[name].values[:, si, ti],
                     sigma, np.asarray(target.sites)[si])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--experiment", default=str(ROOT / "models/experiments/covariate-hierarchy.toml"))
    ap.add_argument("--folds", type=int, default=3, help="number of leave-sites-out folds (default 3)")
    ap.add_argument("--only-fold", type=int, default=None, help="run this fold only (0-based)")
    ap.add_argument("--chains", type=int, default=None, help="default: the experiment's [sampler]")
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--draws", type=int, default=None)
    ap.add_argument("--max-tree-depth", type=int, default=None)
    ap.add_argument("--pred-draws", type=int, default=200, help="posterior / prior draws used for prediction")
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)

    t_wall, t_cpu = time.perf_counter(), time.process_time()
    import warnings

    import bayeslsm  # noqa: F401  (XLA flags, float64)
    import arviz as az
    from bayeslsm.experiments import build_calibration, load_experiment, prepare_data
    from bayeslsm.experiments.build import _sample

    exp = load_experiment(args.experiment).with_overrides(
        {"validation": None, "chains": args.chains, "warmup": args.warmup, "draws": args.draws,
         "max_tree_depth": args.max_tree_depth})
    if not exp.hierarchy or not exp.hierarchy.covariates:
        raise SystemExit(f"{args.experiment}: [hierarchy] has no covariates; nothing to compare")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reader data-quality notes: listed by `bayeslsm run`, not needed here
        data = prepare_data(exp)
    forcing, obs = data.calibration
    sites = [str(s) for s in forcing["site"].values]
    pfts = [str(p) for p in forcing["pft"].values]
    fold_of = {}
    for p in dict.fromkeys(pfts):
        for i, s in enumerate(s for s, q in zip(sites, pfts) if q == p):
            fold_of[s] = i % args.folds
    hierarchies = {"pft": dataclasses.replace(exp.hierarchy, covariates=()), "covariate": exp.hierarchy}
    s = exp.sampler
    print(f"load average {os.getloadavg()}; sites {dict(zip(sites, pfts))}; covariates "
          f"{list(exp.hierarchy.covariates)}; NUTS {s.chains} x ({s.warmup} + {s.draws}), max_tree_depth "
          f"{s.max_tree_depth}, prediction draws {args.pred_draws}", flush=True)
    for c in exp.hierarchy.covariates:
        print(f"  {c} [{forcing[c].attrs['units']}]: " + ", ".join(f"{st} {v:.3g}" for st, v in
                                                                  zip(sites, forcing[c].values)), flush=True)

    folds = range(args.folds) if args.only_fold is None else [args.only_fold]
    pooled: dict = {}
    results = {"experiment": exp.name, "covariates": list(exp.hierarchy.covariates),
               "coef_scale": exp.hierarchy.coef_scale,
               "sampler": dataclasses.asdict(exp.sampler), "pred_draws": args.pred_draws, "folds": []}
    for k in folds:
        test = [st for st in sites if fold_of[st] == k]
        train = [st for st in sites if fold_of[st] != k]
        fold = {"fold": k, "calibration_sites": train, "left_out": test, "groups": {}}
        print(f"\nfold {k}: calibrate on {train}, predict {test}", flush=True)
        for label, h in hierarchies.items():
            t0, c0 = time.perf_counter(), time.process_time()
            cal = build_calibration(exp, forcing.sel(site=train), obs.sel(site=train), hierarchy=h)
            idata = _sample(exp, cal, progress=False)
            rep = json.loads(idata.sample_stats.attrs.get("sampling_report", "{}"))
            stats = None if cal.covariate_center is None else (cal.covariate_center, cal.covariate_scale)
            target = build_calibration(exp, forcing.sel(site=test), obs.sel(site=test), edc=False, hierarchy=h,
                                       covariate_stats=stats)
            groups = [("prior", "prior")] if label == "pft" else []
            groups.append((label, "posterior"))
            for name, grp in groups:
                pts = _heldout(target, idata, grp, args.pred_draws, seed=k)
                fold["groups"][name] = {}
                for stream, (y, mod, rp, sig, site_of) in pts.items():
                    m = _metrics(y, mod, rp, sig, site_of)
                    fold["groups"][name][stream] = m
                    pl = pooled.setdefault(name, {}).setdefault(stream, [[], [], [], [], []])
                    for lst, v in zip(pl, (y, mod, rp, sig, np.char.add(f"{k}:", site_of.astype(str)))):
                        lst.append(v)
            post = idata.posterior
            ess, rhat = az.ess(post, method="bulk"), az.rhat(post)
            info = {"wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(time.process_time() - c0, 1),
                    "max_r_hat": round(float(np.nanmax([rhat[v].max() for v in rhat.data_vars])), 3),
                    "min_ess_bulk": round(float(np.nanmin([ess[v].min() for v in ess.data_vars])), 1),
                    "divergences": rep.get("divergences"), "tree_depth_saturation": rep.get("tree_depth_saturation")}
            if h.covariates:
                coef = idata.posterior[f"{h.params[0]}_coef"]
                info["coef_mean"] = dict(zip(h.covariates, np.round(coef.mean(("chain", "draw")).values, 3).tolist()))
                info["coef_sd"] = dict(zip(h.covariates, np.round(coef.std(("chain", "draw")).values, 3).tolist()))
            fold[f"fit_{label}"] = info
            print(f"  {label}: {info}", flush=True)
            for name, _ in groups:
                for stream, m in fold["groups"][name].items():
                    print(f"    {name:9s} {stream}: RMSE {m['rmse']:.3f}  coverage {m['coverage']:.2f}  "
                          f"elpd_point {m['elpd_point']:.1f} (MC sd {m['elpd_point_mc_sd']:.1f})  elpd_site "
                          f"{m['elpd_site']:.1f} (MC sd {m['elpd_site_mc_sd']:.1f})  (n {m['n_obs']})", flush=True)
                    print("      per site RMSE: " + ", ".join(f"{st} {v['rmse']:.2f}" for st, v in
                                                           m["per_site"].items()), flush=True)
        results["folds"].append(fold)
        if args.out:  # partial results after each fold
            from bayeslsm.data.atomic import write_text_atomic

            write_text_atomic(args.out, json.dumps(results, indent=1, default=float) + "\n")

    # pooled over folds: draws differ between folds' calibrations, so the ELPDs add (each point / site once)
    results["pooled"] = {}
    print("\nall left-out sites (pooled over folds)")
    print(f"{'group':10s} {'stream':6s} {'RMSE':>7s} {'cov90':>6s} {'elpd_point':>11s} {'elpd_site':>10s} {'n':>6s}")
    for name, streams in pooled.items():
        results["pooled"][name] = {}
        for stream, (ys, mods, reps, sigs, sites_) in streams.items():
            rmse = float(np.sqrt(np.mean(np.concatenate([(m.mean(0) - y) ** 2 for y, m in zip(ys, mods)]))))
            per = [_metrics(y, m, r, sg, st) for y, m, r, sg, st in zip(ys, mods, reps, sigs, sites_)]
            n = sum(p["n_obs"] for p in per)
            out = {"n_obs": n, "rmse": rmse, "coverage": sum(p["coverage"] * p["n_obs"] for p in per) / n,
                   "elpd_point": sum(p["elpd_point"] for p in per),
                   "elpd_point_mc_sd": float(np.sqrt(sum(p["elpd_point_mc_sd"] ** 2 for p in per))),
                   "elpd_site": sum(p["elpd_site"] for p in per),
                   "elpd_site_mc_sd": float(np.sqrt(sum(p["elpd_site_mc_sd"] ** 2 for p in per)))}
            results["pooled"][name][stream] = out
            print(f"{name:10s} {stream:6s} {out['rmse']:7.3f} {out['coverage']:6.2f} {out['elpd_point']:11.1f} "
                  f"{out['elpd_site']:10.1f} {n:6d}   (MC sd of the ELPDs {out['elpd_point_mc_sd']:.1f}, "
                  f"{out['elpd_site_mc_sd']:.1f})")
    results["wall_s"] = round(time.perf_counter() - t_wall, 1)
    results["cpu_s"] = round(time.process_time() - t_cpu, 1)
    results["load_average_end"] = os.getloadavg()
    print(f"\ntotal: wall {results['wall_s']} s, CPU {results['cpu_s']} s (this process, all threads); "
          f"load average {os.getloadavg()}")
    if args.out:
        from bayeslsm.data.atomic import write_text_atomic

        write_text_atomic(args.out, json.dumps(results, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
