"""``bayeslsm emulate``: a command line black box, calibrated from a TOML file."""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("tinygp")

from bayeslsm.cli import main

MODEL = textwrap.dedent("""
    import json, math, sys
    p = json.load(open(sys.argv[1]))
    rows = [p["a"] * math.exp(-i / 7) + p["b"] * i / 7 for i in range(8)]
    open(sys.argv[2], "w").write("y\\n" + "".join(f"{v!r}\\n" for v in rows))
""")  # plain Python (no numpy import): each exact run is a short subprocess


def _files(tmp_path, sigma=0.05):
    (tmp_path / "model.py").write_text(MODEL)
    t = np.linspace(0.0, 1.0, 8)
    y = 1.2 * np.exp(-t) + 0.4 * t + sigma * np.random.default_rng(0).standard_normal(8)
    np.savetxt(tmp_path / "obs.csv", y[:, None], delimiter=",", header="y", comments="")
    spec = textwrap.dedent(f"""
        [model]
        command = [{json.dumps(sys.executable)}, "-S", "{tmp_path / 'model.py'}", "{{params}}", "{{outputs}}"]
        key = "toy-v1"
        [parameters]
        a = [0.0, 3.0]
        b = [-1.0, 1.0]
        [observations]
        file = "obs.csv"
        sigma = {{ y = {sigma} }}
        [emulator]
        n_design = 16
        rounds = 0
        n_correct = 40
        chains = 1
        warmup = 150
        draws = 300
    """)
    (tmp_path / "spec.toml").write_text(spec)
    return tmp_path / "spec.toml"


@pytest.mark.slow
def test_emulate_command(tmp_path, capsys):
    spec = _files(tmp_path)
    out = tmp_path / "out"
    assert main(["emulate", str(spec), "--out", str(out), "--processes", "2", "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_exact"] == 16 + 40
    assert summary["n_exact_by_stage"] == {"design": 16, "active_learning": 0, "correction": 40}
    assert summary["khat"] < 0.7  # k-hat may be negative (light-tailed weights)
    # a linear-Gaussian problem with flat priors: the exact posterior is N(least squares, sigma^2 (A'A)^-1)
    # (its mass is far inside the bounds). Tolerance: 4 Monte Carlo standard errors, sd / sqrt(PSIS ESS).
    t = np.arange(8) / 7
    A = np.column_stack([np.exp(-t), t])
    y = np.loadtxt(tmp_path / "obs.csv", skiprows=1)
    mean = np.linalg.lstsq(A, y, rcond=None)[0]
    sd = np.sqrt(np.diag(0.05**2 * np.linalg.inv(A.T @ A)))
    for i, k in enumerate(("a", "b")):
        s = summary["corrected"][k]
        assert abs(s["mean"] - mean[i]) < 4 * sd[i] / np.sqrt(summary["psis_ess"]), (k, s, mean[i], sd[i])
        assert abs(s["sd"] / sd[i] - 1) < 4 / np.sqrt(2 * summary["psis_ess"]), (k, s, sd[i])
    assert (out / "posterior.nc").is_file()
    assert "k-hat" in capsys.readouterr().out
    # rerun: the ensemble cache holds every design and correction point already
    n_cached = len(list((out / "cache").glob("*.npz")))
    assert n_cached == 16 + 40


def test_emulate_bad_spec(tmp_path, capsys):
    spec = _files(tmp_path)
    spec.write_text(spec.read_text().replace("a = [0.0, 3.0]", "a = [3.0, 0.0]"))
    assert main(["emulate", str(spec), "--out", str(tmp_path / "out")]) == 2
    assert "[parameters] a must be [lower, upper]" in capsys.readouterr().err
