"""Simulation-based calibration of VSEM and DALEC2 (larger than the test suite's), and what batching saves.

For each problem of :func:`bayeslsm.diagnostics.sbc_problem` (VSEM: ``LUE``, ``GAMMA`` and the NEE
error sd; DALEC2: ``ceff``, ``f_auto`` and the NEE error sd, with 8-day LAI), ``--n`` data sets are
simulated from prior draws and fitted with NUTS (BlackJAX window adaptation, all fits of a batch in one
``jax.vmap``), and each parameter's ranks are tested for uniformity (chi-square,
:func:`bayeslsm.diagnostics.sbc_uniformity_pvalue`). Rank histograms go to ``--out``.

Batching: the same VSEM SBC is also run on ``--n-serial`` data sets as one vmapped batch and with
``batch=1`` (one fit at a time, the same compiled program for every fit); the wall time per fit of both
(each including one compilation) is printed with their ratio, measured in the same run.

Run (a few minutes on 2 cores)::

    .venv/bin/python benchmarks/sbc.py [--n 100] [--days 120] [--warmup 200] [--draws 200] [--out sbc_bench]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import bayeslsm  # noqa: F401  (XLA flags and float64 before jax)


def main(argv=None) -> dict:
    from bayeslsm.diagnostics.sbc_runner import run_sbc, sbc_problem, write_sbc

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--n-serial", type=int, default=10)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--thin", type=int, default=2)
    ap.add_argument("--models", nargs="+", default=["vsem", "dalec2"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("sbc_bench"))
    a = ap.parse_args(argv)
    print(f"cores: {os.cpu_count()}; settings: n={a.n} days={a.days} warmup={a.warmup} draws={a.draws} thin={a.thin}")
    results = {}
    for model in a.models:
        t0 = time.perf_counter()
        res = run_sbc(sbc_problem(model, days=a.days, seed=a.seed), n_sims=a.n, warmup=a.warmup, draws=a.draws,
                      thin=a.thin, seed=a.seed, progress=False)
        wall = time.perf_counter() - t0
        write_sbc(res, a.out / model)
        results[model] = {"pvalues": {k: float(v) for k, v in res.pvalues.items()}, "passed": res.passed(),
                          "M": res.M, "divergent_fits": int((res.divergences > 0).sum()), "wall_seconds": wall}
        print(f"{model}: M = {res.M}, p-values " + ", ".join(f"{k} {float(v):.3g}" for k, v in res.pvalues.items())
              + f"; {'passed' if res.passed() else 'FAILED'} (Bonferroni 1 %); fits with divergences "
              f"{results[model]['divergent_fits']}/{a.n}; {wall:.0f} s ({wall / a.n:.2f} s per fit, compile included)")
    if a.n_serial > 1 and "vsem" in a.models:
        cal = sbc_problem("vsem", days=a.days, seed=a.seed)
        kw = {"n_sims": a.n_serial, "warmup": a.warmup, "draws": a.draws, "thin": a.thin, "seed": a.seed, "progress": False}
        timings = {}
        for batch in (a.n_serial, 1):
            t0 = time.perf_counter()
            run_sbc(cal, **kw, batch=batch)
            timings[batch] = (time.perf_counter() - t0) / a.n_serial
        print(f"vsem, {a.n_serial} fits: vmapped batch {timings[a.n_serial]:.3f} s per fit, one at a time "
              f"{timings[1]:.3f} s per fit; ratio {timings[1] / timings[a.n_serial]:.2f}x "
              "(each wall time includes one compilation)")
        results["batching"] = {"per_fit_vmapped": timings[a.n_serial], "per_fit_serial": timings[1]}
    (a.out).mkdir(parents=True, exist_ok=True)
    (a.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
