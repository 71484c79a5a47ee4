"""Post-sampling checks that turn NUTS's warning signs into advice.

* divergences (Betancourt 2017, arXiv:1701.02434): the sampler met curvature it could not follow;
* tree-depth saturation: trajectories hit ``max_tree_depth`` — typical of non-identifiable
  (equifinal) parameter pairs such as light extinction vs leaf mass per area;
* low E-BFMI (< 0.3; Betancourt 2016, arXiv:1604.00695): the momentum resampling explores energy
  levels poorly, typical of funnels in hierarchies;
* chains that disagree (rank-normalised split R-hat above ``rhat_threshold``; Vehtari et al. 2021,
  doi:10.1214/20-BA1221): a chain stuck in another mode, typical of phase parameters such as a
  leaf-fall date under a flat prior, or a run too short to mix; the most outlying chain is named.
  The warning threshold (1.1) flags chains that clearly disagree; short runs of hyper-parameters
  routinely sit between 1.01 and 1.05, and the summary's ``max_rhat`` should be held to 1.01 for
  results one reports (Vehtari et al. 2021);
* strongly correlated parameter pairs (|r| > threshold): equifinality.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SamplingWarning", "SamplingReport", "check_sampling", "correlated_pairs", "ebfmi"]


class SamplingWarning(UserWarning):
    """NUTS diagnostics suggest the posterior draws may be unreliable."""


@dataclass
class SamplingReport:
    divergences: int = 0
    n_draws: int = 0
    tree_depth_saturation: float = 0.0
    min_ebfmi: float = float("nan")
    max_rhat: float = float("nan")
    correlated: list = field(default_factory=list)
    messages: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "divergences": self.divergences,
            "n_draws": self.n_draws,
            "tree_depth_saturation": self.tree_depth_saturation,
            "min_ebfmi": self.min_ebfmi,
            "max_rhat": self.max_rhat,
            "correlated_pairs": [{"a": a, "b": b, "r": r} for a, b, r in self.correlated],
            "messages": list(self.messages),
        }


def ebfmi(energy: np.ndarray) -> np.ndarray:
    """Energy Bayesian fraction of missing information per chain; ``energy`` is (chain, draw)."""
    e = np.asarray(energy, dtype=float)
    num = np.sum(np.diff(e, axis=1) ** 2, axis=1) / e.shape[1]
    den = np.var(e, axis=1)
    return num / den


def correlated_pairs(posterior, threshold: float = 0.8, variables=None) -> list[tuple[str, str, float]]:
    """Pairs of scalar posterior variables (site-varying ones per site) with |Pearson r| > threshold."""
    cols, names = [], []
    for name, da in posterior.data_vars.items():
        if variables is not None and name not in variables:
            continue
        v = np.asarray(da.values, dtype=float)
        flat = v.reshape(v.shape[0] * v.shape[1], -1)
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        labels = [name] if flat.shape[1] == 1 else [
            f"{name}[{i}]" for i in (da[extra[0]].values if len(extra) == 1 else range(flat.shape[1]))]
        for j in range(flat.shape[1]):
            if np.std(flat[:, j]) > 0:
                cols.append(flat[:, j])
                names.append(labels[j])
    if len(cols) < 2:
        return []
    r = np.corrcoef(np.vstack(cols))
    out = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if abs(r[i, j]) > threshold:
                out.append((names[i], names[j], float(r[i, j])))
    return sorted(out, key=lambda x: -abs(x[2]))


def _worst_rhat(posterior):
    """(max R-hat, variable label, most outlying chain, its median, the other chains' median) or None."""
    from bayeslsm._compat import import_arviz

    az = import_arviz()
    if posterior.sizes.get("chain", 1) < 2 or posterior.sizes.get("draw", 0) < 4:
        return None
    worst = None
    for name, da in posterior.data_vars.items():
        v = np.asarray(da.values, dtype=float)
        flat = v.reshape(v.shape[0], v.shape[1], -1)
        for j in range(flat.shape[2]):
            x = flat[:, :, j]
            if not np.all(np.isfinite(x)) or np.ptp(x) == 0:
                continue
            r = float(az.rhat(x))
            if worst is None or r > worst[0]:
                label = name if flat.shape[2] == 1 else f"{name}[{j}]"
                med = np.median(x, axis=1)
                dev = [abs(med[k] - np.median(np.delete(x, k, axis=0))) for k in range(x.shape[0])]
                k = int(np.argmax(dev))
                worst = (r, label, k, float(med[k]), float(np.median(np.delete(x, k, axis=0))))
    return worst


# ChEES re-whitens with the chains' covariance, so one unit of trajectory is about one posterior sd;
# a well-adapted ChEES trajectory spans O(1) or more of them (Hoffman et al. 2021, PMLR 130:3907).
# Below 0.5 the chains crawl (measured on the 29-site pft-hierarchy: 0.035 and 0.08 in runs that did not
# move, 2.3 in the best run).
CHEES_SHORT_TRAJECTORY = 0.5


def _rhat_count(posterior, threshold: float) -> tuple[int, int]:
    """(number of scalar variables with R-hat > threshold, number of scalar variables)."""
    from bayeslsm._compat import import_arviz

    az = import_arviz()
    rh = az.rhat(posterior)
    vals = np.concatenate([np.ravel(np.asarray(rh[v].values, dtype=float)) for v in rh.data_vars]) \
        if rh.data_vars else np.array([])
    vals = vals[np.isfinite(vals)]
    return int(np.sum(vals > threshold)), int(vals.size)


def _chees_trajectory(idata) -> tuple[float, float] | None:
    """(step size, mean leapfrog steps) of a ChEES run from the posterior's ``sampler`` attribute, else None."""
    import json

    if "posterior" not in idata.groups():
        return None
    raw = idata.posterior.attrs.get("sampler")
    try:
        s = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
    except (TypeError, ValueError):
        return None
    if s.get("method") != "chees" or s.get("kernel", "hmc") != "hmc":
        return None
    try:
        eps, n = float(s["step_size"]), float(s["num_leapfrog_steps"])
    except (KeyError, TypeError, ValueError):
        return None
    return (eps, n) if np.isfinite(eps) and np.isfinite(n) else None


def check_sampling(idata, max_tree_depth: int = 10, corr_threshold: float = 0.8, warn: bool = True,
                   stacklevel: int = 2, rhat_threshold: float = 1.1) -> SamplingReport:
    """Inspect ``idata.sample_stats`` and the posterior; warn with advice; return a report."""
    rep = SamplingReport()
    if "posterior" in idata.groups():
        rep.correlated = correlated_pairs(idata.posterior, corr_threshold)
    if "sample_stats" not in idata.groups():
        return rep
    ss = idata.sample_stats
    rep.n_draws = int(ss.sizes["chain"] * ss.sizes["draw"])
    rep.divergences = int(ss["diverging"].values.sum())
    rep.tree_depth_saturation = float(np.mean(ss["tree_depth"].values >= max_tree_depth))
    rep.min_ebfmi = float(np.min(ebfmi(ss["energy"].values)))
    if rep.divergences:
        rep.messages.append(
            f"{rep.divergences} of {rep.n_draws} transitions diverged. Raise target_accept (e.g. 0.95), "
            "use the non-centred hierarchy (default), tighten weakly identified priors, or fix parameters "
            "the data cannot inform."
        )
    if rep.tree_depth_saturation > 0.01:
        rep.messages.append(
            f"{100 * rep.tree_depth_saturation:.1f}% of transitions hit the maximum tree depth "
            f"({max_tree_depth}). This usually means strongly correlated or non-identifiable parameters: "
            "use dense_mass=True, fix or reparametrise one parameter of each correlated pair"
            + (f" (most correlated: {rep.correlated[0][0]} ~ {rep.correlated[0][1]}, r={rep.correlated[0][2]:+.2f})"
               if rep.correlated else "") + "."
        )
    worst = _worst_rhat(idata.posterior) if "posterior" in idata.groups() else None
    if worst is not None:
        rep.max_rhat = worst[0]
        if worst[0] > rhat_threshold:
            r, label, k, med_k, med_rest = worst
            n_bad, n_all = _rhat_count(idata.posterior, rhat_threshold)
            if n_all >= 4 and n_bad > n_all / 2:
                rep.messages.append(
                    f"chains disagree: R-hat > {rhat_threshold} for {n_bad} of {n_all} variables (worst {r:.2f}, "
                    f"{label}). Not one stuck chain: every chain moves too slowly for the posterior's geometry. "
                    "Look for a funnel (a hierarchy sd near zero: non-centre that level, e.g. "
                    "hierarchy.pft_centered for the PFT level) or a parameter pressed against a bound (widen "
                    "the bound, or fix the parameter), then sample longer."
                )
            else:
                rep.messages.append(
                    f"chains disagree: R-hat {r:.2f} > {rhat_threshold} for {label}; chain {k} sits apart "
                    f"(median {med_k:.4g} against {med_rest:.4g} in the others). A chain may be stuck in another "
                    "mode (e.g. a phenology date under a flat prior) or the run is too short: use an "
                    "informative prior (a PFT table), start the chains with init_values (e.g. a MAP from "
                    "Calibration.laplace), or sample longer."
                )
    if np.isfinite(rep.min_ebfmi) and rep.min_ebfmi < 0.3:
        rep.messages.append(
            f"low E-BFMI ({rep.min_ebfmi:.2f} < 0.3): the sampler explores energy levels poorly, typical of "
            "funnel geometry; non-centre the hierarchy levels the data barely inform (hierarchy.centered, "
            "hierarchy.pft_centered) and consider tighter hyper-priors."
        )
    short = _chees_trajectory(idata)
    if short is not None and short[0] * short[1] < CHEES_SHORT_TRAJECTORY:
        eps, n = short
        rep.messages.append(
            f"ChEES adapted trajectories of {eps * n:.2g} whitened units (step size {eps:.3g} x {n:.3g} "
            f"leapfrog steps), under {CHEES_SHORT_TRAJECTORY}: each draw moves a small fraction of a posterior "
            "standard deviation, so the chains barely explore and R-hat and ESS describe where they started. "
            "The posterior's curvature changes across it (a funnel, a parameter pressed against a bound): "
            "reparametrise or fix the parameters named by the preflight, then rerun."
        )
    if warn:  # the sampler problems warn; correlations are reported, not warned about
        for m in rep.messages:
            warnings.warn(m, SamplingWarning, stacklevel=stacklevel)
    if rep.correlated:
        pairs = ", ".join(f"{a} ~ {b} (r={r:+.2f})" for a, b, r in rep.correlated[:5])
        rep.messages.append(f"strongly correlated parameter pairs (equifinality): {pairs}.")
    return rep
