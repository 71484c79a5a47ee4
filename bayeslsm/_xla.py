"""XLA:CPU configuration applied before JAX is imported.

Reverse-mode ``jax.lax.scan`` over thousands of days compiles, on XLA:CPU, into a while loop whose body
is dispatched as many small kernels unless the *small-while-loop* threshold is raised.  Raising it with

    XLA_FLAGS=--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=1000000000

lets XLA compile the loop body as one function.  ``benchmarks/xla_flag.py`` measures the effect on the
package's models.  The bare flag name (``--xla_cpu_small_while_loop_byte_threshold``) is not a registered
XLA flag and aborts the process, so it must be passed through ``--xla_backend_extra_options``.

Rules (see :func:`configure`):

* a user's existing ``XLA_FLAGS`` are kept; the option is appended to them, never replaces them;
* if the user already set ``--xla_backend_extra_options`` we leave it alone (XLA takes one value);
* setting ``BAYESLSM_NO_XLA_FLAGS=1`` disables all of this;
* if ``jax`` was imported before ``bayeslsm``, XLA has read its flags already: we warn once.

It also exposes the CPU as several XLA host devices (``--xla_force_host_platform_device_count``: the
number of cores, at least 4 so that the default 4 chains run in parallel, at most 8) unless the user
set that flag, so that NUTS chains can run with ``chain_method="parallel"`` (the demo's 4 chains on 2
cores: 4 devices sampled in 12 s where 2 devices, which forces sequential chains, took 104 s, part of
that from a harder posterior; see the closing notes).  Single-device code is unaffected: it runs on
device 0 with the same thread pool.
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["SMALL_WHILE_LOOP_OPTION", "configure", "xla_flag_applied"]

SMALL_WHILE_LOOP_OPTION = "xla_cpu_small_while_loop_byte_threshold=1000000000"
_EXTRA = "--xla_backend_extra_options"
_state = {"applied": False, "warned": False}


def _merge(flags: str) -> tuple[str, bool]:
    """Return ``(new_flags, changed)`` with the small-while-loop option merged into ``flags``."""
    if SMALL_WHILE_LOOP_OPTION.split("=")[0] in flags:
        return flags, False
    if _EXTRA in flags:
        # XLA keeps a single value for --xla_backend_extra_options; never overwrite the user's.
        return flags, False
    new = f"{flags} {_EXTRA}={SMALL_WHILE_LOOP_OPTION}".strip()
    return new, True


def configure() -> bool:
    """Add the small-while-loop option to ``XLA_FLAGS`` if it is safe to do so.

    Returns
    -------
    bool
        True when the option is in effect for this process (set by us or by the user before JAX
        initialised its backend).
    """
    if os.environ.get("BAYESLSM_NO_XLA_FLAGS", "") not in ("", "0"):
        return False
    flags = os.environ.get("XLA_FLAGS", "")
    jax_loaded = "jax" in sys.modules or "jaxlib" in sys.modules
    if SMALL_WHILE_LOOP_OPTION.split("=")[0] in flags:
        _state["applied"] = True
        return True
    if jax_loaded:
        if not _state["warned"]:
            _state["warned"] = True
            warnings.warn(
                "jax was imported before bayeslsm, so bayeslsm could not raise XLA:CPU's small-while-loop "
                "threshold; reverse-mode gradients through long scans may be ~10x slower on CPU. Import "
                "bayeslsm first, or set XLA_FLAGS="
                f"'{_EXTRA}={SMALL_WHILE_LOOP_OPTION}' before starting Python.",
                RuntimeWarning,
                stacklevel=3,
            )
        return False
    new, changed = _merge(flags)
    if "--xla_force_host_platform_device_count" not in new:
        ncores = max(4, min(os.cpu_count() or 1, 8))
        new = f"{new} --xla_force_host_platform_device_count={ncores}".strip()
    if changed or new != flags:
        os.environ["XLA_FLAGS"] = new
        _state["applied"] = True
    return _state["applied"]


def xla_flag_applied() -> bool:
    """Whether the small-while-loop option is present in this process's ``XLA_FLAGS``."""
    return SMALL_WHILE_LOOP_OPTION.split("=")[0] in os.environ.get("XLA_FLAGS", "")
