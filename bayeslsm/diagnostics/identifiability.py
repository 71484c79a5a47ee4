r"""Identifiability preflight: the curvature of the posterior at its mode, before any NUTS run.

Around the maximum a posteriori (MAP) point the log posterior is close to a quadratic,
``log p(theta | y) ~ const - 1/2 (theta - theta*)^T H (theta - theta*)`` (the Laplace approximation;
MacKay 2003, *Information Theory, Inference and Learning Algorithms*, ch. 27). ``H`` is the Hessian
of the NumPyro potential (minus the log joint density) in the sampler's unconstrained coordinates,
computed with ``jax.hessian``. Its eigen-decomposition ``H = V diag(lambda) V^T`` says which parameter
*combinations* the data pin down (large ``lambda``: stiff) and which they leave free (small
``lambda``: sloppy; Gutenkunst et al. 2007, doi:10.1371/journal.pcbi.0030189). A sloppy direction
that involves two parameters, e.g. ``d log ceff = - d log clma`` when GPP sees only ``ceff / clma``,
is a ridge along which NUTS needs long trajectories (tree-depth saturation, low ESS).

Coordinates
-----------
The analysis is reported in **log-parameter coordinates** where a parameter is positive: a free
catalogue parameter ``x`` (latent ``_z_x``) enters as ``log x``, and NumPyro's own positive sites
(bias multipliers, error scales) are already ``log`` in unconstrained space. Other latents (the
non-centred ``_eps_*`` of a hierarchy, real-valued biases) stay in their unconstrained coordinate.
At the MAP the gradient vanishes, so the Hessian transforms as ``J^-T H J^-1`` with ``J`` the diagonal
Jacobian of the change of coordinates. A product ``a * b`` then shows up as an eigenvector close to
``(1, -1) / sqrt(2)`` in ``(log a, log b)`` (the sloppy direction: the ratio) while ``(1, 1) / sqrt(2)``
(the log of the product) is stiff.

Which directions are flagged
----------------------------
For each eigen-direction ``v`` the **data share** of its curvature is
``1 - v^T H_prior v / lambda`` (``H_prior``: the Hessian of the prior part of the potential). A
direction is *sloppy* when the data share is below ``min_data_share`` (0.5: the prior, not the data,
sets the width) or ``lambda / lambda_max < rel_tol`` (1e-6: near-singular). Each sloppy direction lists
the coordinates with ``|v_i| >= 0.3`` (the three largest when none is) and advice:

* a site-level deviation of a hierarchical parameter (``_eps_name``) -> pool ``name`` at the PFT level
  (``hierarchy.pft_only``) or leave it out of the hierarchy;
* a bias or error parameter -> give it an informative prior, fix it, or add a stream that sees the
  quantity without that bias (:mod:`bayeslsm.obs.bias`, "The identifiability trap");
* a free parameter with a flat (uniform) catalogue prior -> an informative prior (trait data);
* otherwise -> fix one member of the combination at a literature value.

Hierarchies: the joint mode of a hierarchical model lies where the between-site spreads shrink towards
zero (the funnel; Betancourt & Girolami 2015, doi:10.1201/b18502-5), so directions made only of
hierarchy latents (``_eps_*``, ``*_sd_*``, ``*_mu``) are prior-dominated by construction there. The
sloppy list is therefore ordered with the directions that mix **different named parameters** first
(e.g. ``_eps_g_max[SITE]`` with ``_eps_LE_bias_mult[SITE]``: one site's conductance against its LE
multiplier), then by data share.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from bayeslsm.infer import names as site_names

__all__ = ["PreflightReport", "preflight"]


@dataclasses.dataclass
class PreflightReport:
    """Result of :func:`preflight` (plain numpy / Python values; :meth:`as_dict` for JSON)."""

    labels: list[str]
    map_values: dict[str, Any]
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray  # (n, n): column k is direction k, ascending eigenvalues
    data_share: np.ndarray
    sloppy: list[dict]
    marginal_sd: dict[str, float]
    log_density: float
    converged: bool
    message: str
    wall_seconds: dict[str, float]

    @property
    def condition_number(self) -> float:
        lam = self.eigenvalues
        return float(lam[-1] / lam[0]) if lam.size and lam[0] > 0 else float("inf")

    def as_dict(self) -> dict:
        return {
            "labels": list(self.labels),
            "map": {k: np.asarray(v).tolist() for k, v in self.map_values.items()},
            "eigenvalues": self.eigenvalues.tolist(),
            "data_share": self.data_share.tolist(),
            "condition_number": self.condition_number if np.isfinite(self.condition_number) else None,
            "sloppy": self.sloppy,
            "laplace_marginal_sd": self.marginal_sd,
            "log_density_at_map": self.log_density,
            "optimiser_converged": self.converged,
            "optimiser_message": self.message,
            "wall_seconds": self.wall_seconds,
            "method": "MAP (L-BFGS on the NumPyro potential) + jax.hessian in log-parameter coordinates "
                      "(bayeslsm.diagnostics.identifiability)",
        }

    def summary(self, max_lines: int = 8) -> str:
        """A few lines for the console."""
        lines = [f"preflight: {len(self.labels)} latent coordinates, condition number "
                 f"{self.condition_number:.3g}, MAP {'converged' if self.converged else 'NOT converged'} "
                 f"({self.wall_seconds.get('total', 0):.1f} s)"]
        if not self.sloppy:
            lines.append("preflight: no sloppy direction (every eigen-direction is mostly informed by the data)")
        for s in self.sloppy[:max_lines]:
            combo = " ".join(f"{w:+.2f} {n}" for n, w in s["combination"].items())
            sd = "n/a (curvature <= 0)" if s["sd"] is None else f"{s['sd']:.3g}"
            lines.append(f"preflight: sloppy (data share {s['data_share']:.2f}, sd {sd}): {combo}; "
                         f"advice: {s['advice']}")
        if len(self.sloppy) > max_lines:
            lines.append(f"preflight: ... and {len(self.sloppy) - max_lines} more sloppy directions (preflight.json)")
        return "\n".join(lines)

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write :meth:`as_dict` to ``path`` atomically (temporary file + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(_jsonable(self.as_dict()), indent=1, allow_nan=False) + "\n"
        from bayeslsm.data.atomic import write_text_atomic

        return write_text_atomic(path, text)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, (np.floating, np.integer)):
        return _jsonable(obj.item())
    return obj


def _labels_and_log_map(cal, flat_names: list[tuple[str, tuple]], trace) -> tuple[list[str], list]:
    """Coordinate labels and, per latent, a function z -> log-coordinate (or None for identity)."""
    import jax.numpy as jnp
    from numpyro.distributions import constraints

    specs = cal.catalogue.parameters
    labels, maps = [], []
    for name, shape in flat_names:
        size = int(np.prod(shape)) if shape else 1
        if name.startswith("_z_") and name[3:] in specs:
            pname, spec = name[3:], specs[name[3:]]
            base = f"log {pname}" if spec.lower > 0 or spec.transform == "log" else pname
            fn = (lambda z, spec=spec: jnp.log(spec.from_unconstrained(z))) if base.startswith("log ") else None
        else:
            site = trace.get(name)
            positive = site is not None and site["fn"].support in (constraints.positive,)
            base = f"log {name}" if positive else name
            fn = None  # NumPyro's unconstrained coordinate of a positive site is already its log
        maps.append(fn)
        if size == 1:
            labels.append(base)
        elif shape and shape[0] == cal.n_site and len(shape) == 1:
            labels += [f"{base}[{s}]" for s in cal.sites]
        elif shape and shape[0] == len(cal.pfts) and len(shape) == 1:
            labels += [f"{base}[{p}]" for p in cal.pfts]
        else:
            labels += [f"{base}[{i}]" for i in range(size)]
    return labels, maps


def _advice(cal, names: list[str], trace) -> str:
    specs = cal.catalogue.parameters
    bias_err = {n for sd in cal.streams for n in list(sd.config.bias.site_names(sd.config.name).values())
                + list(sd.config.error.site_names(sd.config.name).values())}
    tips = []
    for lab in names:
        core = lab.removeprefix("log ").split("[")[0]
        parsed = site_names.parse(core)
        if parsed.role == "eps" and parsed.param in specs:
            tips.append(f"pool {parsed.param} at the PFT level (hierarchy.pft_only) or take it out of the hierarchy")
        elif parsed.role == "latent_pft" and parsed.param in specs:
            pft = lab.split("[", 1)[1].rstrip("]") if "[" in lab else "a PFT"
            tips.append(f"{parsed.param} at {pft}: its PFT value is barely informed; give it an informative PFT "
                        f"prior, fix it for that PFT (fixed_by_pft) or non-centre its PFT level "
                        f"(hierarchy.pft_centered)")
        elif parsed.role in ("eps", "eps_pft", "sd_site", "sd_pft", "mu"):
            tips.append(f"{core}: a hierarchy level the data barely inform; simplify the hierarchy or tighten its prior")
        elif core in bias_err or any(core.startswith(b) for b in bias_err):
            tips.append(f"{core}: give it an informative prior, fix it, or add a stream without that bias")
        elif core in specs:
            key = cal.pfts[0] if len(cal.pfts) == 1 else "__global__"
            if cal.zpriors[key][core].family in ("uniform", "logistic"):  # flat in x or log x
                tips.append(f"{core}: give it an informative prior (e.g. trait data) or fix it")
            else:
                tips.append(f"{core}: fix it at a literature value or pool it at the PFT level")
    seen = []
    for t in tips:
        if t not in seen:
            seen.append(t)
    if len(names) > 1:
        seen.insert(0, "only a combination is informed")
    return "; ".join(seen) if seen else "no advice"


def preflight(cal, *, max_iter: int = 200, seed: int = 0, min_data_share: float = 0.5, rel_tol: float = 1e-6,
              weight_tol: float = 0.3):
    """MAP, Hessian of the log posterior, its eigen-directions and the sloppy ones, with advice.

    Parameters
    ----------
    cal
        A :class:`~bayeslsm.infer.Calibration` with observations.
    max_iter
        L-BFGS iterations (scipy ``minimize``, ``jac`` from ``jax.value_and_grad``) from the prior
        median (``init_to_median``).
    seed
        Seed of the initialisation.
    min_data_share, rel_tol
        Sloppiness thresholds (module docstring).
    weight_tol
        Smallest ``|v_i|`` listed in a sloppy direction's combination (a direction with none that large
        lists its three largest).

    Returns
    -------
    PreflightReport

    Examples
    --------
    >>> rep = preflight(cal)            # doctest: +SKIP
    >>> print(rep.summary())            # doctest: +SKIP
    """
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from jax.flatten_util import ravel_pytree
    from numpyro.infer import init_to_median
    from numpyro.infer.util import constrain_fn, initialize_model
    from scipy.optimize import minimize

    if not any(sd.obs is not None for sd in cal.streams):
        raise ValueError("preflight needs observations: the calibration has no observed stream")
    t_start = time.perf_counter()
    kwargs = {"obs": cal.observed_arrays()}
    info = initialize_model(jax.random.PRNGKey(seed), cal.numpyro_model, model_kwargs=kwargs,
                            init_strategy=init_to_median(num_samples=15), dynamic_args=False)
    potential = info.potential_fn
    z0 = info.param_info.z
    flat0, unravel = ravel_pytree(z0)
    names = [(k, tuple(np.shape(z0[k]))) for k in sorted(z0)]

    def u_flat(x):
        return potential(unravel(x))

    def loglik(params):
        c = constrain_fn(cal.numpyro_model, (), kwargs, params)
        tr = numpyro.handlers.trace(numpyro.handlers.substitute(cal.numpyro_model, data=c)).get_trace(**kwargs)
        total = 0.0
        for s in tr.values():
            if s["type"] != "sample" or not s.get("is_observed") or isinstance(s["fn"], dist.Unit):
                continue  # EDC factors (Unit) are prior-like constraints
            lp = s["fn"].log_prob(s["value"])
            if s.get("mask") is not None:
                lp = jnp.where(s["mask"], lp, 0.0)
            total = total + jnp.sum(lp)
        return total

    vg = jax.jit(jax.value_and_grad(u_flat))

    def fun(x):
        v, g = vg(jnp.asarray(x))
        v, g = float(v), np.asarray(g, dtype=float)
        if not np.isfinite(v):
            return 1e300, np.zeros_like(g)
        return v, g

    t0 = time.perf_counter()
    res = minimize(fun, np.asarray(flat0, dtype=float), jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter})
    t_map = time.perf_counter() - t0
    x_map = jnp.asarray(res.x)

    t0 = time.perf_counter()
    H = np.asarray(jax.hessian(u_flat)(x_map), dtype=float)
    H_lik = -np.asarray(jax.hessian(lambda x: loglik(unravel(x)))(x_map), dtype=float)
    H_prior = H - H_lik
    t_hess = time.perf_counter() - t0

    # change to log-parameter coordinates: diagonal Jacobian d(log x)/dz per latent element
    tr = numpyro.handlers.trace(numpyro.handlers.seed(numpyro.handlers.substitute(
        cal.numpyro_model, data=constrain_fn(cal.numpyro_model, (), kwargs, unravel(x_map))), 0)).get_trace(**kwargs)
    labels, maps = _labels_and_log_map(cal, names, tr)
    zmap = unravel(x_map)
    jdiag = []
    for (name, shape), fn in zip(names, maps):
        size = int(np.prod(shape)) if shape else 1
        if fn is None:
            jdiag.append(np.ones(size))
        else:
            d = jax.vmap(jax.grad(fn))(jnp.reshape(zmap[name], (-1,)))
            jdiag.append(np.asarray(d, dtype=float).reshape(-1))
    jdiag = np.concatenate(jdiag) if jdiag else np.ones(0)
    Jinv = 1.0 / jdiag
    H_log = H * Jinv[:, None] * Jinv[None, :]
    Hp_log = H_prior * Jinv[:, None] * Jinv[None, :]
    H_log = 0.5 * (H_log + H_log.T)
    lam, V = np.linalg.eigh(H_log)
    with np.errstate(divide="ignore", invalid="ignore"):
        prior_curv = np.einsum("ik,ij,jk->k", V, Hp_log, V)
        share = np.where(lam > 0, 1.0 - prior_curv / lam, 0.0)
    lam_max = float(np.max(np.abs(lam))) if lam.size else 0.0
    sloppy = []
    for k in range(lam.size):
        if not (share[k] < min_data_share or lam[k] < rel_tol * lam_max):
            continue
        v = V[:, k] * (np.sign(V[np.argmax(np.abs(V[:, k])), k]) or 1.0)
        big = np.argsort(-np.abs(v))
        # a diffuse direction (no coordinate reaches weight_tol) still names its three largest ones
        keep = [i for i in big if abs(v[i]) >= weight_tol] or list(big[:3])
        combo = {labels[i]: float(round(v[i], 3)) for i in keep}
        sloppy.append({"eigenvalue": float(lam[k]), "sd": float(1 / np.sqrt(lam[k])) if lam[k] > 0 else None,
                       "data_share": float(share[k]), "combination": combo,
                       "advice": _advice(cal, list(combo), tr)})
    def _base(label):
        return site_names.parse(label.removeprefix("log ").split("[")[0]).param

    def _hyper(label):
        return site_names.parse(label.removeprefix("log ").split("[")[0]).role in (
            "sd_site", "sd_pft", "mu", "pft", "eps_pft", "latent_pft")

    for s_ in sloppy:
        s_["parameters"] = sorted({_base(lab) for lab in s_["combination"] if not _hyper(lab)})
    sloppy.sort(key=lambda d: (-len(d["parameters"]), d["data_share"]))
    # Laplace marginal sds in log-parameter coordinates (where H is positive definite)
    marginal = {}
    if lam.size and lam[0] > 0:
        cov = (V / lam) @ V.T
        marginal = {lab: float(np.sqrt(max(cov[i, i], 0.0))) for i, lab in enumerate(labels)}
    map_values = {k: np.asarray(v) for k, v in constrain_fn(cal.numpyro_model, (), kwargs, zmap,
                                                             return_deterministic=True).items()
                  if not k.startswith("_") and k in cal._posterior_sites()}
    wall = {"map": t_map, "hessian": t_hess, "total": time.perf_counter() - t_start}
    return PreflightReport(labels=labels, map_values=map_values, eigenvalues=lam, eigenvectors=V, data_share=share,
                           sloppy=sloppy, marginal_sd=marginal, log_density=float(-res.fun),
                           converged=bool(res.success), message=str(res.message), wall_seconds=wall)
