"""Emulator + exact correction against exact NUTS, for DALEC2 + water run as a black box (numba).

The numba DALEC2Water (``numba_dalec_water.py``) stands in for a compiled (Fortran) land surface model: no
gradient, reached only through :class:`bayeslsm.ml.PythonModel` and :func:`bayeslsm.ml.run_ensemble`
(parallel processes, on-disk cache). The same posterior is sampled twice:

* **exact**: NUTS (NumPyro) on the JAX DALEC2Water, which agrees with the numba loop to ~1e-10 (checked
  first); its cost in exact model runs is the number of gradient evaluations (leapfrog steps, warm-up
  included), each one forward + reverse run of the model;
* **emulator + correction** (:func:`bayeslsm.ml.calibrate_external`): a Latin-hypercube design, a GP
  emulator of the 48 outputs (principal components), active learning on its posterior, NUTS on the
  emulated posterior, and PSIS re-weighting of ``--n-correct`` of its draws with exact runs (k̂ reported);
  optionally (``--da-steps``) delayed-acceptance MH as a second correction.

Posterior: 3 free parameters (``ceff``, ``W_max``, ``g_max``) with uniform priors over the catalogue bounds;
observations: monthly mean NEE and LE of a 2-year twin (all other parameters at the defaults), Gaussian
errors with known σ. Printed: exact runs of each, their ratio, and per parameter the difference of the
posterior means in exact posterior sd and of the 90 % interval ends as a fraction of the exact width.

    .venv/bin/python benchmarks/emulator_vs_exact.py            # ~5-10 min on 2 contended cores
    .venv/bin/python benchmarks/emulator_vs_exact.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

FREE = ("ceff", "W_max", "g_max")
SIGMA = {"NEE": 0.3, "LE": 4.0}  # [gC m-2 d-1], [W m-2] on monthly means


def numba_monthly(p):
    """The black box: numba DALEC2Water -> monthly mean NEE and LE (a module-level function: picklable)."""
    import numba_dalec_water as nw

    from bayeslsm.lsm import DALEC2

    names = DALEC2.Params._fields
    dal = np.array([p[k] for k in names])
    wp = np.array([p[k] for k in nw.WATER_NAMES])
    pools = np.array([p[k] for k in ("clab_init", "cf_init", "cr_init", "cw_init", "cl_init", "cs_init")])
    f = p["forcing"]
    nee, _, le, _ = nw.simulate(dal, wp, pools, p["w_init"], f["run_day"], f["tmin"], f["tmax"], f["swrad"],
                                f["co2"], f["doy"], float(f["lat"]), f["precip"], f["vpd"])
    A = f["month_matrix"]
    return {"NEE": A @ nee, "LE": A @ le}


def build(years, seed):
    import bayeslsm  # noqa: F401
    from bayeslsm.data import weather_generator
    from bayeslsm.lsm import DALEC2Water

    ds = weather_generator(years=years, lat=45.0, t_mean=12.0, seed=seed)
    m = DALEC2Water()
    precip = 0.5 * ds["precip"].values  # a drier climate than the generator's default: water stress matters
    doy = ds["time"].dt.dayofyear.values.astype(float)
    cols = dict(tmin=ds["tmin"].values, tmax=ds["tmax"].values, swrad=ds["swrad"].values, co2=ds["co2"].values,
                doy=doy, precip=precip, vpd=ds["vpd"].values)
    forcing = m.forcing_from_arrays(**cols, lat=45.0)
    ym = ds["time"].dt.year.values * 12 + ds["time"].dt.month.values
    _, month = np.unique(ym, return_inverse=True)
    A = np.zeros((month.max() + 1, month.size))
    A[month, np.arange(month.size)] = 1.0
    A /= A.sum(1, keepdims=True)
    fdict = {**cols, "run_day": np.asarray(forcing.run_day, dtype=float), "lat": 45.0, "month_matrix": A}
    return m, forcing, fdict, A


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--years", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--draws", type=int, default=1500)
    ap.add_argument("--n-design", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--n-add", type=int, default=32)
    ap.add_argument("--n-correct", type=int, default=500)
    ap.add_argument("--da-steps", type=int, default=0, help="delayed-acceptance MH steps (0: skip)")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=None, help="ensemble cache folder (default: a temporary one)")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.years, args.warmup, args.draws, args.n_design, args.rounds, args.n_add, args.n_correct = 1, 150, 150, 24, 1, 8, 50

    import tempfile

    import bayeslsm  # noqa: F401  (first: XLA flags and float64 before jax)
    import jax
    import jax.numpy as jnp
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS, init_to_median

    import numba_dalec_water as nw  # noqa: F401  (compiled once here, before the timed runs)
    from bayeslsm.lsm import simulate
    from bayeslsm.ml import PythonModel, calibrate_external, delayed_acceptance, gaussian_loglik, weighted_summary
    from bayeslsm.priors import load_catalogue

    t_start = time.perf_counter()
    load0 = os.getloadavg()
    m, forcing, fdict, A = build(args.years, args.seed)
    cat = load_catalogue("dalec2_water")
    defaults = dict(m.DEFAULTS)
    fixed = {**defaults, "forcing": fdict}

    # --- the JAX twin of the black box, checked against it ---------------------------------------------
    Aj = jnp.asarray(A)
    fj = jax.tree.map(jnp.asarray, forcing)

    @jax.jit
    def jax_outputs(theta):
        v = dict(defaults, **{k: theta[i] for i, k in enumerate(FREE)})
        out = simulate(m, m.params(v), fj, m.initial_state(v))
        return jnp.concatenate([Aj @ out.LE, Aj @ out.NEE])  # sorted output names: LE, NEE

    truth = np.array([defaults[k] for k in FREE])
    ref = numba_monthly({**fixed, **dict(zip(FREE, truth))})
    yj = np.asarray(jax_outputs(jnp.asarray(truth)))
    yn = np.concatenate([ref["LE"], ref["NEE"]])
    agree = float(np.max(np.abs(yj - yn) / np.maximum(np.abs(yn), 1e-3)))
    print(f"JAX vs numba, monthly LE+NEE at the truth: max relative difference {agree:.2e}")

    rng = np.random.default_rng(args.seed + 1)
    n_month = A.shape[0]
    sig = np.concatenate([np.full(n_month, SIGMA["LE"]), np.full(n_month, SIGMA["NEE"])])
    y_obs = yn + sig * rng.standard_normal(yn.size)
    loglik = gaussian_loglik(y_obs, sig)
    priors = {k: dist.Uniform(float(cat.parameters[k].lower), float(cat.parameters[k].upper)) for k in FREE}

    # --- exact NUTS ---------------------------------------------------------------------------------
    import numpyro

    def model():
        th = jnp.stack([numpyro.sample(k, priors[k]) for k in FREE])
        numpyro.factor("loglik", loglik(jax_outputs(th)))

    t0, c0 = time.perf_counter(), time.process_time()
    mcmc = MCMC(NUTS(model, dense_mass=True, init_strategy=init_to_median(num_samples=15)), num_warmup=args.warmup,
                num_samples=args.draws, num_chains=args.chains, chain_method="sequential", progress_bar=False)
    key = jax.random.PRNGKey(args.seed)
    mcmc.warmup(key, collect_warmup=True, extra_fields=("num_steps",))
    steps_warm = int(np.asarray(mcmc.get_extra_fields()["num_steps"]).sum())
    mcmc.run(mcmc.post_warmup_state.rng_key, extra_fields=("num_steps", "diverging"))
    ex = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    ef = mcmc.get_extra_fields(group_by_chain=True)
    steps_samp = int(np.asarray(ef["num_steps"]).sum())
    wall_exact, cpu_exact = time.perf_counter() - t0, time.process_time() - c0
    import arviz as az

    ess_exact = {k: float(az.ess(ex[k])) for k in FREE}
    rhat_exact = {k: float(az.rhat(ex[k])) for k in FREE}
    n_exact_nuts = steps_warm + steps_samp
    exact_draws = np.stack([ex[k].reshape(-1) for k in FREE], 1)
    s_exact = weighted_summary(exact_draws, None, FREE)

    # --- emulator + correction through the black-box interface ------------------------------------------
    cache = args.cache or Path(tempfile.mkdtemp(prefix="bayeslsm-emu-cache-"))
    bb = PythonModel(numba_monthly, FREE, key=f"numba-dalec2-water-monthly-y{args.years}-s{args.seed}", fixed=fixed)
    t0 = time.perf_counter()
    res = calibrate_external(bb, priors, loglik, n_design=args.n_design, rounds=args.rounds, n_add=args.n_add,
                             n_correct=args.n_correct, chains=args.chains, warmup=args.warmup, draws=args.draws,
                             cache_dir=cache, processes=args.processes, seed=args.seed, progress=False)
    wall_emu = time.perf_counter() - t0
    summ = res.summary()
    ratio = n_exact_nuts / res.n_exact

    lines = []
    p = lines.append
    p(f"emulator_vs_exact {_dt.date.today()}  jax {jax.__version__}  numpyro {numpyro.__version__}  "
      f"load average at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} (2 cores shared with other work)")
    p(f"settings: {vars(args)}")
    p(f"JAX vs numba max relative difference {agree:.2e}")
    p(f"exact NUTS: {args.chains} x ({args.warmup} + {args.draws}), gradient evaluations {n_exact_nuts} "
      f"(warm-up {steps_warm}), divergences {int(np.asarray(ef['diverging']).sum())}, wall {wall_exact:.0f} s "
      f"(CPU {cpu_exact:.0f} s), bulk ESS {ess_exact}, R-hat {rhat_exact}")
    p(f"emulator + PSIS: exact runs {res.n_exact} {res.n_exact_by_stage}, k-hat {res.psis.khat:.3f}, "
      f"PSIS ESS {res.psis.ess:.0f} of {res.psis.n_exact}, wall {wall_emu:.0f} s; active learning {res.history}")
    p(f"exact model runs: NUTS / emulator+PSIS = {ratio:.1f}x (goal >= 10x)")
    rows = {}
    p(f"{'param':8s} {'exact mean':>11s} {'sd':>9s} {'corr mean':>11s} {'dmean/sd':>9s} {'emu dmean/sd':>12s} "
      f"{'90% exact':>21s} {'90% corrected':>21s} {'end diff/width':>14s}")
    for k in FREE:
        e, c, u = s_exact[k], summ["corrected"][k], summ["emulated"][k]
        w = e["hi"] - e["lo"]
        dm = abs(c["mean"] - e["mean"]) / e["sd"]
        dmu = abs(u["mean"] - e["mean"]) / e["sd"]
        dend = max(abs(c["lo"] - e["lo"]), abs(c["hi"] - e["hi"])) / w
        rows[k] = dict(exact=e, corrected=c, emulated=u, dmean_sd=dm, emulated_dmean_sd=dmu, end_diff_width=dend)
        p(f"{k:8s} {e['mean']:11.4g} {e['sd']:9.3g} {c['mean']:11.4g} {dm:9.3f} {dmu:12.3f} "
          f"[{e['lo']:9.4g},{e['hi']:9.4g}] [{c['lo']:9.4g},{c['hi']:9.4g}] {dend:14.3f}")
    # Monte Carlo error of the difference of means, in exact sd: sqrt(1/ESS_exact + 1/ESS_psis)
    mc = {k: float(np.sqrt(1 / ess_exact[k] + 1 / res.psis.ess)) for k in FREE}
    p(f"MC standard error of dmean/sd (sqrt(1/ESS_exact + 1/ESS_PSIS)): {mc}")

    da = None
    if args.da_steps:
        th = np.stack([res.emulated[k].reshape(-1) for k in FREE], 1)
        n_da = {"n": 0}

        def exact_out(t):
            n_da["n"] += 1
            o = numba_monthly({**fixed, **dict(zip(FREE, t))})
            return np.concatenate([o["LE"], o["NEE"]])

        t0 = time.perf_counter()
        da = delayed_acceptance(priors, loglik, res.emulator, exact_out, th.mean(0), np.cov(th.T), args.da_steps,
                                seed=args.seed)
        sd = weighted_summary(da.chain[args.da_steps // 5:], None, FREE)
        ess_da = {k: float(az.ess(da.chain[args.da_steps // 5:, i][None])) for i, k in enumerate(FREE)}
        p(f"delayed acceptance: {args.da_steps} steps, exact runs {da.n_exact}, stage-1 acceptance "
          f"{da.accept_stage1:.2f}, stage-2 acceptance {da.accept_stage2:.2f}, ESS {ess_da}, wall {time.perf_counter() - t0:.0f} s")
        for k in FREE:
            e = s_exact[k]
            p(f"  {k:8s} DA mean {sd[k]['mean']:.4g} (dmean/sd {abs(sd[k]['mean'] - e['mean']) / e['sd']:.3f}), "
              f"90% [{sd[k]['lo']:.4g}, {sd[k]['hi']:.4g}]")
        da = dict(n_exact=da.n_exact, summary=sd, ess=ess_da)
    p(f"total wall {time.perf_counter() - t_start:.0f} s")
    text = "\n".join(lines)
    print(text)

    if not args.quick:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = f"emulator_vs_exact_{_dt.date.today()}"
        from bayeslsm.ml.external import _atomic_write_text

        _atomic_write_text(args.out / f"{stem}.txt", text + "\n")
        _atomic_write_text(args.out / f"{stem}.json", json.dumps(
            dict(ratio=ratio, n_exact_nuts=n_exact_nuts, n_exact_emulator=res.n_exact, khat=res.psis.khat,
                 psis_ess=res.psis.ess, params=rows, mc_se=mc, delayed_acceptance=da, agree=agree), indent=1, default=float))
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(FREE), figsize=(4 * len(FREE), 3.2))
        em = np.stack([res.emulated[k].reshape(-1) for k in FREE], 1)
        for i, (ax, k) in enumerate(zip(axes, FREE)):
            bins = np.linspace(*np.quantile(exact_draws[:, i], [0.001, 0.999]), 40)
            ax.hist(exact_draws[:, i], bins, density=True, alpha=0.5, label=f"exact NUTS ({n_exact_nuts} runs)")
            ax.hist(em[:, i], bins, density=True, histtype="step", lw=1.5, label="emulated (NUTS on GP)")
            ax.hist(res.psis.draws[:, i], bins, weights=res.psis.weights, density=True, histtype="step", lw=1.5,
                    label=f"PSIS-corrected ({res.n_exact} runs, k̂={res.psis.khat:.2f})")
            ax.set_xlabel(k)
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        tmp = args.out / f".{stem}.png.tmp"
        fig.savefig(tmp, dpi=110, format="png")
        os.replace(tmp, args.out / f"{stem}.png")
        print(f"wrote {args.out / stem}.txt/.json/.png")


if __name__ == "__main__":
    main()
