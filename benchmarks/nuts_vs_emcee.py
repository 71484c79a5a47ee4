"""bayeslsm's samplers against emcee (and DREAM) in min-bulk-ESS per second, measured in one run.

Three posteriors, every sampler on the same unconstrained log density
(:class:`bayeslsm.infer.Problem`: NumPyro's ``potential_fn`` of the calibration model, priors,
transforms and their Jacobians, masked likelihoods):

A. the demo (``bayeslsm.demo.demo_problem()``: DALEC2 + water, 3 years, NEE + LE + 8-day LAI, 11 free
   parameters + 3 bias/error parameters, 14 dimensions);
B. a hierarchical twin: VSEM at 20 sites (1 year of generated weather each, one PFT, daily NEE and 8-day
   LAI), LUE, tauV and Av vary by site in the truth and are partially pooled (``mu``, ``sd_site`` and 20
   site values each; LUE centred, tauV and Av non-centred: :class:`bayeslsm.infer.Hierarchy`) plus the NEE
   error sd: 67 dimensions.  (The first version of B, 10 sites x six non-centred parameters of which four
   do not vary, is ``hierarchical_twin()`` with its defaults; neither NUTS nor ChEES reached R-hat < 1.01
   on it.)  At every site of B only a combination of tauV and Av is informed (posterior correlation -0.94
   in the unconstrained coordinates, a curved ridge: tauV piles up at its upper bound), and so at the
   hierarchy level only a combination of their spreads: ``tauV_sd_site`` mixes slowly in every
   parametrisation tried (``--hier-variants ridge``; benchmarks/README.md).
B'. the same twin as :func:`bayeslsm.diagnostics.preflight` advises on B ("only a combination is informed;
   take tauV out of the hierarchy"): LUE and Av partially pooled (both centred: the data inform both at
   every site), tauV one value for all sites (the truth still varies it by site, sd 0.1 in log), 32
   sites: 70 dimensions (``--hier-variants preflight``).

Samplers:

* ``NUTS``: :class:`bayeslsm.infer.NUTS` (NumPyro, 4 chains in parallel on XLA host devices, dense mass
  on A, diagonal on B, ``target_accept=0.9``);
* ``ChEES``: :class:`bayeslsm.infer.ChEES` (BlackJAX ChEES-HMC, many chains in one vmapped batch,
  started from and preconditioned by a Laplace approximation at the MAP);
* ``emcee``: ``EnsembleSampler`` (stretch move, ``vectorize=True`` over ``jit(vmap(logp))``, each batch
  split over the cores as ChEES's chains are: :mod:`bayeslsm.infer.devices`), walkers
  started from draws of the same Laplace approximation (favourable to emcee: no search for the typical
  set), run for as long as the slowest gradient sampler took (times ``--emcee-budget``), first half
  discarded as burn-in;
* ``DREAM`` (A only): spotpy's DREAM(ZS) implementation, one Python-level call per proposal of the jitted
  log density (``acceptance_test_option=6`` with objective ``2 * logp`` is the Metropolis ratio
  ``exp(logp' - logp)``), uniform box of +-8 Laplace sd around the MAP, same wall budget; first half
  discarded.

Wall time of every sampler includes everything it did: MAP/Laplace, compilation, warm-up, sampling
(``sampling_wall_seconds``; ChEES's compile seconds are also printed separately).  The posterior
predictive pass of ``Calibration.sample`` is not counted for anyone.  Min bulk ESS is ArviZ's
rank-normalised bulk ESS, minimum over every posterior quantity.  On A it is computed coordinate-wise on
the unconstrained scale for emcee and DREAM (bulk ESS is invariant under the monotone maps between the
scales); on B emcee's draws are mapped to the physical variables (thinned to at most 300 draws per
walker: thinning by less than the autocorrelation time barely changes ESS).  Walkers / DREAM chains are
treated as chains although they are not independent (see the README for the tau-based figure).

Run (about 6 minutes for A, 10 for B and 6 for B' on 2 idle cores)::

    python benchmarks/nuts_vs_emcee.py [--quick] [--skip-hierarchical] [--skip-demo] [--hier-nuts W 0]
                                       [--hier-variants ridge preflight]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
import warnings

import bayeslsm  # noqa: F401  (before jax: XLA flags, host devices, float64)

# isort: split

import jax
import jax.numpy as jnp
import numpy as np

GOAL_A, GOAL_B = 10.0, 30.0


def _min_bulk_ess_arrays(draws: dict[str, np.ndarray]) -> tuple[float, str]:
    """Minimum ArviZ bulk ESS over named (chain, draw, ...) arrays (every element) and where it is."""
    import arviz as az

    best = (np.inf, "")
    for k, v in draws.items():
        v = np.asarray(v, dtype=float)
        flat = v.reshape(v.shape[0], v.shape[1], -1)
        for j in range(flat.shape[2]):
            if np.ptp(flat[:, :, j]) == 0:
                continue
            e = float(az.ess(flat[:, :, j], method="bulk"))
            if e < best[0]:
                best = (e, k if flat.shape[2] == 1 else f"{k}[{j}]")
    return best


def _rhat_max(draws: dict[str, np.ndarray]) -> float:
    import arviz as az

    out = 1.0
    for v in draws.values():
        v = np.asarray(v, dtype=float)
        flat = v.reshape(v.shape[0], v.shape[1], -1)
        for j in range(flat.shape[2]):
            if np.ptp(flat[:, :, j]) > 0:
                out = max(out, float(az.rhat(flat[:, :, j])))
    return out


def run_sampler(cal, sampler, seed, label):
    """Sample with ``cal.sample`` (no prior draws, no checks); figures of the posterior."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = cal.sample(sampler, seed=seed, prior_draws=0, check=False, predictive_batch=500)
    s = json.loads(idata.posterior.attrs["sampler"])
    post = {v: idata.posterior[v].values for v in idata.posterior.data_vars}
    ess, where = _min_bulk_ess_arrays(post)
    wall = float(s["sampling_wall_seconds"])
    n_steps = idata.sample_stats["n_steps"].values
    out = {"label": label, "idata": idata, "wall": wall, "ess": ess, "ess_name": where, "rate": ess / wall,
           "rhat": _rhat_max(post), "div": int(idata.sample_stats["diverging"].values.sum()),
           "compile": s.get("compile_seconds"), "grads": s.get("gradient_evaluations", int(n_steps.sum())),
           "settings": s}
    print(f"[bench] {label}: {wall:.1f} s, min bulk ESS {ess:.0f} ({where}), R-hat {out['rhat']:.3f}, "
          f"{out['div']} divergences", flush=True)
    return out


def run_emcee(problem, centre, scale, n_walkers, budget_seconds, seed):
    import emcee

    from bayeslsm.infer.devices import n_devices, sharded_vmap

    # the ensemble's half-steps split over the cores as ChEES's chains are (one program per batch size)
    progs = {}

    def logp_batch(xs):
        n = xs.shape[0]
        if n not in progs:
            progs[n] = jax.jit(sharded_vmap(problem.logdensity, n_devices(n), (True,)))
        return progs[n](xs)

    rng = np.random.default_rng(seed)
    p0 = np.asarray(centre)[None, :] + rng.standard_normal((n_walkers, problem.dim)) @ np.asarray(scale).T

    def log_prob(xs):
        return np.asarray(logp_batch(jnp.asarray(xs)))

    w0 = time.perf_counter()
    log_prob(p0)
    log_prob(p0[: n_walkers // 2])  # both batch shapes emcee uses
    sampler = emcee.EnsembleSampler(n_walkers, problem.dim, log_prob, vectorize=True)
    state, steps, done = p0, 0, False
    while not done:  # in chunks: emcee pre-allocates storage for the iterations it is asked for
        for new_state in sampler.sample(state, iterations=1000, progress=False, store=True):
            state = new_state
            steps += 1
            if time.perf_counter() - w0 >= budget_seconds:
                done = True
                break
    wall = time.perf_counter() - w0
    burn = steps // 2
    chain = sampler.get_chain(discard=burn)  # (steps, walkers, dim)
    logging.getLogger("emcee.autocorr").setLevel(logging.ERROR)
    tau = sampler.get_autocorr_time(discard=burn, quiet=True)
    return {"chain": chain, "steps": steps, "wall": wall, "tau_max": float(np.max(tau)),
            "accept": float(np.mean(sampler.acceptance_fraction)), "evals": n_walkers * (steps + 1)}


def run_dream(problem, centre, sd, budget_seconds, seed, n_chains):
    """spotpy DREAM on the unconstrained density within a +-8 sd box; (draws (chain, step, dim), evals, wall)."""
    import spotpy

    vg = jax.jit(problem.logdensity)
    lo, hi = np.asarray(centre) - 8 * np.asarray(sd), np.asarray(centre) + 8 * np.asarray(sd)
    names = [f"x{i}" for i in range(problem.dim)]

    class Setup:
        def __init__(self):
            self.params = [spotpy.parameter.Uniform(n, low=float(a), high=float(b)) for n, a, b in zip(names, lo, hi)]

        def parameters(self):
            return spotpy.parameter.generate(self.params)

        def simulation(self, x):
            return [float(vg(jnp.asarray(np.asarray(x, dtype=float))))]

        def evaluation(self):
            return [0.0]

        def objectivefunction(self, simulation, evaluation):
            if time.perf_counter() >= deadline:  # the wall budget is spent: DREAM stops after this proposal
                sampler.status.stop = True
            v = simulation[0]
            return 2.0 * v if np.isfinite(v) else -1e300

    w0 = time.perf_counter()
    vg(jnp.asarray(centre))  # compile
    t_eval = time.perf_counter()
    for _ in range(20):
        vg(jnp.asarray(centre)).block_until_ready()
    per_eval = (time.perf_counter() - t_eval) / 20
    # repetitions: an upper bound (spotpy pre-allocates them); the run stops when the wall budget is spent
    reps = int(min(max(budget_seconds, 1.0) / per_eval, 100_000))
    deadline = w0 + budget_seconds
    np.random.seed(seed)
    sampler = spotpy.algorithms.dream(Setup(), dbname="dream_bench", dbformat="ram", save_sim=False)
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # spotpy's exp overflow on rejected far proposals
        sampler.sample(reps, nChains=n_chains, convergence_limit=0.0, runs_after_convergence=reps)
    wall = time.perf_counter() - w0
    res = sampler.getdata()
    pars = np.stack([res[f"par{n}"] for n in names], axis=1)
    chains = np.asarray(res["chain"]).astype(int)
    done = np.isfinite(pars).all(axis=1)  # spotpy's RAM database also holds the unused repetitions
    pars, chains = pars[done], chains[done]
    per = [pars[chains == c] for c in range(n_chains)]
    m = min(len(p) for p in per)
    draws = np.stack([p[:m] for p in per])  # (chain, step, dim)
    return {"draws": draws[:, m // 2:], "evals": len(pars), "wall": wall, "reps": reps}


def coordinate_ess(chain_by_coord: np.ndarray, labels) -> tuple[float, str]:
    """Min bulk ESS over coordinates of (chain, draw, dim) draws, labelled by posterior variable name."""
    from bayeslsm.infer import names

    d = {}
    for j, lab in enumerate(labels):
        site = lab.split("[")[0]
        name = names.latent_parameter(site) or site
        d[name if "[" not in lab else f"{name}{lab[len(site):]}"] = chain_by_coord[:, :, j]
    return _min_bulk_ess_arrays(d)


def hierarchical_twin(n_sites=10, seed=0, centered=False, hier=("LUE", "tauV", "Av", "KEXT", "tauR", "Cv"),
                      vary=("LUE", "tauV"), lai=False, shared=()):
    """VSEM at ``n_sites`` sites (1 year of generated weather each, one PFT), ``hier`` partially pooled
    (``mu``, ``sd_site`` and one value per site each), NEE observed (with ``lai`` also 8-day LAI); the
    parameters in ``vary`` differ between sites in the truth (log-normal, sd 0.1), the others are the
    catalogue defaults everywhere; ``shared`` are free too but one value for all sites."""
    import xarray as xr

    from bayeslsm.data.synthetic import weather_generator
    from bayeslsm.infer import Calibration, twin_experiment
    from bayeslsm.priors import load_catalogue

    hier = list(hier)
    sites = [f"s{i}" for i in range(n_sites)]
    lats = np.linspace(40.0, 58.0, n_sites)
    fs = [weather_generator(years=1, lat=float(la), seed=100 + i) for i, la in enumerate(lats)]
    forcing = xr.concat([f.drop_vars("lat", errors="ignore") for f in fs], dim="site").assign_coords(
        site=sites, lat=("site", lats), pft=("site", ["DBF"] * n_sites))
    streams = [{"name": "NEE", "support": "daily",
                "error": {"kind": "gaussian", "sigma": {"prior": "halfnormal", "scale": 0.01}}}]
    if lai:
        streams.append({"name": "LAI", "support": "8D", "how": "mean", "error": {"kind": "gaussian", "sigma": 0.1}})
    rng = np.random.default_rng(seed)
    cat = load_catalogue("vsem")
    truth = {p: cat.parameters[p].default * np.exp(0.1 * rng.standard_normal(n_sites)) for p in vary}
    truth["NEE_sigma"] = 0.0005
    obs, used = twin_experiment("vsem", forcing, streams, truth, gaps=0.2, seed=seed)
    cal = Calibration("vsem", forcing, obs, streams, free=hier + list(shared),
                      hierarchy={"params": hier, "centered": centered})
    return cal


def compare(title, cal, samplers, seed, emcee_budget, dream_chains, with_dream, goal, walkers_per_dim):
    from bayeslsm.infer import laplace_fit

    problem = cal.problem()
    print(f"[bench] {title}: {problem.dim} unconstrained dimensions", flush=True)
    results = [run_sampler(cal, smp, seed, label) for label, smp in samplers]
    fit = laplace_fit(problem)
    budget = emcee_budget * max(r["wall"] for r in results)
    n_walkers = walkers_per_dim * problem.dim + (walkers_per_dim * problem.dim) % 2
    em = run_emcee(problem, fit.mean, fit.scale, n_walkers, budget, seed)
    chain = np.swapaxes(em["chain"], 0, 1)  # (walkers, steps, dim)
    if problem.dim <= 20:
        em_ess, em_where = coordinate_ess(chain, problem.labels)
    else:  # physical variables (site values are not coordinate-wise maps of the latents): thin, constrain
        thin = max(1, chain.shape[1] // 300)
        sub = chain[:, ::thin]
        cons = problem.constrain(sub, batch_size=256)
        post_vars = set(results[0]["idata"].posterior.data_vars)
        em_ess, em_where = _min_bulk_ess_arrays({k: v for k, v in cons.items() if k in post_vars})
        em_where += f" (thinned by {thin})"
    em_rate = em_ess / em["wall"]
    print(f"[bench] emcee: {em['wall']:.1f} s, {em['steps']} steps x {n_walkers} walkers, min bulk ESS {em_ess:.0f} "
          f"({em_where}); acceptance {em['accept']:.2f}; tau max {em['tau_max']:.0f} steps "
          f"(kept/tau = {em['steps'] / 2 / em['tau_max']:.0f})", flush=True)
    dream = None
    if with_dream:
        sd = np.sqrt(np.sum(np.asarray(fit.scale) ** 2, axis=1))
        dr = run_dream(problem, np.asarray(fit.mean), sd, budget, seed, dream_chains)
        d_ess, d_where = coordinate_ess(dr["draws"], problem.labels)
        dream = {"ess": d_ess, "where": d_where, "wall": dr["wall"], "rate": d_ess / dr["wall"],
                 "evals": dr["evals"], "rhat": _rhat_max({"x": dr["draws"]})}
        print(f"[bench] DREAM: {dr['wall']:.1f} s, {dr['evals']} evaluations in {dream_chains} chains, min bulk "
              f"ESS {d_ess:.0f} ({d_where})", flush=True)

    line = "-" * 118
    print(line)
    print(f"{title}: {problem.dim} unconstrained dimensions")
    print(f"{'sampler':<44}{'wall s':>8}{'compile s':>10}{'min ESS':>9}{'ESS/s':>8}{'R-hat':>7}{'div':>5}"
          f"{'grad/ESS':>9}{'vs emcee':>10}" + (f"{'vs DREAM':>10}" if dream else ""))
    for r in results:
        comp = f"{r['compile']:.1f}" if r["compile"] is not None else "-"
        vs_d = f"{r['rate'] / dream['rate']:>9.1f}x" if dream else ""
        print(f"{r['label']:<44}{r['wall']:>8.1f}{comp:>10}{r['ess']:>9.0f}{r['rate']:>8.2f}{r['rhat']:>7.3f}"
              f"{r['div']:>5}{r['grads'] / r['ess']:>9.0f}{r['rate'] / em_rate:>9.1f}x{vs_d}")
    print(f"{'emcee ' + str(n_walkers) + ' walkers, Laplace start':<44}{em['wall']:>8.1f}{'-':>10}{em_ess:>9.0f}"
          f"{em_rate:>8.2f}{'':>7}{'':>5}{em['evals'] / em_ess:>9.0f}{'(evals)':>10}")
    if dream:
        print(f"{'DREAM (spotpy) ' + str(dream_chains) + ' chains, +-8 sd box':<44}{dream['wall']:>8.1f}{'-':>10}"
              f"{dream['ess']:>9.0f}{dream['rate']:>8.2f}{dream['rhat']:>7.3f}{'':>5}"
              f"{dream['evals'] / dream['ess']:>9.0f}{'(evals)':>10}")
    best = max(results, key=lambda r: r["rate"])
    print(f"RATIO {title}: best sampler {best['label']} / emcee = {best['rate'] / em_rate:.1f}x (goal >= {goal:g}x)"
          + (f"; / DREAM = {best['rate'] / dream['rate']:.1f}x" if dream else ""))
    for r in results:
        if r is not best:
            print(f"RATIO {title}: {r['label']} / emcee = {r['rate'] / em_rate:.1f}x")
    return {"results": [{k: v for k, v in r.items() if k != "idata"} for r in results], "emcee_rate": em_rate,
            "dream": dream}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (smoke test)")
    parser.add_argument("--skip-hierarchical", action="store_true")
    parser.add_argument("--emcee-budget", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nuts", type=int, nargs=2, default=[500, 500], metavar=("WARMUP", "DRAWS"),
                        help="NUTS on A (4 chains)")
    parser.add_argument("--chees", type=int, nargs=3, default=[16, 200, 1500], metavar=("CHAINS", "WARMUP", "DRAWS"),
                        help="ChEES on A")
    parser.add_argument("--hier-nuts", type=int, nargs=2, default=[300, 300], metavar=("WARMUP", "DRAWS"),
                        help="NUTS on B (4 chains); DRAWS 0 skips it")
    parser.add_argument("--hier-chees", type=int, nargs=3, default=[32, 400, 600], metavar=("CHAINS", "WARMUP", "DRAWS"))
    parser.add_argument("--skip-demo", action="store_true", help="only the hierarchical twin")
    parser.add_argument("--hier-variants", nargs="+", choices=("ridge", "preflight"), default=["ridge", "preflight"],
                        help="B (tauV and Av both by site: a tauV-Av ridge at every site) and/or B' (tauV shared, "
                             "as the preflight advises on B)")
    parser.add_argument("--hier-kernel", choices=("hmc", "nuts"), default="hmc",
                        help="ChEES on B: jittered HMC draws (hmc) or, after ChEES's warm-up, NUTS draws (nuts)")
    args = parser.parse_args(argv)

    import arviz as az
    import blackjax
    import emcee
    import numpyro
    import spotpy

    from bayeslsm.demo import demo_problem
    from bayeslsm.infer import NUTS, ChEES

    t0 = time.perf_counter()
    print(f"[bench] {platform.platform()}, {os.cpu_count()} CPUs, {jax.local_device_count()} XLA devices; "
          f"load average before start {os.getloadavg()[0]:.2f}", flush=True)
    if args.quick:
        args.nuts, args.chees, args.hier_nuts, args.hier_chees = [100, 100], [16, 50, 50], [100, 100], [16, 50, 50]
    nw, nd = args.nuts
    cc, cw, cd = args.chees
    a = None
    _, _, _, cal = demo_problem()
    if not args.skip_demo:
        a = compare(
            "A demo posterior", cal,
            [(f"NUTS 4 ch x ({nw}+{nd}), dense mass",
              NUTS(chains=4, warmup=nw, draws=nd, dense_mass=True, target_accept=0.9, progress=False)),
             (f"ChEES {cc} ch x ({cw}+{cd}), Laplace start", ChEES(chains=cc, warmup=cw, draws=cd))],
            args.seed, args.emcee_budget, dream_chains=14, with_dream=True, goal=GOAL_A, walkers_per_dim=4)
    b = {}
    if not args.skip_hierarchical:
        nw, nd = args.hier_nuts
        cc, cw, cd = args.hier_chees
        kern = args.hier_kernel
        for variant in args.hier_variants:
            if variant == "ridge":
                # LUE (informed at every site) centred; tauV and Av (weakly informed: centring them collapses
                # the MAP onto sd_site -> 0, the Laplace start of ChEES) non-centred; NEE + 8-day LAI
                title = "B hierarchical VSEM twin, 20 sites x (LUE, tauV, Av)"
                hcal = hierarchical_twin(n_sites=20, hier=("LUE", "tauV", "Av"), vary=("LUE", "tauV", "Av"),
                                         centered=("LUE",), lai=True)
            else:
                # the model the preflight advises on B: only a combination of tauV and Av is informed at a
                # site, so tauV leaves the hierarchy (one value for all sites; the truth still varies it).
                # Av is then informed at every site: centred, as LUE (non-centred Av: 23.6x emcee, min ESS
                # 3 948 at Av_sd_site in one run; centred: min ESS 11 368)
                title = "B' hierarchical VSEM twin as the preflight advises, 32 sites x (LUE, Av), tauV shared"
                hcal = hierarchical_twin(n_sites=32, hier=("LUE", "Av"), vary=("LUE", "tauV", "Av"),
                                         shared=("tauV",), centered=("LUE", "Av"), lai=True)
            label = f"ChEES {cc} ch x ({cw}+{cd}), Laplace start" + (", NUTS draws" if kern == "nuts" else "")
            smps = [(label, ChEES(chains=cc, warmup=cw, draws=cd, kernel=kern))]
            if nd > 0:
                smps.insert(0, (f"NUTS 4 ch x ({nw}+{nd}), diag mass",
                                NUTS(chains=4, warmup=nw, draws=nd, target_accept=0.9, progress=False)))
            b[variant] = compare(title, hcal, smps, args.seed, args.emcee_budget, dream_chains=0, with_dream=False,
                                 goal=GOAL_B, walkers_per_dim=2)
    load = os.getloadavg()[0]
    print(f"Versions: bayeslsm {bayeslsm.__version__}, jax {jax.__version__}, numpyro {numpyro.__version__}, "
          f"blackjax {blackjax.__version__}, emcee {emcee.__version__}, spotpy {spotpy.__version__}, arviz "
          f"{az.__version__}, numpy {np.__version__}, python {platform.python_version()}")
    print(f"Load average at the end {load:.2f} on {os.cpu_count()} CPUs "
          f"({'contended: other processes shared the cores' if load > (os.cpu_count() or 1) else 'not contended'}); "
          f"total {time.perf_counter() - t0:.0f} s")
    return {"A": a, "B": b}


if __name__ == "__main__":
    main()
