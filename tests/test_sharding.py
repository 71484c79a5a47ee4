"""Sharding the site axis of the joint (hierarchical) posterior over devices (``Calibration(shard_sites=...)``).

On CPU bayeslsm exposes the cores as XLA host devices (at least 4, :mod:`bayeslsm._xla`), so the GPU path
(one device per GPU) runs here on host devices: same program, same partitioning.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
import xarray as xr

from bayeslsm.data.synthetic import weather_generator
from bayeslsm.infer import Calibration, ConfigurationError, twin_experiment

pytestmark = pytest.mark.skipif(jax.local_device_count() < 2, reason="needs several XLA devices")

STREAMS = [{"name": "NEE", "support": "daily", "error": {"kind": "gaussian", "sigma": 0.5}}]
SITES = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def problem():
    fs = [weather_generator(years=1, lat=45.0 + 2 * i, seed=20 + i) for i in range(len(SITES))]
    forcing = xr.concat([f.drop_vars("lat") for f in fs], dim="site").assign_coords(
        site=SITES, lat=("site", [45.0 + 2 * i for i in range(len(SITES))]), pft=("site", ["DBF"] * len(SITES)))
    truth = {"LUE": np.array([0.002, 0.0025, 0.003, 0.0022]), "GAMMA": 0.45}
    obs, _ = twin_experiment("vsem", forcing, STREAMS, truth, gaps=0.2, seed=3)
    kw = {"free": ["LUE", "GAMMA"], "hierarchy": {"params": ["LUE"]}}
    return (Calibration("vsem", forcing, obs, STREAMS, **kw),
            Calibration("vsem", forcing, obs, STREAMS, shard_sites=True, **kw))


def test_forward_pass_is_sharded_over_devices_and_equal(problem):
    plain, sharded = problem
    n_dev = min(jax.local_device_count(), len(SITES))
    assert len(sharded.site_sharding.mesh.devices.ravel()) in {d for d in range(2, n_dev + 1) if len(SITES) % d == 0}
    values = {"LUE": np.array([0.002, 0.0021, 0.0031, 0.0024]), "GAMMA": 0.5}
    a = plain.simulate(values)
    b = sharded.simulate(values)
    for name in a._fields:
        xa, xb = np.asarray(getattr(a, name)), getattr(b, name)
        # the site axis really is split: each device holds a slice of the sites
        assert len(xb.sharding.device_set) == len(sharded.site_sharding.mesh.devices.ravel())
        assert xb.addressable_shards[0].data.shape[0] == len(SITES) // len(xb.sharding.device_set)
        # same operations per site, only placed differently: equal to float64 round-off
        np.testing.assert_allclose(np.asarray(xb), xa, rtol=1e-12, atol=1e-12)


def test_joint_log_density_and_gradient_equal(problem):
    from numpyro.infer.util import initialize_model

    plain, sharded = problem
    out = []
    for cal in (plain, sharded):
        info = initialize_model(jax.random.PRNGKey(0), cal.numpyro_model, model_kwargs={"obs": cal.observed_arrays()})
        z = info.param_info.z
        z = jax.tree_util.tree_map(lambda x: x + 0.1, z)  # away from the initial point
        out.append(jax.jit(jax.value_and_grad(info.potential_fn))(z))
    (va, ga), (vb, gb) = out
    assert np.isfinite(float(va))
    np.testing.assert_allclose(float(vb), float(va), rtol=1e-12)
    for k in ga:
        np.testing.assert_allclose(np.asarray(gb[k]), np.asarray(ga[k]), rtol=1e-10, atol=1e-12)


def test_parallel_chains_refused_with_sharding(problem):
    with pytest.raises(ConfigurationError, match="shard_sites"):
        problem[1].nuts(chains=2, warmup=2, draws=2, chain_method="parallel", progress=False)
