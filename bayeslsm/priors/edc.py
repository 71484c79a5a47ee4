"""DALEC's ecological and dynamic constraints (EDCs) as smooth log-potentials.

Bloom & Williams (2015, doi:10.5194/bg-12-1299-2015) reject parameter sets that violate ecological
common sense (EDCs).  A hard 0/1 rejection has no gradient, so here each constraint ``g <= 0`` adds
``log_sigmoid(-g / softness)`` to the log density: ≈ 0 well inside the constraint, falling linearly
(slope ``1/softness``) outside it.  NUTS can follow that.  Constraints (switchable by name):

``som_slower_than_litter``  (EDC 1)
    SOM mineralisation slower than litter mineralisation: ``g = log θ_som − log θ_lit``.
``wood_slower_than_roots``  (EDC 3-type turnover ordering)
    ``g = log θ_woo − log θ_roo``.
``root_foliage_allocation``  (EDC 4)
    Root:foliage allocation ratio ``(1−f_fol)(1−f_lab) f_roo / f_fol`` within [0.2, 5]:
    ``g = |log ratio| − log 5``.
``pool_growth``  (dynamic EDC, exponential growth)
    Every pool's mean exponential growth rate over the run ``|log(C_end / C_start)| / years`` below
    0.1 yr⁻¹: ``g = rate − 0.1`` per pool (summed potentials).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

__all__ = ["EDC_NAMES", "EDCSet"]

EDC_NAMES = ("som_slower_than_litter", "wood_slower_than_roots", "root_foliage_allocation", "pool_growth")
_POOLS = ("C_lab_end", "C_fol_end", "C_roo_end", "C_woo_end", "C_lit_end", "C_som_end")


def _pot(g, softness):
    return jax.nn.log_sigmoid(-g / softness)


@dataclass(frozen=True)
class EDCSet:
    """A chosen set of EDCs with a common softness (in the units of each ``g``, log units mostly)."""

    names: tuple[str, ...] = EDC_NAMES
    softness: float = 0.05
    max_growth_per_year: float = 0.1

    @classmethod
    def from_spec(cls, spec, model_name: str) -> "EDCSet":
        if model_name not in ("dalec2", "dalec2_water"):
            raise ValueError(f"EDCs are defined for DALEC2 models only; model is {model_name!r}")
        names = EDC_NAMES if spec is True else tuple(spec)
        unknown = [n for n in names if n not in EDC_NAMES]
        if unknown:
            raise ValueError(f"unknown EDC name(s) {unknown}; expected any of {list(EDC_NAMES)}")
        return cls(names=names)

    def log_potential(self, params, init, outputs):
        """Sum of log-potentials over constraints and sites (params leaves (site,), outputs (site, T))."""
        total = 0.0
        s = self.softness
        if "som_slower_than_litter" in self.names:
            total = total + jnp.sum(_pot(jnp.log(params.theta_som) - jnp.log(params.theta_lit), s))
        if "wood_slower_than_roots" in self.names:
            total = total + jnp.sum(_pot(jnp.log(params.theta_woo) - jnp.log(params.theta_roo), s))
        if "root_foliage_allocation" in self.names:
            ratio = (1 - params.f_fol) * (1 - params.f_lab) * params.f_roo / params.f_fol
            total = total + jnp.sum(_pot(jnp.abs(jnp.log(ratio)) - jnp.log(5.0), s))
        if "pool_growth" in self.names:
            n_days = getattr(outputs, _POOLS[0]).shape[-1]
            years = n_days / 365.25
            for pool in _POOLS:
                c = getattr(outputs, pool)
                first = jnp.maximum(c[..., 0], 1e-6)
                last = jnp.maximum(c[..., -1], 1e-6)  # guards log of a (physically meaningless) negative pool
                rate = jnp.abs(jnp.log(last / first)) / years
                total = total + jnp.sum(_pot(rate - self.max_growth_per_year, s))
        return total
