"""The twin-experiment demo that ``make demo`` / ``bayeslsm demo`` runs.

DALEC2 with carbon–water coupling on three years of generated weather; three observation streams
(daily NEE, daily LE with a deliberate +15 % multiplicative bias, 8-day LAI composites) with gaps;
about a dozen free parameters plus bias and error parameters.  The default sampler is many-chain
ChEES-HMC (:class:`bayeslsm.infer.ChEES`: 16 chains in one vmapped batch split over the cores, started
from a Laplace approximation at the MAP, re-whitened three times during warm-up with the chains' covariance);
16 x (300 + 1000) measured on 2026-12-03 (2 idle cores): seeds 1 and 2 gave min bulk ESS 7 199 and
3 358 at R-hat 1.002 and 1.005 in ~87 s of sampling; NumPyro NUTS (``sampler="nuts"``, 4 chains,
dense mass) gave ~460 in 66 s.  Fewer draws (16 x 500) left R-hat at 1.004-1.011 over seeds.
It writes

* ``posterior.nc``   the complete InferenceData,
* ``summary.json``   max R-hat, min bulk ESS, divergences, coverage of the truth by 90 % intervals,
  recovered bias, wall seconds, min bulk ESS per second,
* figures and ``report.md``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

__all__ = ["DEMO_FREE", "DEMO_SETTINGS", "DEMO_STREAMS", "demo_problem", "run_demo"]

# Free parameters: those NEE, LE and LAI inform in three years (slow pools and their turnover are fixed;
# f_auto is fixed because it trades off almost exactly with ceff on NEE alone, r ~ 0.94).
DEMO_FREE = (
    "f_fol", "f_lab", "theta_lit", "Theta", "ceff", "clma",
    "d_onset", "cronset", "d_fall", "crfall", "g_max",
)

DEMO_STREAMS = (
    {"name": "NEE", "support": "daily", "error": {"kind": "gaussian", "sigma": {"prior": "halfnormal", "scale": 1.0}}},
    {"name": "LE", "support": "daily", "bias": {"kind": "multiplicative"},
     "error": {"kind": "gaussian", "sigma": {"prior": "halfnormal", "scale": 10.0}}},
    {"name": "LAI", "support": "8D", "how": "mean", "error": {"kind": "gaussian", "sigma": 0.1}},
)

DEMO_TRUTH_EXTRA = {"NEE_sigma": 0.6, "LE_sigma": 6.0, "LE_bias_mult": 1.15}


def demo_problem(years: int = 3, seed: int = 0, gaps: float = 0.2, free=DEMO_FREE, streams=DEMO_STREAMS):
    """Forcing, synthetic observations, truth and the :class:`~bayeslsm.infer.Calibration` of the demo."""
    from bayeslsm.data.synthetic import weather_generator
    from bayeslsm.infer import Calibration, twin_experiment
    from bayeslsm.priors import load_catalogue

    forcing = weather_generator(years=years, lat=50.0, seed=seed, site="demo")
    forcing = forcing.assign_coords(pft="DBF")
    cat = load_catalogue("dalec2_water")
    truth = {name: spec.default for name, spec in cat.parameters.items()}
    truth.update(DEMO_TRUTH_EXTRA)
    obs, truth_used = twin_experiment("dalec2_water", forcing, streams, truth, gaps=gaps, seed=seed + 1)
    cal = Calibration("dalec2_water", forcing, obs, streams, free=free)
    return forcing, obs, truth_used, cal


#: Default (chains, warm-up, draws) per sampler.
DEMO_SETTINGS = {"chees": (16, 300, 1000), "nuts": (4, 400, 400)}


def run_demo(out: str | Path = "demo_out", chains: int | None = None, warmup: int | None = None,
             draws: int | None = None, seed: int = 0, years: int = 3, progress: bool = True,
             dense_mass: bool = True, target_accept: float = 0.9, sampler: str = "chees",
             checkpoint_dir: str | Path | None = None) -> dict:
    """Run the demo end to end and write its outputs into ``out``; return the summary dict.

    ``sampler`` is ``"chees"`` (default) or ``"nuts"``; ``chains``, ``warmup`` and ``draws`` default to
    :data:`DEMO_SETTINGS`; ``dense_mass`` and ``target_accept`` apply to NUTS; ``checkpoint_dir`` to ChEES
    (resumable sampling).
    """
    from bayeslsm.infer import NUTS, ChEES

    if sampler not in DEMO_SETTINGS:
        raise ValueError(f"`sampler` must be one of {sorted(DEMO_SETTINGS)}; got {sampler!r}")
    d_chains, d_warmup, d_draws = DEMO_SETTINGS[sampler]
    chains = d_chains if chains is None else chains
    warmup = d_warmup if warmup is None else warmup
    draws = d_draws if draws is None else draws
    from bayeslsm.diagnostics import summarize, write_report, write_summary_json
    from bayeslsm.infer import save

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print(f"[bayeslsm demo] building the twin experiment ({years} years of generated weather)", flush=True)
    _, _, truth, cal = demo_problem(years=years, seed=seed)
    print(f"[bayeslsm demo] {sampler.upper() if sampler == 'nuts' else 'ChEES-HMC'}: {chains} chains x "
          f"({warmup} warm-up + {draws} draws), {len(cal.free)} free model parameters + bias/error parameters",
          flush=True)
    if sampler == "nuts":
        smp = NUTS(chains=chains, warmup=warmup, draws=draws, progress=progress, dense_mass=dense_mass,
                   target_accept=target_accept)
    else:
        # target_accept 0.8 rather than ChEES's 0.651: the 0.651 runs measured had one divergence in 6400
        smp = ChEES(chains=chains, warmup=warmup, draws=draws, progress=progress, target_accept=0.8,
                    checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir))
    # compact output: daily trajectories of 100 draws (enough for the 90 % bands of the predictive
    # plots), replicated observations but not their noise-free copies (posterior.nc < 10 MB)
    idata = cal.sample(smp, seed=seed, daily=100, model_points=False)
    save(idata, out / "posterior.nc")
    truth_post = {k: v for k, v in truth.items() if k in idata.posterior.data_vars}
    summary = summarize(idata, truth=truth_post, ci_prob=0.9)
    summary["recovered_bias"] = {
        "LE_bias_mult": {"truth": truth["LE_bias_mult"],
                         "posterior_mean": float(idata.posterior["LE_bias_mult"].mean()),
                         "q05": float(idata.posterior["LE_bias_mult"].quantile(0.05)),
                         "q95": float(idata.posterior["LE_bias_mult"].quantile(0.95))}
    }
    summary["wall_seconds_total"] = time.perf_counter() - t0
    write_report(idata, out, truth=truth_post, title="bayeslsm demo: DALEC2 + water twin experiment")
    summary["wall_seconds_total"] = time.perf_counter() - t0
    write_summary_json(summary, out / "summary.json")
    print(json.dumps({k: summary[k] for k in summary if not isinstance(summary[k], (dict, list))}, indent=1))
    print(f"[bayeslsm demo] wrote {out}/posterior.nc, summary.json, report.md and figures "
          f"in {summary['wall_seconds_total']:.0f} s", flush=True)
    return summary
