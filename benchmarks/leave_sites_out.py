"""Leave sites out of the full PFT hierarchy and predict them from their PFT level (issue 9).

``models/experiments/pft-hierarchy.toml`` (DALEC2 + water; 2019 daily GPP, LE and 8-day MODIS LAI; ``ceff``
pooled PFT -> site, ``clma`` and ``g_max`` at PFT level, one LE multiplier per site pooled around a network
mean) is calibrated without the left-out sites (default: one site of each of the five PFTs, each with 2020
forcing and LAI). The left-out sites are then predicted over the whole window, 2019 and the held-out
2020-01..09 (:func:`bayeslsm.experiments.skill.heldout_skill`, i.e. :func:`bayeslsm.infer.predict.predict`):
their ``ceff`` is a new site deviation around the posterior ``ceff`` of their PFT, ``clma`` and ``g_max`` the
PFT values, the LE multiplier a new site draw around the network mean. The prior is the same prediction from
the calibration's prior draws. Nothing of the left-out sites enters the calibration: both periods are
out-of-sample for them.

Printed per stream and period: RMSE of the predictive mean, mean error and coverage of the central 90 %
interval of replicated observations, prior and posterior, pooled over the left-out sites and per site.

    BAYESLSM_DATA_DIR=../shared/data .venv/bin/python benchmarks/leave_sites_out.py \
        --method chees --kernel nuts --chains 16 --warmup 400 --draws 250 --out benchmarks/results/leave_sites_out_$(date +%F).json
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEFT_OUT = ["IT-Lav", "US-UMd", "BE-Vie", "CH-Fru", "DE-Kli"]   # ENF, DBF, MF, GRA, CRO


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--experiment", default=str(ROOT / "models/experiments/pft-hierarchy.toml"))
    ap.add_argument("--left-out", nargs="+", default=LEFT_OUT)
    ap.add_argument("--method", choices=["nuts", "chees"], default=None, help="default: the file's [sampler]")
    ap.add_argument("--kernel", choices=["hmc", "nuts"], default=None, help="method chees: draws by HMC or NUTS")
    ap.add_argument("--chains", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--draws", type=int, default=None)
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)

    t_wall = time.perf_counter()
    import bayeslsm  # noqa: F401  (XLA flags, float64)
    from bayeslsm.diagnostics import summarize
    from bayeslsm.experiments import build_calibration, load_experiment, prepare_data
    from bayeslsm.experiments.build import _sample
    from bayeslsm.experiments.skill import heldout_skill

    overrides = {k: v for k, v in {"method": args.method, "kernel": args.kernel, "chains": args.chains, "warmup": args.warmup,
                                   "draws": args.draws}.items() if v is not None}
    exp = load_experiment(args.experiment).with_overrides(overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # data-quality notes and sites not validated: listed by `bayeslsm run`
        data = prepare_data(exp)
    forcing, obs = data.calibration
    vf, vo = data.validation
    sites = [str(s) for s in forcing["site"].values]
    missing = [s for s in args.left_out if s not in [str(v) for v in vf["site"].values]]
    if missing:
        raise SystemExit(f"--left-out: {missing} are not validated sites of {exp.name} (expected some of "
                         f"{[str(v) for v in vf['site'].values]})")
    train = [s for s in sites if s not in args.left_out]
    s = exp.sampler
    print(f"load average {os.getloadavg()}; {exp.name}: calibrate on {len(train)} sites, leave out "
          f"{args.left_out}; {s.method} ({s.kernel}) {s.chains} x ({s.warmup} + {s.draws})", flush=True)

    t0 = time.perf_counter()
    cal = build_calibration(exp, forcing.sel(site=train), obs.sel(site=train))
    idata = _sample(exp, cal, progress=False)
    t_fit = time.perf_counter() - t0
    summ = summarize(idata, ci_prob=exp.skill.prob)
    fit = {k: summ.get(k) for k in ("max_r_hat", "min_ess_bulk", "divergences", "n_chains", "n_draws")}
    fit["wall_s"] = round(t_fit, 1)
    print(f"fit: {fit}", flush=True)

    test = [str(v) for v in vf["site"].values if str(v) in args.left_out]
    sk = heldout_skill(exp, idata, vf.sel(site=test), vo.sel(site=test), n_cal_days=exp.calibration.n_days,
                       seed=s.seed + 1)
    res = {"experiment": exp.name, "left_out": test, "calibration_sites": train, "sampler": overrides, "fit": fit,
           "skill": sk}
    periods = {"calibration": "2019 (left-out sites: out of sample)", "validation": "2020 held-out"}
    print(f"\n{'stream':6s} {'period':38s} {'RMSE prior':>10s} {'RMSE post':>10s} {'ME prior':>9s} {'ME post':>8s} "
          f"{'cov prior':>9s} {'cov post':>8s} {'n':>5s}")
    for name, e in sk["streams"].items():
        for per, label in periods.items():
            pr, po = e[per]["prior"], e[per]["posterior"]
            if po["rmse"] is None:
                continue
            print(f"{name:6s} {label:38s} {pr['rmse']:10.3f} {po['rmse']:10.3f} {pr['mean_error']:+9.3f} "
                  f"{po['mean_error']:+8.3f} {pr['coverage']:9.2f} {po['coverage']:8.2f} {po['n_obs']:5d}")
        print("       per site RMSE prior -> posterior (2019 | 2020): " + ", ".join(
            f"{st} {v['calibration']['prior']['rmse']:.2f}->{v['calibration']['posterior']['rmse']:.2f} | "
            f"{v['validation']['prior']['rmse']:.2f}->{v['validation']['posterior']['rmse']:.2f}"
            for st, v in e.get("per_site", {}).items() if v["validation"]["posterior"]["rmse"] is not None
            and v["calibration"]["posterior"]["rmse"] is not None))
    res["wall_s"] = round(time.perf_counter() - t_wall, 1)
    res["load_average_end"] = os.getloadavg()
    print(f"\ntotal wall {res['wall_s']} s; load average {os.getloadavg()}")
    if args.out:
        from bayeslsm.data.atomic import write_text_atomic

        write_text_atomic(args.out, json.dumps(res, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
