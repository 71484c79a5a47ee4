"""NUTS (NumPyro, dense mass) against emcee's affine-invariant ensemble on the demo's posterior.

Both samplers target the same log density: the unconstrained potential that NumPyro's
``initialize_model`` builds from :meth:`bayeslsm.infer.Calibration.numpyro_model` (priors, transforms
and their Jacobians, masked likelihoods of NEE, LE and 8-day LAI), i.e. exactly what NUTS samples.

* NUTS: ``cal.nuts(chains=4, dense_mass=True, target_accept=0.9)``.  Its wall time is the library's
  ``sampling_wall_seconds`` (``mcmc.run``: compilation, warm-up and sampling); the total around the
  call (posterior predictive pass included) is printed too.
* emcee: ``EnsembleSampler`` with ``vectorize=True``; one call evaluates half the ensemble (emcee's
  stretch move updates the two halves in turn) through ``jax.jit(jax.vmap(logp))`` on the flattened
  unconstrained vector (``jax.flatten_util.ravel_pytree``).  4 x dimension walkers start in a small ball
  around the NUTS posterior median, which spares emcee the search for the typical set (favourable to
  emcee).  It runs for the same wall time as NUTS's ``mcmc.run`` (times ``--emcee-budget``), and the
  first half of its steps is discarded as burn-in; no thinning.

Effective sample sizes are the minimum over all free model parameters and bias/error parameters of
ArviZ's rank-normalised bulk ESS.  Bulk ESS is invariant under the monotone maps between the physical,
``z`` and unconstrained scales, so emcee's draws are scored on the unconstrained scale without mapping
them back.  For emcee, walkers are treated as chains; they are not independent (each move uses another
walker), so a second figure from emcee's own integrated autocorrelation time is printed as well:
``ESS = walkers x kept steps / tau``.  On runs this short (kept steps ~ 15 tau, where emcee asks for
50) tau is underestimated and this ESS biased high: on this posterior, 2 500-step windows gave tau ~ 150-175 steps while a
separate 30 000-step run (25 000 kept, 56 walkers) gave tau ~ 470 steps, and ArviZ's walkers-as-chains
bulk ESS implied 530-850 steps on the short windows and 550 on the long run.  Read the walkers-as-chains
figure as the better one here and the tau-based one as an upper bound for emcee.

Costs per effective sample: NumPyro records ``num_steps`` (leapfrog steps = gradient evaluations) only
for the kept draws, so the NUTS figure counts post-warm-up gradients; an estimate that charges the
warm-up at the post-warm-up rate is printed beside it and labelled as such.  emcee's figure counts every
log-density evaluation, burn-in included, and, separately, the kept part only.  One gradient and one
(vmapped) log-density evaluation do not cost the same; their measured costs are printed so the counts
can be compared.

Run (about 2 minutes on 2 cores)::

    .venv/bin/python benchmarks/nuts_vs_emcee.py [--warmup 500] [--draws 500] [--emcee-budget 1.0]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time

import bayeslsm  # noqa: F401  (before jax: XLA flags, 4 host devices, float64)

# isort: split

import jax
import jax.numpy as jnp
import numpy as np


def _timed(fn, *args, **kwargs):
    """``(result, wall seconds, process CPU seconds)`` of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - w0, time.process_time() - c0


def _min_bulk_ess(draws: dict[str, np.ndarray]) -> tuple[float, str]:
    """Minimum ArviZ bulk ESS over named (chain, draw) arrays and the name it belongs to."""
    import arviz as az

    ess = {k: float(az.ess(np.asarray(v), method="bulk")) for k, v in draws.items()}
    name = min(ess, key=ess.get)
    return ess[name], name


def run_nuts(cal, warmup: int, draws: int, seed: int):
    import arviz as az

    idata, wall_total, cpu_total = _timed(
        cal.nuts, chains=4, warmup=warmup, draws=draws, dense_mass=True, target_accept=0.9,
        progress=False, prior_draws=0, seed=seed)
    sampler = json.loads(idata.posterior.attrs["sampler"])
    names = [v for v in idata.posterior.data_vars if idata.posterior[v].ndim == 2]  # scalar parameters
    post = {v: idata.posterior[v].transpose("chain", "draw").values for v in names}
    ess_min, ess_name = _min_bulk_ess(post)
    n_steps = idata.sample_stats["n_steps"].values
    return {"idata": idata, "names": names, "wall_sampling": float(sampler["sampling_wall_seconds"]),
            "wall_total": wall_total, "cpu_total": cpu_total, "ess_min": ess_min, "ess_name": ess_name,
            "steps_kept": int(n_steps.sum()), "mean_steps": float(n_steps.mean()),
            "divergences": int(idata.sample_stats["diverging"].values.sum()),
            "max_rhat": max(float(az.rhat(np.asarray(v))) for v in post.values()),
            "chains": int(idata.posterior.sizes["chain"])}


def unconstrained_logdensity(cal, seed: int):
    """Jitted, vmapped log density over flat unconstrained vectors, and helpers to build such vectors."""
    import numpyro
    from jax.flatten_util import ravel_pytree
    from numpyro.distributions.transforms import biject_to
    from numpyro.infer.util import initialize_model

    obs = cal.observed_arrays()
    info = initialize_model(jax.random.PRNGKey(seed), cal.numpyro_model, model_kwargs={"obs": obs})
    z0 = info.param_info.z
    flat0, unravel = ravel_pytree(z0)

    def logp(x):
        lp = -info.potential_fn(unravel(x))
        return jnp.where(jnp.isfinite(lp), lp, -jnp.inf)

    logp_batch = jax.jit(jax.vmap(logp))
    # one gradient of the potential, the unit NUTS pays per leapfrog step (for the cost comparison)
    grad_one = jax.jit(jax.value_and_grad(logp))

    # support of each sample site -> the bijection NumPyro samples it through
    trace = numpyro.handlers.trace(numpyro.handlers.seed(cal.numpyro_model, seed)).get_trace(obs=obs)
    transforms = {site: biject_to(trace[site]["fn"].support) for site in z0}
    specs = cal.catalogue.parameters

    def flat_draws(post: dict[str, np.ndarray]) -> np.ndarray:
        """(n, dim) unconstrained vectors from physical-scale draws keyed by posterior name."""
        sites = {}
        for site in z0:
            name = site.removeprefix("_z_")
            v = jnp.asarray(post[name])
            if site.startswith("_z_"):
                v = specs[name].to_unconstrained(v)  # physical -> z (the sample site's value)
            sites[site] = transforms[site].inv(v)  # sample site's support -> unconstrained
        return np.asarray(jax.vmap(lambda d: ravel_pytree(d)[0])(sites))

    labels = []  # posterior name of each coordinate of the flat vector, in ravel_pytree order
    for site in sorted(z0):  # ravel_pytree flattens a dict in sorted-key order
        size = int(np.size(z0[site]))
        name = site.removeprefix("_z_")
        labels += [name] * size if size == 1 else [f"{name}[{i}]" for i in range(size)]
    assert len(labels) == flat0.size
    return logp_batch, grad_one, flat_draws, labels


def run_emcee(logp_batch, x_init_centre, scale, n_walkers, budget_seconds, seed):
    import emcee

    ndim = x_init_centre.size
    rng = np.random.default_rng(seed)
    p0 = x_init_centre[None, :] + 1e-2 * scale[None, :] * rng.standard_normal((n_walkers, ndim))

    def log_prob(xs):
        return np.asarray(logp_batch(jnp.asarray(xs)))

    # compile both batch shapes emcee uses (whole ensemble at start, half-ensembles in each step)
    _, wall_compile, _ = _timed(lambda: (log_prob(p0), log_prob(p0[: n_walkers // 2])))
    sampler = emcee.EnsembleSampler(n_walkers, ndim, log_prob, vectorize=True)
    w0, c0 = time.perf_counter(), time.process_time()
    state, steps, done = p0, 0, False
    while not done:  # in chunks: emcee pre-allocates storage for the iterations it is asked for
        for new_state in sampler.sample(state, iterations=1000, progress=False, store=True):
            state = new_state
            steps += 1
            if time.perf_counter() - w0 >= budget_seconds:
                done = True
                break
    wall_sampling, cpu_sampling = time.perf_counter() - w0, time.process_time() - c0
    return sampler, steps, wall_compile, wall_sampling, cpu_sampling


def _cost(fn, arg, repeats):
    fn(arg)  # compiled already, but make sure
    w0 = time.perf_counter()
    for _ in range(repeats):
        jax.block_until_ready(fn(arg))
    return (time.perf_counter() - w0) / repeats


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warmup", type=int, default=500, help="NUTS warm-up iterations per chain")
    parser.add_argument("--draws", type=int, default=500, help="NUTS kept draws per chain")
    parser.add_argument("--emcee-budget", type=float, default=1.0,
                        help="emcee wall time as a multiple of NUTS's mcmc.run wall time")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import arviz as az
    import emcee
    import numpyro

    from bayeslsm.demo import demo_problem

    print(f"[nuts_vs_emcee] {platform.platform()}, {os.cpu_count()} CPUs, {jax.local_device_count()} XLA devices; "
          f"load average before start {os.getloadavg()[0]:.2f}", flush=True)
    _, _, _, cal = demo_problem()

    # ---- NUTS -----------------------------------------------------------------------------------
    nuts = run_nuts(cal, args.warmup, args.draws, args.seed)
    print(f"[nuts_vs_emcee] NUTS done: {nuts['wall_sampling']:.1f} s in mcmc.run", flush=True)

    # ---- the same log density for emcee --------------------------------------------------------
    logp_batch, grad_one, flat_draws, labels = unconstrained_logdensity(cal, args.seed)
    post = {v: nuts["idata"].posterior[v].values.reshape(-1) for v in nuts["names"]}
    xs = flat_draws(post)
    ndim = xs.shape[1]
    unknown = sorted(set(labels) - set(nuts["names"]))
    if unknown:
        raise RuntimeError(f"unconstrained sites {unknown} have no scalar posterior variable; "
                           f"expected them among {nuts['names']}")
    # sanity: both see the same density (NUTS's own lp vs ours on the same draws)
    lp_ours = np.asarray(logp_batch(jnp.asarray(xs[:64])))
    lp_nuts = nuts["idata"].sample_stats["lp"].values.reshape(-1)[:64]
    lp_gap = float(np.max(np.abs(lp_ours - lp_nuts)))
    n_walkers = 4 * ndim + (4 * ndim) % 2
    budget = args.emcee_budget * nuts["wall_sampling"]
    sampler, steps, wall_compile, wall_emcee, cpu_emcee = run_emcee(
        logp_batch, np.median(xs, axis=0), xs.std(axis=0), n_walkers, budget, args.seed)
    burn = steps // 2
    chain = sampler.get_chain(discard=burn)  # (steps, walkers, dim)
    kept = chain.shape[0]
    em_draws = {labels[j]: chain[:, :, j].T for j in range(ndim)}  # (walkers, steps) per coordinate
    em_ess_min, em_ess_name = _min_bulk_ess(em_draws)
    logging.getLogger("emcee.autocorr").setLevel(logging.ERROR)  # its too-short warning is printed below
    tau = sampler.get_autocorr_time(discard=burn, quiet=True)
    tau_ess = kept * n_walkers / tau
    tau_trust = kept / np.max(tau)  # emcee asks for >= 50 before trusting tau
    accept = float(np.mean(sampler.acceptance_fraction))
    em_post = chain.reshape(-1, ndim)
    shift = np.max(np.abs(em_post.mean(0) - xs.mean(0)) / xs.std(0))
    sd_ratio = em_post.std(0) / xs.std(0)

    # ---- costs of one evaluation ------------------------------------------------------------------
    grad_s = _cost(lambda x: grad_one(x)[1], jnp.asarray(xs[0]), 200)
    half = jnp.asarray(xs[: n_walkers // 2])
    logp_s = _cost(logp_batch, half, 200) / (n_walkers // 2)

    # ---- figures ----------------------------------------------------------------------------------
    nuts_wall = nuts["wall_sampling"]
    em_wall = wall_compile + wall_emcee
    nuts_rate = nuts["ess_min"] / nuts_wall
    em_rate = em_ess_min / em_wall
    em_tau_rate = float(np.min(tau_ess)) / em_wall
    grads_kept = nuts["steps_kept"]
    grads_est = grads_kept * (args.warmup + args.draws) / args.draws
    em_evals = n_walkers * (steps + 1)  # +1: the initial ensemble
    em_evals_kept = n_walkers * kept
    load = os.getloadavg()[0]

    line = "-" * 96
    print(line)
    print(f"Posterior: bayeslsm demo (DALEC2+water, 3 years, NEE+LE+8-day LAI), {ndim} unconstrained "
          f"dimensions ({len(cal.free)} free + {ndim - len(cal.free)} bias/error)")
    print(f"Same density check: |lp(emcee fn) - lp(NUTS)| max over 64 NUTS draws = {lp_gap:.2e}")
    print(line)
    print(f"NUTS  {nuts['chains']} chains x ({args.warmup} warm-up + {args.draws} draws), dense mass, "
          f"target_accept 0.9, parallel on {jax.local_device_count()} XLA host devices")
    print(f"  wall, mcmc.run (compile + warm-up + sampling)   {nuts_wall:8.1f} s")
    print(f"  wall, whole cal.nuts (+ posterior predictive)   {nuts['wall_total']:8.1f} s "
          f"(process CPU {nuts['cpu_total']:.1f} s)")
    print(f"  min bulk ESS  {nuts['ess_min']:8.0f}  ({nuts['ess_name']})   max R-hat {nuts['max_rhat']:.4f}   "
          f"divergences {nuts['divergences']}   mean leapfrog steps/draw {nuts['mean_steps']:.1f}")
    print(f"  min bulk ESS / s (mcmc.run wall)                {nuts_rate:8.1f}")
    print(f"  gradient evaluations / ESS, post-warm-up only   {grads_kept / nuts['ess_min']:8.1f}  "
          f"({grads_kept} leapfrog steps; NumPyro records num_steps for kept draws only)")
    print(f"  gradient evaluations / ESS, warm-up estimated   {grads_est / nuts['ess_min']:8.1f}  "
          f"(estimate: warm-up charged at the post-warm-up mean, {grads_est:.0f} steps)")
    print(line)
    print(f"emcee {n_walkers} walkers (4 x dim), stretch move, vectorised jit(vmap(logp)); start: ball of "
          f"0.01 posterior sd around the NUTS median (favourable to emcee)")
    print(f"  wall budget {budget:.1f} s (= {args.emcee_budget:g} x NUTS mcmc.run); {steps} steps done, "
          f"{burn} discarded as burn-in, {kept} kept, no thinning; acceptance {accept:.2f}")
    print(f"  wall, jit compile                               {wall_compile:8.1f} s")
    print(f"  wall, sampling                                  {wall_emcee:8.1f} s (process CPU {cpu_emcee:.1f} s)")
    print(f"  min bulk ESS (walkers as chains) {em_ess_min:8.0f}  ({em_ess_name})  "
          f"[caveat: walkers are not independent chains]")
    print(f"  min ESS from tau = walkers*kept/tau {float(np.min(tau_ess)):8.0f}  "
          f"(max tau {np.max(tau):.0f} steps; kept/tau = {tau_trust:.0f}, emcee trusts tau at >= 50)")
    print(f"  min bulk ESS / s (compile + sampling wall)      {em_rate:8.2f}   (tau-based: {em_tau_rate:.2f})")
    print(f"  log-density evaluations / ESS, all steps        {em_evals / em_ess_min:8.0f}   "
          f"(tau-based: {em_evals / np.min(tau_ess):.0f})")
    print(f"  log-density evaluations / ESS, kept steps only  {em_evals_kept / em_ess_min:8.0f}   "
          f"(tau-based: {em_evals_kept / np.min(tau_ess):.0f})")
    print(f"  agreement with NUTS: max |mean shift| = {shift:.2f} NUTS sd; sd ratio emcee/NUTS "
          f"{sd_ratio.min():.2f} .. {sd_ratio.max():.2f}")
    print(line)
    print(f"Cost of one evaluation here: value+gradient {1e3 * grad_s:.3f} ms (single point); "
          f"log density {1e3 * logp_s:.3f} ms per point (vmapped over {n_walkers // 2})")
    print(f"Cores: NUTS runs its 4 chains in parallel on {jax.local_device_count()} XLA host devices over "
          f"{os.cpu_count()} CPUs; emcee's one vmapped call per half-step used {cpu_emcee / wall_emcee:.2f} CPU "
          f"(process CPU / wall while sampling)")
    print(f"RATIO min-bulk-ESS/s  NUTS / emcee = {nuts_rate / em_rate:.1f}x  "
          f"(tau-based emcee ESS: {nuts_rate / em_tau_rate:.1f}x; goal >= 10x)")
    print(f"Versions: jax {jax.__version__}, jaxlib {__import__('jaxlib').__version__}, numpyro "
          f"{numpyro.__version__}, emcee {emcee.__version__}, numpy {np.__version__}, arviz {az.__version__}, "
          f"python {platform.python_version()}")
    print(f"Load average at the end {load:.2f} on {os.cpu_count()} CPUs "
          f"({'contended: other processes shared the cores' if load > (os.cpu_count() or 1) else 'not contended'})")
    return {"nuts_rate": nuts_rate, "emcee_rate": em_rate, "ratio": nuts_rate / em_rate}


if __name__ == "__main__":
    main()
