"""Forward and gradient cost of DALEC2 and DALEC2Water: JAX against a numba loop, in ns per site-day.

For 1, 5 and 20 years of daily forcing at 1, 10 and 100 sites (ten synthetic sites from the weather
generator, tiled to 100), measured in the same run:

* JAX forward: ``jax.jit(jax.vmap(simulate))`` returning the outputs the numba loop returns (NEE, GPP,
  LAI; DALEC2Water: NEE, GPP, LE, W), and, for reference, all outputs;
* JAX gradient: ``jax.jit(jax.grad(loglik))``, the gradient of a Gaussian log-likelihood of daily NEE
  (σ = 0.5 gC m-2 d-1) with respect to every parameter at every site (leaves of shape (site,));
* numba forward: ``numba_dalec.simulate`` / ``numba_dalec_water.simulate`` site by site, parameter-only
  work vectorised in numpy before the compiled daily loop, as in the JAX models.

Timings exclude compilation (one warm-up call) and are medians over repeats taken round-robin (JAX forward,
JAX gradient, numba in turn), so that load from other processes hits all three alike; the ratios are
also given from the CPU time of this process, which other processes do not inflate.  Before timing,
each numba loop is checked against the JAX model on 20 years (max |difference| / max |value| ≤ 1e-10).
The XLA:CPU small-while-loop option (:mod:`bayeslsm._xla`) is measured by timing DALEC2, 3 years, 1 site
in two fresh interpreters, one with ``BAYESLSM_NO_XLA_FLAGS=1``.

Run: ``python benchmarks/forward_gradient.py`` (``make bench``); ``--quick`` for a 1-repeat smoke run.
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

import bayeslsm  # noqa: F401  (before jax: XLA flags and float64)

# isort: split

import jax
import jax.numpy as jnp
import jaxlib
import numba
import numpy as np
from jax.scipy.stats import norm

from bayeslsm._xla import xla_flag_applied
from bayeslsm.data.synthetic import weather_generator
from bayeslsm.infer import model_forcing
from bayeslsm.lsm import DALEC2, DALEC2Water, simulate

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# isort: split
import numba_dalec
import numba_dalec_water

YEARS = (1, 5, 20)
SITES = (1, 10, 100)
N_DISTINCT_SITES = 10
SIGMA_NEE = 0.5
AGREEMENT_RTOL = 1e-10
GOAL_FORWARD, GOAL_GRADIENT = 1.3, 4.0
POOLS = ("C_lab", "C_fol", "C_roo", "C_woo", "C_lit", "C_som")
MODELS = {"DALEC2": DALEC2(), "DALEC2Water": DALEC2Water(water_stress=True)}
SAME_OUTPUTS = {"DALEC2": ("NEE", "GPP", "LAI"), "DALEC2Water": ("NEE", "GPP", "LE", "W_end")}


# --------------------------------------------------------------------------------------------------------
# inputs


def site_forcing(model, years_total=20):
    """Forcing leaves of shape (N_DISTINCT_SITES, 365·years_total): ten latitudes and seeds."""
    lats = np.linspace(35.0, 62.0, N_DISTINCT_SITES)
    sites = [model_forcing(model, weather_generator(years=years_total, lat=float(lat), seed=i))
             for i, lat in enumerate(lats)]
    n = 365 * years_total
    cols = (np.concatenate([np.asarray(getattr(s, k))[:, :n] for s in sites]) for k in model.Forcing._fields)
    return model.Forcing(*cols)


def subset(forcing, n_sites, n_days):
    """The first ``n_days`` of ``n_sites`` sites (the distinct sites tiled)."""
    reps = -(-n_sites // forcing.tmin.shape[0])
    return type(forcing)(*(np.ascontiguousarray(np.tile(a, (reps, 1))[:n_sites, :n_days]) for a in forcing))


def per_site(tree, n_sites):
    return jax.tree.map(lambda x: jnp.full((n_sites,), x), tree)


def numba_args(name, model, forcing, i):
    """Positional arguments of the numba ``simulate`` for site ``i``."""
    d = model.DEFAULTS
    p = np.array([d[k] for k in DALEC2.Params._fields])
    pools = np.array([d[k] for k in ("clab_init", "cf_init", "cr_init", "cw_init", "cl_init", "cs_init")])
    f = forcing
    cols = (f.run_day[i], f.tmin[i], f.tmax[i], f.swrad[i], f.co2[i], f.doy[i], float(f.lat[i, 0]))
    if name == "DALEC2":
        return (p, pools, *cols)
    wp = np.array([d[k] for k in numba_dalec_water.WATER_NAMES])
    return (p, wp, pools, d["w_init"], *cols, f.precip[i], f.vpd[i])


def numba_simulate(name):
    return numba_dalec.simulate if name == "DALEC2" else numba_dalec_water.simulate


# --------------------------------------------------------------------------------------------------------
# JAX functions


def jax_functions(name, model, forcing, n_sites):
    """(forward with numba's outputs, forward with all outputs, gradient) and their arguments, jitted."""
    fields = SAME_OUTPUTS[name]
    params = per_site(model.params(model.DEFAULTS), n_sites)
    init = per_site(model.initial_state(model.DEFAULTS), n_sites)
    f = jax.tree.map(jnp.asarray, forcing)

    def run(p, frc, s):
        return simulate(model, p, frc, s)

    fwd_all = jax.jit(jax.vmap(run))
    fwd = jax.jit(jax.vmap(lambda p, frc, s: tuple(getattr(run(p, frc, s), k) for k in fields)))
    obs = np.asarray(fwd(params, f, init)[0]) + SIGMA_NEE * np.random.default_rng(0).standard_normal(f.tmin.shape)

    def loglik(p):
        nee = jax.vmap(lambda p, frc, s: run(p, frc, s).NEE)(p, f, init)
        return jnp.sum(norm.logpdf(obs, nee, SIGMA_NEE))

    grad = jax.jit(jax.grad(loglik))
    return {
        "fwd": lambda: fwd(params, f, init),
        "fwd_all": lambda: fwd_all(params, f, init),
        "grad": lambda: grad(params),
    }


def check_agreement(name, model, forcing):
    """The numba loop equals the JAX model on 20 years at one site (before anything is timed)."""
    f1 = subset(forcing, 1, forcing.tmin.shape[1])
    out = simulate(model, model.params(model.DEFAULTS), jax.tree.map(lambda a: jnp.asarray(a[0]), f1),
                   model.initial_state(model.DEFAULTS))
    got = numba_simulate(name)(*numba_args(name, model, f1, 0))
    worst = {}
    for k, v in zip(SAME_OUTPUTS[name], got):
        ref = np.asarray(getattr(out, k))
        worst[k] = float(np.max(np.abs(v - ref)) / np.max(np.abs(ref)))
    bad = {k: e for k, e in worst.items() if not e <= AGREEMENT_RTOL}
    if bad:
        raise SystemExit(f"{name}: numba and JAX disagree beyond {AGREEMENT_RTOL}: {bad}")
    return worst


# --------------------------------------------------------------------------------------------------------
# timing


def _once(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn())
    return time.perf_counter() - w0, time.process_time() - c0


def time_round_robin(fns, reps):
    """Median wall time and median CPU time of this process for each callable, calls interleaved.

    The first (compiling) call is not timed.  CPU time (all threads of this process) is insensitive to
    other processes competing for the cores; it counts XLA's worker threads, which can only make JAX look
    slower than by wall time.
    """
    for fn in fns.values():
        jax.block_until_ready(fn())
    wall, cpu = {k: [] for k in fns}, {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            w, c = _once(fn)
            wall[k].append(w)
            cpu[k].append(c)
    return {k: float(np.median(v)) for k, v in wall.items()}, {k: float(np.median(v)) for k, v in cpu.items()}


def repeats(site_days, quick):
    if quick:
        return 1
    # ~0.2-1 s per configuration and function: many repeats for the small cases, 3 for the largest
    return int(np.clip(200_000 // site_days, 3, 25))


def flag_probe(reps):
    """Gradient (and forward) of DALEC2, 3 years, 1 site, in this interpreter; prints JSON."""
    model = MODELS["DALEC2"]
    forcing = subset(site_forcing(model, years_total=3), 1, 3 * 365)
    fns = jax_functions("DALEC2", model, forcing, 1)
    t, _ = time_round_robin({"grad": fns["grad"], "fwd": fns["fwd"]}, reps)
    print(json.dumps({"applied": xla_flag_applied(), "grad_s": t["grad"], "fwd_s": t["fwd"],
                      "xla_flags": os.environ.get("XLA_FLAGS", "")}))


def run_probe(no_flags, reps):
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "BAYESLSM_NO_XLA_FLAGS")}
    if no_flags:
        env["BAYESLSM_NO_XLA_FLAGS"] = "1"
    res = subprocess.run([sys.executable, __file__, "--flag-probe", "--reps", str(reps)], env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    if res.returncode != 0:
        raise SystemExit(f"flag probe failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------------------


def main(quick=False):
    t_start = time.perf_counter()
    print("bayeslsm forward/gradient benchmark")
    print(f"  python {platform.python_version()}, jax {jax.__version__}, jaxlib {jaxlib.__version__}, "
          f"numba {numba.__version__}, numpy {np.__version__}")
    print(f"  {platform.machine()}, {os.cpu_count()} cores, device {jax.devices()[0]}, "
          f"float64 {jax.config.jax_enable_x64}, small-while-loop option {xla_flag_applied()}")
    print(f"  load average at start: {os.getloadavg()[0]:.2f} (other processes share these cores)")
    print()
    rows = []
    for name, model in MODELS.items():
        forcing = site_forcing(model, years_total=max(YEARS))
        worst = check_agreement(name, model, forcing)
        print(f"{name}: numba loop vs JAX model, 20 years, max|diff|/max|value|: "
              + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()))
        sim = numba_simulate(name)
        for years in YEARS:
            for n_sites in SITES:
                n_days = 365 * years
                f = subset(forcing, n_sites, n_days)
                fns = jax_functions(name, model, f, n_sites)
                args = [numba_args(name, model, f, i) for i in range(n_sites)]
                fns["numba"] = lambda args=args, sim=sim: [sim(*a) for a in args]
                site_days = n_sites * n_days
                t, t_cpu = time_round_robin(fns, repeats(site_days, quick))
                ns = {k: v / site_days * 1e9 for k, v in t.items()}
                ns_cpu = {k: v / site_days * 1e9 for k, v in t_cpu.items()}
                rows.append((name, years, n_sites, ns, ns_cpu))
                line = "  ".join(f"{k} {v:7.1f}" for k, v in ns.items())
                print(f"  {name:11s} {years:2d} y {n_sites:3d} sites: {line} ns/site-day", flush=True)
    print()
    print("ns per site-day (median); ratios against the numba forward loop")
    print(f"  goals: JAX forward <= {GOAL_FORWARD}x numba forward, JAX gradient <= {GOAL_GRADIENT}x numba forward")
    header = (f"{'model':11s} {'years':>5s} {'sites':>5s} {'numba fwd':>9s} {'JAX fwd':>8s} {'JAX fwd*':>8s} "
              f"{'JAX grad':>8s} {'fwd/numba':>9s} {'grad/numba':>10s}")
    print(header)
    print("-" * len(header))
    for name, years, n_sites, ns, ns_cpu in rows:
        rf, rg = ns["fwd"] / ns["numba"], ns["grad"] / ns["numba"]
        rf_cpu, rg_cpu = ns_cpu["fwd"] / ns_cpu["numba"], ns_cpu["grad"] / ns_cpu["numba"]
        print(f"{name:11s} {years:5d} {n_sites:5d} {ns['numba']:9.1f} {ns['fwd']:8.1f} {ns['fwd_all']:8.1f} "
              f"{ns['grad']:8.1f} {rf:8.2f}{'*' if rf <= GOAL_FORWARD else ' '} "
              f"{rg:9.2f}{'*' if rg <= GOAL_GRADIENT else ' '}   (CPU time: {rf_cpu:.2f}, {rg_cpu:.2f})")
    print("  JAX fwd: the numba loop's outputs; JAX fwd*: all outputs; a ratio marked * meets its goal;")
    print("  in brackets the same ratios from the CPU time of this process (insensitive to other load)")
    print()
    reps = 3 if quick else 15
    on, off = run_probe(False, reps), run_probe(True, reps)
    print("XLA:CPU small-while-loop option, DALEC2, 3 years, 1 site (fresh interpreters, median of "
          f"{reps}):")
    print(f"  gradient: with {on['grad_s'] * 1e3:.2f} ms, without {off['grad_s'] * 1e3:.2f} ms -> "
          f"without/with = {off['grad_s'] / on['grad_s']:.2f}")
    print(f"  forward:  with {on['fwd_s'] * 1e3:.2f} ms, without {off['fwd_s'] * 1e3:.2f} ms -> "
          f"without/with = {off['fwd_s'] / on['fwd_s']:.2f}")
    print(f"  (option applied: {on['applied']} / {off['applied']})")
    print(f"\ntotal time {time.perf_counter() - t_start:.0f} s; load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one repeat per measurement (smoke test)")
    ap.add_argument("--flag-probe", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--reps", type=int, default=15, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.flag_probe:
        flag_probe(a.reps)
    else:
        main(quick=a.quick)
