"""Rematerialised scan (``remat``): the gradient is the same function, only evaluated in another order."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeslsm.data.synthetic import weather_generator
from bayeslsm.infer import model_forcing
from bayeslsm.lsm import DALEC2Water, simulate
from bayeslsm.lsm.core import REMAT_POLICIES


def _loss_and_args():
    model = DALEC2Water(water_stress=True)
    forcing = jax.tree.map(jnp.asarray, model_forcing(model, weather_generator(years=1, lat=50.0, seed=2)))
    forcing = jax.tree.map(lambda a: a[0], forcing)  # one site
    params = model.params(model.DEFAULTS)
    init = model.initial_state(model.DEFAULTS)

    def loss(p, remat):
        out = simulate(model, p, forcing, init, remat=remat)
        return jnp.sum(out.NEE ** 2) + jnp.sum(out.LE) + jnp.sum(jnp.log(out.LAI))

    return loss, params


@pytest.mark.parametrize("remat", [r for r in REMAT_POLICIES if r != "none"])
def test_remat_gradient_equals_plain_gradient(remat):
    loss, params = _loss_and_args()
    v0, g0 = jax.jit(jax.value_and_grad(loss), static_argnums=1)(params, "none")
    v1, g1 = jax.jit(jax.value_and_grad(loss), static_argnums=1)(params, remat)
    assert float(v0) == float(v1)  # the forward pass is the same computation
    for name, a, b in zip(params._fields, g0, g1):
        a, b = float(a), float(b)
        assert np.isfinite(a), name
        # same operations in a different order: equal to a few float64 rounding errors of the sum over
        # 365 days (relative 1e-12 leaves ~4 orders of magnitude of headroom over 365 * 2.2e-16)
        assert b == pytest.approx(a, rel=1e-12, abs=1e-12 * (abs(a) + 1e-300)), name


def test_unknown_remat_is_named():
    loss, params = _loss_and_args()
    with pytest.raises(ValueError, match="remat"):
        loss(params, "everything")
