"""Simulation-based calibration runner: prior draw -> simulated observations -> NUTS fit -> ranks.

For ``n = 1..N`` (Talts et al. 2018, arXiv:1804.06788, algorithm 1): draw every latent parameter
``θ̃_n`` of a :class:`~bayeslsm.infer.Calibration`'s NumPyro model from its prior, simulate the
observation streams from it (operators, bias and error models included), fit the same model to those
data with NUTS and rank ``θ̃_n`` among the thinned posterior draws. :mod:`bayeslsm.diagnostics.sbc`
then tests each parameter's ranks for uniformity and draws the rank histograms.

All fits share shapes, so they are one compiled program: the log density comes from NumPyro
(``initialize_model(..., dynamic_args=True)``, the simulated observations an argument, not a constant),
the sampler is BlackJAX's NUTS with window adaptation (pure functions), and ``jax.vmap`` runs a batch
of fits at once; the batches reuse the compiled program.

Ranks are computed on the unconstrained latent values (``_z_{name}``, error and bias parameters):
every transform to the constrained value is strictly increasing, so the ranks are the same.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bayeslsm.diagnostics.sbc import plot_sbc_hist, sbc_ranks, sbc_uniformity_pvalue

__all__ = ["SBC_PROBLEMS", "SBCResult", "run_sbc", "sbc_problem", "write_sbc"]

SBC_PROBLEMS = ("vsem", "dalec2")


def _display(name: str) -> str:
    return name.removeprefix("_z_")


@dataclass
class SBCResult:
    """Ranks, uniformity p-values and settings of a simulation-based calibration.

    Attributes
    ----------
    ranks
        Parameter -> integer ranks ``(N,)`` (or ``(N, site)``) in ``0..M``.
    M
        Thinned posterior draws per fit.
    pvalues
        Parameter -> chi-square p-value of uniformity (:func:`~bayeslsm.diagnostics.sbc_uniformity_pvalue`).
    truth
        Parameter -> the prior draws ``(N, ...)`` (unconstrained) the data were simulated from.
    divergences
        Divergent transitions per fit ``(N,)`` (kept draws).
    settings
        Sampler settings, seeds, wall seconds.
    """

    ranks: dict[str, np.ndarray]
    M: int
    pvalues: dict[str, Any]
    truth: dict[str, np.ndarray]
    divergences: np.ndarray
    settings: dict = field(default_factory=dict)

    def passed(self, alpha: float = 0.01) -> bool:
        """Whether no parameter rejects uniformity at level ``alpha`` with a Bonferroni correction
        over parameters (the smallest p-value is at least ``alpha / n_parameters``)."""
        p = np.concatenate([np.ravel(v) for v in self.pvalues.values()])
        return bool(np.min(p) >= alpha / p.size)

    def plot(self, path: str | os.PathLike | None = None, prob: float = 0.99):
        """Rank histograms with the band expected under uniformity (:func:`plot_sbc_hist`)."""
        return plot_sbc_hist(self.ranks, self.M, prob=prob, path=path)

    def as_dict(self) -> dict:
        return {"n_sims": int(self.divergences.size), "M": int(self.M),
                "pvalues": {k: np.asarray(v).tolist() for k, v in self.pvalues.items()},
                "passed_at_0.01": self.passed(0.01),
                "divergent_fits": int(np.sum(self.divergences > 0)),
                "ranks": {k: np.asarray(v).tolist() for k, v in self.ranks.items()},
                "settings": self.settings}


def sbc_problem(model: str = "vsem", days: int = 365, seed: int = 0, sigma=None, start: int = 120):
    """A small calibration problem for SBC on generated weather (no observations: all points observed).

    ``days`` days of weather from day ``start`` of the year (default 120, early May: in winter NEE
    carries almost no information on light-use parameters, and a posterior close to the prior would
    pass SBC whatever the likelihood).

    ``vsem``: free ``LUE`` and ``GAMMA``, daily NEE with a Gaussian error whose sd has a half-normal
    prior (scale 1 gC m-2 d-1). ``dalec2``: free ``ceff`` and ``f_auto``, daily NEE (sd prior as for
    VSEM) and 8-day LAI (sd 0.2). ``sigma`` fixes the NEE error sd instead (used to build a deliberately
    miscalibrated fit: simulate with one sd, fit with another).
    """
    from bayeslsm.data.synthetic import weather_generator
    from bayeslsm.infer import Calibration

    if model not in SBC_PROBLEMS:
        raise ValueError(f"`model` must be one of {SBC_PROBLEMS}; got {model!r}")
    if not 1 <= int(days) <= 366 * 3:
        raise ValueError(f"`days` must be in 1..1098; got {days!r}")
    if not 0 <= int(start) < 365:
        raise ValueError(f"`start` (day of the year) must be in 0..364; got {start!r}")
    forcing = weather_generator(years=int(np.ceil((start + days) / 365.0)), lat=45.0, seed=seed, site="sbc")
    forcing = forcing.isel(time=slice(int(start), int(start) + int(days)))
    nee_sigma = {"prior": "halfnormal", "scale": 1.0} if sigma is None else float(sigma)
    streams = [{"name": "NEE", "support": "daily", "error": {"kind": "gaussian", "sigma": nee_sigma}}]
    if model == "vsem":
        free = ("LUE", "GAMMA")
    else:
        forcing = forcing.assign_coords(pft="DBF")
        free = ("ceff", "f_auto")
        streams.append({"name": "LAI", "support": "8D", "how": "mean", "error": {"kind": "gaussian", "sigma": 0.2}})
    return Calibration(model, forcing, None, streams, free=free)


def _observation_layout(cal):
    """Per stream: (mask, uncertainty) of the points to simulate and fit (all points without observations)."""
    import jax.numpy as jnp

    out = {}
    for sd in cal.streams:
        n = sd.support_time.size
        mask = np.ones((cal.n_site, n), bool) if sd.obs is None else np.isfinite(sd.obs)
        out[sd.config.name] = (jnp.asarray(mask), None if sd.unc is None else jnp.asarray(sd.unc))
    return out


def _latent_names(cal, streams) -> list[str]:
    """Names of the latent (sampled, not observed) sites of ``cal``'s model, from an abstract trace."""
    import jax
    import numpyro

    names: list[str] = []

    def trace():
        tr = numpyro.handlers.trace(numpyro.handlers.seed(cal.numpyro_model, 0)).get_trace(obs=None)
        names.extend(n for n, s in tr.items()
                     if s["type"] == "sample" and not s.get("is_observed", False) and n not in streams)
        return 0

    jax.eval_shape(trace)
    return sorted(names)


def run_sbc(cal, n_sims: int = 100, *, fit_cal=None, warmup: int = 200, draws: int = 200, thin: int = 2,
            batch: int | None = None, seed: int = 0, target_accept: float = 0.8, max_tree_depth: int = 8,
            progress: bool = True) -> SBCResult:
    """Simulation-based calibration of ``cal``'s model with NUTS.

    Parameters
    ----------
    cal
        :class:`~bayeslsm.infer.Calibration` that simulates the data: its priors, streams, operators,
        bias and error models (e.g. :func:`sbc_problem`). Observed points: its observations' pattern
        of gaps, or every support point without observations.
    n_sims
        Number of simulated data sets ``N``.
    fit_cal
        Calibration fitted to the simulated data (default ``cal``); it must have the same latent
        parameters. A different one (e.g. a wrong error sd) shows what a miscalibrated posterior looks like.
    warmup, draws, thin
        NUTS window-adaptation steps and draws per fit; every ``thin``-th draw is kept, so
        ``M = ceil(draws / thin)`` (thinning to roughly independent draws, Talts et al. sec. 4.1).
    batch
        Fits run at once (``jax.vmap``); default all ``n_sims``, at most 100.
    seed
        Seed of the prior draws, the simulated noise and the samplers.
    target_accept, max_tree_depth
        NUTS step-size adaptation target and maximum tree depth.

    Returns
    -------
    SBCResult

    Examples
    --------
    >>> res = run_sbc(sbc_problem("vsem", days=120), n_sims=60, warmup=100, draws=100)  # doctest: +SKIP
    >>> res.passed(), res.pvalues  # doctest: +SKIP
    """
    import blackjax
    import jax
    import jax.numpy as jnp
    import numpyro
    from numpyro.distributions.transforms import biject_to
    from numpyro.infer import init_to_median
    from numpyro.infer.util import initialize_model

    for name, v, lo in (("n_sims", n_sims, 2), ("warmup", warmup, 1), ("draws", draws, 1), ("thin", thin, 1)):
        if not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"`{name}` must be an integer >= {lo}; got {v!r}")
    if not 0.0 < target_accept < 1.0:
        raise ValueError(f"`target_accept` must be in (0, 1); got {target_accept!r}")
    fit_cal = cal if fit_cal is None else fit_cal
    batch = int(min(n_sims, 100) if batch is None else batch)
    if batch < 1:
        raise ValueError(f"`batch` must be >= 1; got {batch}")
    streams = [sd.config.name for sd in cal.streams]
    if not streams:
        raise ValueError("`cal` has no observation streams: there is nothing to simulate and fit")
    if sorted(sd.config.name for sd in fit_cal.streams) != sorted(streams):
        raise ValueError(f"`fit_cal` streams {[sd.config.name for sd in fit_cal.streams]} differ from `cal`'s {streams}")
    latent_sim, latent_fit = _latent_names(cal, streams), _latent_names(fit_cal, streams)
    if latent_sim != latent_fit:
        raise ValueError(f"`fit_cal` has latent parameters {latent_fit}, `cal` {latent_sim}; SBC needs the same")
    layout = _observation_layout(cal)
    t0 = time.perf_counter()
    k_sim, k_init, k_fit = jax.random.split(jax.random.PRNGKey(seed), 3)

    # 1. prior draws and simulated observations, all at once
    def simulate_one(key):
        tr = numpyro.handlers.trace(numpyro.handlers.seed(cal.numpyro_model, key)).get_trace(obs=None)
        latent = {n: s["value"] for n, s in tr.items()
                  if s["type"] == "sample" and not s.get("is_observed", False) and n not in streams}
        return latent, {n: tr[n]["value"] for n in streams}

    truth, ys = jax.jit(jax.vmap(simulate_one))(jax.random.split(k_sim, n_sims))

    def obs_of(y):
        return {n: (jnp.where(layout[n][0], y[n], 0.0), layout[n][0], layout[n][1]) for n in streams}

    # 2. the fit's log density as a function of the data (one compiled program for every fit)
    info = initialize_model(k_init, fit_cal.numpyro_model, model_kwargs={"obs": obs_of({n: ys[n][0] for n in streams})},
                            dynamic_args=True, init_strategy=init_to_median(num_samples=15))
    z0 = info.param_info.z
    if sorted(z0) != sorted(truth):
        raise ValueError(f"`fit_cal` has latent parameters {sorted(z0)}, `cal` {sorted(truth)}; SBC needs the same")
    transforms = {n: biject_to(info.model_trace[n]["fn"].support) for n in z0}
    truth_u = {n: np.asarray(jax.vmap(transforms[n].inv)(truth[n])) for n in z0}

    def fit_one(key, y):
        obs = obs_of(y)

        def logdensity(z):
            return -info.potential_fn(obs=obs)(z)

        k_warm, k_draw = jax.random.split(key)
        adapt = blackjax.window_adaptation(blackjax.nuts, logdensity, target_acceptance_rate=target_accept,
                                           max_num_doublings=max_tree_depth)
        (state, params), _ = adapt.run(k_warm, z0, num_steps=warmup)
        kernel = blackjax.nuts(logdensity, **params)  # params carry max_num_doublings

        def step(st, k):
            st, inf = kernel.step(k, st)
            return st, (st.position, inf.is_divergent)

        _, (pos, div) = jax.lax.scan(step, state, jax.random.split(k_draw, draws))
        return jax.tree_util.tree_map(lambda x: x[::thin], pos), jnp.sum(div[::thin])

    fit = jax.jit(jax.vmap(fit_one))
    keys = jax.random.split(k_fit, n_sims)
    positions: dict[str, list] = {n: [] for n in z0}
    divergences = []
    for start in range(0, n_sims, batch):
        stop = min(start + batch, n_sims)
        idx = np.arange(start, start + batch) % n_sims  # pad the last batch: same shapes, no recompile
        pos, div = fit(keys[idx], {n: ys[n][idx] for n in streams})
        for n in z0:
            positions[n].append(np.asarray(pos[n])[: stop - start])
        divergences.append(np.asarray(div)[: stop - start])
        if progress:
            print(f"[bayeslsm sbc] {stop}/{n_sims} fits ({time.perf_counter() - t0:.0f} s)", flush=True)
    post = {n: np.concatenate(v) for n, v in positions.items()}
    M = next(iter(post.values())).shape[1]
    ranks = sbc_ranks({_display(n): truth_u[n] for n in z0},
                      [{_display(n): post[n][i] for n in z0} for i in range(n_sims)], rng=seed)
    pvalues = sbc_uniformity_pvalue(ranks, M)
    settings = {"model": cal.model.name, "n_sims": n_sims, "warmup": warmup, "draws": draws, "thin": thin,
                "M": M, "seed": seed, "target_accept": target_accept, "max_tree_depth": max_tree_depth,
                "batch": batch, "sampler": "blackjax.nuts + window_adaptation",
                "wall_seconds": time.perf_counter() - t0}
    return SBCResult(ranks=ranks, M=M, pvalues=pvalues, truth={_display(n): truth_u[n] for n in z0},
                     divergences=np.concatenate(divergences), settings=settings)


def write_sbc(result: SBCResult, out: str | os.PathLike) -> dict[str, Path]:
    """Write ``sbc.json`` (p-values, ranks, settings) and ``sbc_ranks.png`` into ``out`` (atomically)."""
    from bayeslsm.diagnostics.plots import _ensure_backend
    from bayeslsm.data.atomic import atomic_path

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "sbc.json") as tmp:
        tmp.write_text(json.dumps(result.as_dict(), indent=1, default=float) + "\n", encoding="utf-8")
    _ensure_backend()
    import matplotlib.pyplot as plt

    with atomic_path(out / "sbc_ranks.png") as tmp:
        fig = result.plot()
        fig.savefig(tmp, format="png", dpi=110)
        plt.close(fig)
    return {"json": out / "sbc.json", "figure": out / "sbc_ranks.png"}
