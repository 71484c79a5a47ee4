"""bayeslsm applies the XLA:CPU small-while-loop option safely (each case in a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


OPTION = "xla_cpu_small_while_loop_byte_threshold=1000000000"


def _run(code: str, env_extra: dict | None = None, drop=("XLA_FLAGS", "BAYESLSM_NO_XLA_FLAGS")):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_extra or {})
    res = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    return res


PROBE = "import bayeslsm, os, json, jax; print(json.dumps([os.environ.get('XLA_FLAGS', ''), jax.local_device_count()]))"


def test_flag_is_added_and_jax_starts():
    flags, ndev = json.loads(_run(PROBE).stdout.strip().splitlines()[-1])
    assert f"--xla_backend_extra_options={OPTION}" in flags
    assert ndev >= 1


def test_user_flags_are_kept():
    user = "--xla_cpu_enable_fast_math=false"
    flags, _ = json.loads(_run(PROBE, {"XLA_FLAGS": user}).stdout.strip().splitlines()[-1])
    assert user in flags and OPTION in flags


def test_user_extra_options_are_not_overwritten():
    user = "--xla_backend_extra_options=xla_cpu_parallel_codegen_split_count=4"
    flags, _ = json.loads(_run(PROBE, {"XLA_FLAGS": user}).stdout.strip().splitlines()[-1])
    assert user in flags and OPTION not in flags


def test_user_device_count_is_kept():
    user = "--xla_force_host_platform_device_count=3"
    flags, ndev = json.loads(_run(PROBE, {"XLA_FLAGS": user}).stdout.strip().splitlines()[-1])
    assert flags.count("xla_force_host_platform_device_count") == 1 and ndev == 3


def test_opt_out():
    flags, _ = json.loads(_run(PROBE, {"BAYESLSM_NO_XLA_FLAGS": "1"}).stdout.strip().splitlines()[-1])
    assert OPTION not in flags


def test_warns_once_when_jax_came_first():
    res = _run("import jax, bayeslsm, importlib; from bayeslsm import _xla; _xla.configure(); print('ok')")
    assert res.stderr.count("jax was imported before bayeslsm") == 1
