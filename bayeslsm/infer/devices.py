"""Splitting a batch (chains, posterior draws) over the local XLA devices.

On CPU, :mod:`bayeslsm._xla` exposes the cores as XLA host devices; one jitted computation runs on one of
them, i.e. on one core.  A batch of independent items (ChEES chains, draws of the posterior predictive)
is split evenly over the devices with :func:`jax.shard_map` and each device ``vmap``s its share, so both
cores work (the items never communicate).  On an accelerator the batch stays on one device.
"""

from __future__ import annotations

import os

import jax
import numpy as np

__all__ = ["n_devices", "sharded_vmap"]


def n_devices(n_items: int, devices: int | None = None) -> int:
    """How many local devices to split ``n_items`` over: ``devices``, or by default (CPU) as many as there
    are both devices and cores, reduced to a divisor of ``n_items``; 1 on an accelerator."""
    avail = len(jax.local_devices())
    if devices is None:
        devices = min(avail, os.cpu_count() or 1) if jax.default_backend() == "cpu" else 1
    if not 1 <= int(devices) <= avail:
        raise ValueError(f"`devices` must be between 1 and the {avail} local devices; got {devices!r}")
    n = int(devices)
    while n_items % n:
        n -= 1
    return n


def sharded_vmap(fn, n_dev: int, batched: tuple[bool, ...]):
    """``vmap(fn)`` over the leading axis of the arguments flagged in ``batched`` (the others are shared),
    split over the first ``n_dev`` local devices; outputs are batched along their leading axis.  Not jitted:
    call it inside :func:`jax.jit`."""
    from jax.sharding import Mesh, PartitionSpec as P

    inner = jax.vmap(fn, in_axes=tuple(0 if b else None for b in batched))
    if n_dev == 1:
        return inner
    mesh = Mesh(np.array(jax.local_devices()[:n_dev]), ("batch",))
    return jax.shard_map(inner, mesh=mesh, in_specs=tuple(P("batch") if b else P() for b in batched),
                         out_specs=P("batch"), check_vma=False)
