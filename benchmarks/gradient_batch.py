"""Cost of one value-and-gradient of the demo posterior, alone and vmapped over chains.

The density is the unconstrained potential that NumPyro's ``initialize_model`` builds from the demo's
:class:`~bayeslsm.infer.Calibration` (DALEC2 + water, 3 years, NEE + LE + 8-day LAI, 14 dimensions): the
function every gradient-based sampler evaluates.  For each configuration it times
``jit(vmap(value_and_grad(logp)))`` over a batch of 1, 8, 32 and 64 points and prints the cost *per
point* (ms): a batch of chains shares one scan, so the per-point cost falls with the batch until the
cores are busy.

Configurations, each in a fresh interpreter (XLA reads its flags and JAX its dtype at start-up):

* ``remat``: the rematerialisation policy of the scanned daily step (:mod:`bayeslsm.lsm.core`):
  ``none`` (JAX's default: store every intermediate of every day), ``nothing_saveable`` (bayeslsm's
  default: store only the state, recompute the step backwards), ``dots_saveable``;
* float64 (bayeslsm's default) vs float32 (``BAYESLSM_X64=0``);
* with and without the XLA:CPU small-while-loop option (``BAYESLSM_NO_XLA_FLAGS=1``).

Each probe also returns the gradient at one fixed point; the gradients of all float64 probes are compared
(max relative difference printed).  The numba loop of the same model (``numba_dalec_water.py``) gives the
forward cost at one site, for the issue's "gradient / numba forward <= 4x at one site when chains are
batched" goal.  Timings are medians of interleaved repeats, wall and process CPU time.

Run: ``python benchmarks/gradient_batch.py`` (~4 min on 2 cores); ``--quick`` for fewer configurations.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BATCHES = (1, 8, 32, 64)


def probe(remat: str, batches: tuple[int, ...], reps: int) -> None:
    """Time the demo gradient in this interpreter; print one JSON line."""
    import bayeslsm  # noqa: F401  (before jax)

    # isort: split

    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.flatten_util import ravel_pytree
    from numpyro.infer.util import initialize_model

    from bayeslsm._xla import xla_flag_applied
    from bayeslsm.demo import demo_problem
    from bayeslsm.infer import Calibration

    _, obs, _, cal0 = demo_problem()
    cal = Calibration(cal0.model, cal0.forcing_ds, obs, [sd.config for sd in cal0.streams], free=cal0.free,
                      remat=remat)
    info = initialize_model(jax.random.PRNGKey(0), cal.numpyro_model, model_kwargs={"obs": cal.observed_arrays()})
    flat0, unravel = ravel_pytree(info.param_info.z)

    def logp(x):
        return -info.potential_fn(unravel(x))

    vg = jax.jit(jax.vmap(jax.value_and_grad(logp)))
    rng = np.random.default_rng(0)
    xs = {b: jnp.asarray(np.asarray(flat0) + 0.05 * rng.standard_normal((b, flat0.size)), dtype=flat0.dtype)
          for b in batches}
    compile_s = {}
    for b in batches:
        t0 = time.perf_counter()
        jax.block_until_ready(vg(xs[b]))
        compile_s[b] = time.perf_counter() - t0
    wall = {b: [] for b in batches}
    cpu = {b: [] for b in batches}
    for _ in range(reps):
        for b in batches:
            w0, c0 = time.perf_counter(), time.process_time()
            jax.block_until_ready(vg(xs[b]))
            wall[b].append(time.perf_counter() - w0)
            cpu[b].append(time.process_time() - c0)
    v, g = vg(jnp.asarray(flat0)[None])
    print(json.dumps({
        "remat": remat, "dtype": str(flat0.dtype), "xla_flag": xla_flag_applied(), "dim": int(flat0.size),
        "ms_per_point": {b: 1e3 * float(np.median(wall[b])) / b for b in batches},
        "cpu_ms_per_point": {b: 1e3 * float(np.median(cpu[b])) / b for b in batches},
        "compile_s": compile_s, "value": float(v[0]), "grad": np.asarray(g[0], dtype=float).tolist(),
    }))


def run_probe(remat, x64=True, flags=True, batches=BATCHES, reps=15):
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "BAYESLSM_NO_XLA_FLAGS", "BAYESLSM_X64")}
    if not x64:
        env["BAYESLSM_X64"] = "0"
    if not flags:
        env["BAYESLSM_NO_XLA_FLAGS"] = "1"
    cmd = [sys.executable, __file__, "--probe", remat, "--batches", ",".join(map(str, batches)), "--reps", str(reps)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)
    if res.returncode != 0:
        raise SystemExit(f"probe {remat} x64={x64} flags={flags} failed:\n{res.stderr[-3000:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["ms_per_point"] = {int(k): v for k, v in out["ms_per_point"].items()}
    out["cpu_ms_per_point"] = {int(k): v for k, v in out["cpu_ms_per_point"].items()}
    return out


def numba_forward_ms(reps=30) -> float:
    """Median wall ms of the numba DALEC2Water loop on the demo's forcing, one site."""
    import bayeslsm  # noqa: F401

    # isort: split
    import numpy as np

    sys.path.insert(0, str(HERE))
    import numba_dalec_water  # noqa: E402

    from bayeslsm.demo import demo_problem

    _, _, _, cal = demo_problem()
    model, f, d = cal.model, cal.forcing, cal.catalogue.parameters
    from bayeslsm.lsm import DALEC2

    vals = {k: float(s.default) for k, s in d.items()}
    p = np.array([vals[k] for k in DALEC2.Params._fields])
    wp = np.array([vals[k] for k in numba_dalec_water.WATER_NAMES])
    pools = np.array([vals[k] for k in ("clab_init", "cf_init", "cr_init", "cw_init", "cl_init", "cs_init")])
    a = {k: np.ascontiguousarray(np.asarray(getattr(f, k))[0], dtype=float) for k in model.Forcing._fields}
    args = (p, wp, pools, vals["w_init"], a["run_day"], a["tmin"], a["tmax"], a["swrad"], a["co2"], a["doy"],
            float(a["lat"][0]), a["precip"], a["vpd"])
    numba_dalec_water.simulate(*args)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        numba_dalec_water.simulate(*args)
        ts.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(ts))


def main(quick: bool = False) -> dict:
    import numpy as np

    print(f"[gradient_batch] {platform.platform()}, {os.cpu_count()} CPUs; load average at start "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    t0 = time.perf_counter()
    configs = [("none", True, True, BATCHES), ("nothing_saveable", True, True, BATCHES),
               ("nothing_saveable", False, True, BATCHES), ("nothing_saveable", True, False, (1, 32))]
    if not quick:
        configs += [("dots_saveable", True, True, (1, 32)), ("none", True, False, (1, 32))]
    rows = []
    for remat, x64, flags, batches in configs:
        r = run_probe(remat, x64, flags, batches, reps=5 if quick else 15)
        rows.append(r)
        print(f"  done: remat={remat} {r['dtype']} xla_flag={r['xla_flag']} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    numba_ms = numba_forward_ms()

    ref = rows[0]
    print("-" * 100)
    print(f"Demo posterior, {ref['dim']} unconstrained dimensions; value_and_grad per point, ms (wall; "
          f"process CPU in brackets), jit(vmap) over a batch of B points")
    head = "".join(f"{'B=' + str(b):>18}" for b in BATCHES)
    print(f"{'remat':<18}{'dtype':<9}{'XLA opt':<9}{head}")
    for r in rows:
        cells = "".join(
            f"{r['ms_per_point'][b]:>9.3f} ({r['cpu_ms_per_point'][b]:5.2f})" if b in r["ms_per_point"] else f"{'-':>18}"
            for b in BATCHES)
        print(f"{r['remat']:<18}{r['dtype']:<9}{str(r['xla_flag']):<9}{cells}")
    g_ref = np.asarray(ref["grad"])
    print("-" * 100)
    for r in rows[1:]:
        if r["dtype"] != "float64":
            continue
        rel = float(np.max(np.abs(np.asarray(r["grad"]) - g_ref) / np.maximum(np.abs(g_ref), 1e-300)))
        print(f"gradient vs remat=none float64: max relative difference {rel:.1e}  "
              f"(remat={r['remat']}, xla_flag={r['xla_flag']})")
    r32 = next(r for r in rows if r["dtype"] == "float32")
    rel32 = float(np.max(np.abs(np.asarray(r32["grad"]) - g_ref) / np.maximum(np.abs(g_ref), 1e-300)))
    print(f"gradient float32 vs float64: max relative difference {rel32:.1e} (value {r32['value']:.6g} vs "
          f"{ref['value']:.6g})")
    print("-" * 100)
    none64, ns64 = rows[0], rows[1]
    for b in BATCHES:
        print(f"RATIO B={b:>2}: remat none / nothing_saveable = {none64['ms_per_point'][b] / ns64['ms_per_point'][b]:.2f}x;"
              f"  none at B=1 / nothing_saveable at B={b} = {none64['ms_per_point'][1] / ns64['ms_per_point'][b]:.2f}x;"
              f"  float64 / float32 = {ns64['ms_per_point'][b] / r32['ms_per_point'][b]:.2f}x")
    noflag = next(r for r in rows if not r["xla_flag"] and r["remat"] == "nothing_saveable")
    for b in (1, 32):
        print(f"RATIO XLA small-while-loop option, remat=nothing_saveable, B={b}: without / with = "
              f"{noflag['ms_per_point'][b] / ns64['ms_per_point'][b]:.2f}x")
    best = min(ns64["ms_per_point"].values())
    print(f"numba forward, one site, 3 years: {numba_ms:.3f} ms.  RATIO gradient per point (best batch, "
          f"float64, nothing_saveable) / numba forward = {best / numba_ms:.2f}x (goal <= 4x); at B=1: "
          f"{ns64['ms_per_point'][1] / numba_ms:.2f}x")
    import jax
    import numba
    import numpyro

    print(f"Versions: jax {jax.__version__}, numpyro {numpyro.__version__}, numba {numba.__version__}, "
          f"numpy {np.__version__}, python {platform.python_version()}")
    load = os.getloadavg()[0]
    print(f"Load average at the end {load:.2f} on {os.cpu_count()} CPUs "
          f"({'contended' if load > (os.cpu_count() or 1) * 0.75 else 'not contended'}); total "
          f"{time.perf_counter() - t0:.0f} s")
    return {"rows": rows, "numba_ms": numba_ms}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--probe", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--batches", default=",".join(map(str, BATCHES)), help=argparse.SUPPRESS)
    ap.add_argument("--reps", type=int, default=15, help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="fewer configurations and repeats")
    a = ap.parse_args()
    if a.probe:
        probe(a.probe, tuple(int(b) for b in a.batches.split(",")), a.reps)
    else:
        main(quick=a.quick)
