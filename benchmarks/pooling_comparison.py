"""Partial vs fully pooled vs unpooled ``ceff`` on real sites: held-out RMSE / coverage and PSIS-LOO (issue 9).

Runs ``models/experiments/covariate-hierarchy.toml`` (13 ENF/DBF sites, 2019 daily GPP, held-out 2020-01..09)
four times, changing only ``[hierarchy]``: partial pooling PFT -> site (centred, no covariates), partial pooling
with the site covariates (the file as shipped), fully pooled (one ceff for every site) and unpooled (an
independent ceff per site from the catalogue prior).  Prints, per variant: sampling diagnostics, held-out
GPP RMSE and 90 % coverage over the validated sites (``skill.json``), and the PSIS-LOO ELPD of the calibration
data (``az.loo`` on the stored pointwise log-likelihood) with ``az.compare``.

    python benchmarks/pooling_comparison.py --out runs/pooling [--chains 4 --warmup 300 --draws 500]

Any other experiment with a ``[hierarchy]`` works too (``--experiment pft-hierarchy``): without covariates the
file's hierarchy is the ``partial`` variant (its ``pft_only``, centring and scales kept) and there is no
``partial+covariates``; every observed stream gets its own rows and its own ``az.compare``. ``--reuse
partial=DIR`` takes a variant from a finished ``bayeslsm run`` folder (same experiment and settings) instead of
running it again.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import bayeslsm  # noqa: F401  (XLA flags and float64 before jax)
import arviz as az

from bayeslsm.experiments import load_experiment, run_experiment
from bayeslsm.infer.parameters import Hierarchy


def variants(exp):
    h = exp.hierarchy
    if not h.covariates:
        return {"partial": h, "pooled": Hierarchy(params=h.params, mode="pooled"),
                "unpooled": Hierarchy(params=h.params, mode="unpooled")}
    base = dict(params=h.params, centered=h.centered, pft_scale=h.pft_scale, site_scale=h.site_scale)
    return {
        "partial": Hierarchy(mode="partial", **base),
        "partial+covariates": h,
        "pooled": Hierarchy(params=h.params, mode="pooled"),
        "unpooled": Hierarchy(params=h.params, mode="unpooled"),
    }


def held_out(skill, stream="GPP"):
    """Validation RMSE and coverage over all validated sites (``skill.json`` pools them)."""
    v = skill["streams"][stream]["validation"]
    return {"rmse": v["posterior"]["rmse"], "prior_rmse": v["prior"]["rmse"], "coverage": v["posterior"]["coverage"],
            "n": v["posterior"]["n_obs"],
            "sites": sum(1 for e in skill["streams"][stream]["per_site"].values()
                         if e["validation"]["posterior"]["rmse"] is not None)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--experiment", default="covariate-hierarchy")
    ap.add_argument("--chains", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--draws", type=int)
    ap.add_argument("--method", choices=["nuts", "chees"])
    ap.add_argument("--kernel", choices=["hmc", "nuts"])
    ap.add_argument("--reuse", nargs="*", default=[], metavar="VARIANT=DIR",
                    help="take these variants from finished `bayeslsm run` folders")
    args = ap.parse_args(argv)
    exp = load_experiment(args.experiment)
    out = Path(args.out)
    reuse = dict(r.split("=", 1) for r in args.reuse)
    streams = [st.name for st in exp.streams]
    rows, loos = {}, {st: {} for st in streams}
    print(f"load average {os.getloadavg()}", flush=True)
    for name, h in variants(exp).items():
        e = dataclasses.replace(exp, hierarchy=h)
        t0, c0 = time.perf_counter(), sum(os.times()[:2])
        folder = out / name.replace("+", "_")
        if name in reuse:
            folder = Path(reuse[name])
            res = None
        else:
            overrides = {k: v for k, v in {"chains": args.chains, "warmup": args.warmup, "draws": args.draws,
                                           "method": args.method, "kernel": args.kernel}.items() if v is not None}
            res = run_experiment(e, folder, overrides, overwrite=True, preflight=False)
        wall, cpu = time.perf_counter() - t0, sum(os.times()[:2]) - c0
        idata = az.from_netcdf(folder / "posterior.nc")
        for st in streams:
            if st in idata.log_likelihood:
                loos[st][name] = az.loo(idata, var_name=st)
        skill = json.loads((folder / "skill.json").read_text())
        if res is None:
            wall = skill.get("wall_seconds", {}).get("total", float("nan"))
        rows[name] = {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "skill": skill, "res": res}
        print(f"[{name}] {wall:.0f} s wall, {cpu:.0f} s CPU" + (f" (reused {folder})" if name in reuse else ""),
              flush=True)
    print()
    print(f"{'variant':20s} {'max R-hat':>9s} {'min ESS':>8s} {'div':>4s} {'wall s':>7s}")
    for name, r in rows.items():
        s = r["skill"]["sampling"]
        print(f"{name:20s} {s['max_r_hat']:9.3f} {s['min_ess_bulk']:8.0f} {s['divergences']:4d} {r['wall_s']:7.0f}")
    for st in streams:
        print(f"\nheld-out {st} (validated sites): RMSE prior -> posterior, 90 % coverage")
        for name, r in rows.items():
            v = held_out(r["skill"], st)
            print(f"  {name:20s} {v['prior_rmse']:.3f} -> {v['rmse']:.3f}, {v['coverage']:.2f}  (n {v['n']}, "
                  f"{v['sites']} sites)")
        if len(loos[st]) > 1:
            print(f"PSIS-LOO of the calibration {st} (az.compare):")
            cmp = az.compare(loos[st])
            print(cmp[["elpd_loo", "p_loo", "elpd_diff", "dse", "warning"]].to_string())
            for name, loo in loos[st].items():
                print(f"  {name}: Pareto k > 0.7 at {int((loo.pareto_k > 0.7).sum())} of {loo.pareto_k.size} points")
    print(f"load average {os.getloadavg()}")
    return rows


if __name__ == "__main__":
    main()
