"""Free parameters, their priors in unconstrained space, and the PFT -> site hierarchy.

Every free parameter ``x`` with catalogue bounds is sampled as an unconstrained ``z`` with
``x = spec.from_unconstrained(z)`` (log or scaled-logit transform from ``models/*.toml``), so NUTS
never meets a bound and nothing is clipped.  The catalogue prior is expressed in ``z``:

=================  =========================  ==========================================================
transform          catalogue prior            prior of ``z``
=================  =========================  ==========================================================
logit (bounded)    uniform over the bounds    Logistic(0, 1)  (exactly uniform ``x``)
log                uniform over the bounds    Uniform(log lower, log upper)  (log-uniform ``x``)
log                lognormal(median, s)       Normal(log median, s)
logit              lognormal / normal         Normal(z(centre), s_z), s_z from the local slope dz/dx
identity           normal(mean, sd)           Normal(mean, sd)
=================  =========================  ==========================================================

Hierarchy (:class:`Hierarchy`) for a chosen set of parameters, in ``z`` (non-centred by default,
Papaspiliopoulos et al. 2007, doi:10.1214/08834230700000014; NumPyro ``examples/funnel.py``)::

    mu_global       ~ Normal(m, s)                  (the global catalogue prior, Normal approximation)
    sd_pft, sd_site ~ HalfNormal(pft_scale), HalfNormal(site_scale)
    z_pft[k]        = mu_global + sd_pft  * eps_pft[k]      eps ~ Normal(0, 1), plate "pft"
    z_site[i]       = z_pft[pft(i)] + sd_site * eps_site[i]                     plate "site"

Parameters listed in ``pft_only`` (a subset of ``params``) stop at the PFT level:
``z_site[i] = z_pft[pft(i)]`` (no ``sd_site``, no site deviations). Use it for a parameter that the
data cannot separate from another one site by site (DALEC's ``clma`` against ``ceff``: GPP sees
``ceff x C_fol / clma``), so that it is informed by every site of its PFT together.

With a single PFT among the sites the PFT level is dropped (``z_pft = mu_global``): it is not
identifiable and only adds a funnel.  ``mode="pooled"`` gives one value for every site; ``mode="unpooled"`` independent site values
from each site's PFT prior.  Parameters outside the hierarchy are shared by all sites.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

__all__ = ["Hierarchy", "ZPrior", "z_prior", "sample_parameters"]

HIERARCHY_MODES = ("partial", "pooled", "unpooled")


@dataclass(frozen=True)
class Hierarchy:
    """Which parameters vary by PFT and site, and how.

    Parameters
    ----------
    params
        Free parameter names that vary across sites.
    mode
        ``"partial"`` (global -> PFT -> site partial pooling), ``"pooled"`` or ``"unpooled"``.
    centered
        Use the centred parametrisation (default False: non-centred).
    pft_scale, site_scale
        HalfNormal scales of the between-PFT and between-site spreads, in unconstrained units.
    pft_only
        Parameters of ``params`` pooled at the PFT level only (one value per PFT; ``mode="partial"``).
    """

    params: tuple[str, ...] = ()
    mode: str = "partial"
    centered: bool = False
    pft_scale: float = 0.5
    site_scale: float = 0.3
    pft_only: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "params", tuple(self.params))
        object.__setattr__(self, "pft_only", tuple(self.pft_only))
        for n in self.pft_only:
            if n not in self.params:
                raise ValueError(f"`hierarchy.pft_only` parameter {n!r} is not in `hierarchy.params` {list(self.params)}")
        if self.mode not in HIERARCHY_MODES:
            raise ValueError(f"`hierarchy.mode` must be one of {HIERARCHY_MODES}; got {self.mode!r}")
        for n, v in (("pft_scale", self.pft_scale), ("site_scale", self.site_scale)):
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"`hierarchy.{n}` must be a positive number; got {v!r}")


@dataclass(frozen=True)
class ZPrior:
    """Prior of a parameter in unconstrained space: ``family`` in {normal, logistic, uniform}."""

    family: str
    a: float
    b: float

    def distribution(self):
        if self.family == "normal":
            return dist.Normal(self.a, self.b)
        if self.family == "logistic":
            return dist.Logistic(self.a, self.b)
        if self.family == "uniform":
            return dist.Uniform(self.a, self.b)
        raise ValueError(f"unknown z-prior family {self.family!r}")

    def normal_approx(self) -> tuple[float, float]:
        """(mean, sd) of a Normal with the same first two moments (for hyper-priors)."""
        if self.family == "normal":
            return self.a, self.b
        if self.family == "logistic":
            return self.a, self.b * np.pi / np.sqrt(3.0)
        return 0.5 * (self.a + self.b), (self.b - self.a) / np.sqrt(12.0)


def _get(obj, *names, default=None):
    for n in names:
        if isinstance(obj, Mapping) and n in obj:
            return obj[n]
        if hasattr(obj, n):
            v = getattr(obj, n)
            if v is not None:
                return v
    return default


def z_prior(spec, prior) -> ZPrior:
    """Translate a catalogue prior into a prior on the unconstrained ``z`` (table in module doc)."""
    transform = spec.transform
    family = _get(prior, "dist", "family", default="uniform") if prior is not None else "uniform"
    lo, hi = float(spec.lower), float(spec.upper)
    if family == "uniform":
        if transform == "logit":
            return ZPrior("logistic", 0.0, 1.0)
        if transform == "log":
            return ZPrior("uniform", float(np.log(lo)), float(np.log(hi)))
        return ZPrior("uniform", lo, hi)
    if family in ("lognormal", "log_normal"):
        median = float(_get(prior, "median", "loc"))
        s_log = float(_get(prior, "sigma_log", "sigma", "scale"))
        if transform == "log":
            return ZPrior("normal", float(np.log(median)), s_log)
        centre, slope = median, median  # d x / d log x = x
        s_x = s_log * slope
    elif family in ("normal", "truncnormal", "truncated_normal"):
        centre = float(_get(prior, "mean", "loc", "median"))
        s_x = float(_get(prior, "sd", "std", "scale", "sigma"))
        if transform == "identity":
            return ZPrior("normal", centre, s_x)
        if transform == "log":
            return ZPrior("normal", float(np.log(centre)), s_x / centre)
    else:
        raise ValueError(f"parameter {spec.name!r}: unknown prior distribution {family!r}")
    # scaled logit: z = logit((x - lo) / (hi - lo)); dz/dx = (hi - lo) / ((x - lo)(hi - x))
    centre = float(np.clip(centre, lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo)))
    z0 = float(spec.to_unconstrained(centre))
    dzdx = (hi - lo) / ((centre - lo) * (hi - centre))
    return ZPrior("normal", z0, max(s_x * dzdx, 1e-3))


def sample_parameters(
    free: tuple[str, ...],
    specs: Mapping[str, Any],
    zpriors_by_pft: Mapping[str, Mapping[str, ZPrior]],
    site_pft_index: np.ndarray,
    pfts: tuple[str, ...],
    hierarchy: Hierarchy,
) -> dict[str, jnp.ndarray]:
    """NumPyro sample statements for the free parameters.

    Returns a dict name -> constrained value, either a scalar (shared) or shape (site,).
    Deterministic sites record the constrained values under the parameter's own name; PFT-level
    values are recorded as ``{name}_pft`` (dim ``pft``).
    """
    n_site = int(site_pft_index.shape[0])
    site_pfts = [pfts[k] for k in site_pft_index]
    out = {}
    for name in free:
        spec = specs[name]
        if name in hierarchy.params and n_site > 1 and hierarchy.mode != "pooled":
            if hierarchy.mode == "unpooled":
                with numpyro.plate("site", n_site, dim=-1):
                    locs = np.array([zpriors_by_pft[p][name].normal_approx()[0] for p in site_pfts])
                    scales = np.array([zpriors_by_pft[p][name].normal_approx()[1] for p in site_pfts])
                    z = numpyro.sample(f"_z_{name}", dist.Normal(locs, scales))
            else:
                m, s = zpriors_by_pft["__global__"][name].normal_approx()
                mu = numpyro.sample(f"{name}_mu", dist.Normal(m, s))
                pft_only = name in hierarchy.pft_only
                if not pft_only:
                    sd_site = numpyro.sample(f"{name}_sd_site", dist.HalfNormal(hierarchy.site_scale))
                if len(pfts) == 1:
                    # one PFT: the PFT level is not identifiable from the data (a pure prior funnel);
                    # the PFT mean is the global mean.
                    z_pft = jnp.reshape(mu, (1,))
                else:
                    sd_pft = numpyro.sample(f"{name}_sd_pft", dist.HalfNormal(hierarchy.pft_scale))
                    with numpyro.plate("pft", len(pfts), dim=-1):
                        if hierarchy.centered:
                            z_pft = numpyro.sample(f"_z_{name}_pft", dist.Normal(mu, sd_pft))
                        else:
                            eps = numpyro.sample(f"_eps_{name}_pft", dist.Normal(0.0, 1.0))
                            z_pft = mu + sd_pft * eps
                if pft_only:
                    z = z_pft[site_pft_index]
                else:
                    with numpyro.plate("site", n_site, dim=-1):
                        if hierarchy.centered:
                            z = numpyro.sample(f"_z_{name}", dist.Normal(z_pft[site_pft_index], sd_site))
                        else:
                            eps = numpyro.sample(f"_eps_{name}", dist.Normal(0.0, 1.0))
                            z = z_pft[site_pft_index] + sd_site * eps
                numpyro.deterministic(f"{name}_pft", spec.from_unconstrained(z_pft))
        else:
            key = site_pfts[0] if len(set(site_pfts)) == 1 else "__global__"
            z = numpyro.sample(f"_z_{name}", zpriors_by_pft[key][name].distribution())
        x = numpyro.deterministic(name, spec.from_unconstrained(z))
        out[name] = x
    return out
