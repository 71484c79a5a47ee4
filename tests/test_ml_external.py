"""Black-box model interface: designs, cached parallel ensembles (resumable), command line models."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("SALib")

from bayeslsm.ml import CommandModel, ExternalModelError, PythonModel, design, parameter_hash, run_ensemble

BOUNDS = {"a": (0.0, 2.0), "b": (-1.0, 1.0)}


def toy(p):
    """A known function with a vector and a scalar output (module level: picklable for worker processes)."""
    t = np.linspace(0.0, 1.0, 5)
    return {"y": p["a"] * np.sin(3 * t) + p["b"] * t, "s": p["a"] * p["b"]}


def exact(X):
    t = np.linspace(0.0, 1.0, 5)
    return X[:, :1] * np.sin(3 * t) + X[:, 1:] * t


@pytest.mark.parametrize("method,rows", [("lhs", 16), ("sobol", 16), ("saltelli", 16 * (2 + 2))])
def test_design_fills_the_box(method, rows):
    X = design(BOUNDS, 16, method=method, seed=1)
    assert X.shape == (rows, 2)
    for j, (lo, hi) in enumerate(BOUNDS.values()):
        assert X[:, j].min() >= lo and X[:, j].max() <= hi
        # space filling: every quarter of each axis holds at least one point
        counts = np.histogram(X[:, j], bins=4, range=(lo, hi))[0]
        assert (counts > 0).all(), (method, j, counts)
    assert np.array_equal(X, design(BOUNDS, 16, method=method, seed=1))  # same seed, same design


def test_design_rejects_bad_input():
    with pytest.raises(ValueError, match="lower < upper"):
        design({"a": (1.0, 0.0)}, 4)
    with pytest.raises(ValueError, match="method"):
        design(BOUNDS, 4, method="grid")


def test_parameter_hash_distinguishes_tiny_changes():
    h = parameter_hash("m", ["a"], [0.1])
    assert h == parameter_hash("m", ["a"], [0.1])
    assert h != parameter_hash("m", ["a"], [np.nextafter(0.1, 1.0)])
    assert h != parameter_hash("other", ["a"], [0.1])


def test_ensemble_cache_resumes(tmp_path):
    model = PythonModel(toy, ("a", "b"), key="toy-v1")
    X = design(BOUNDS, 12, seed=0)
    first = run_ensemble(model, X[:5], cache_dir=tmp_path, processes=1, progress=False)
    assert (first.n_run, first.n_cached) == (5, 0)
    # "interrupted" after 5 runs: the full ensemble runs only the 7 missing points
    full = run_ensemble(model, X, cache_dir=tmp_path, processes=1, progress=False)
    assert (full.n_run, full.n_cached) == (7, 5)
    np.testing.assert_allclose(full.outputs["y"], exact(X), rtol=0, atol=1e-14)
    np.testing.assert_allclose(full.outputs["s"][:, 0], X[:, 0] * X[:, 1], rtol=1e-14)
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".npz"] * 12  # no temporary files left
    again = run_ensemble(model, X, cache_dir=tmp_path, processes=1, progress=False)
    assert (again.n_run, again.n_cached) == (0, 12)
    # a new model key does not reuse the old runs
    assert run_ensemble(PythonModel(toy, ("a", "b"), key="toy-v2"), X[:2], cache_dir=tmp_path, processes=1,
                        progress=False).n_run == 2


@pytest.mark.slow  # spawns two interpreters that import JAX (~10-30 s on 2 contended cores)
def test_ensemble_in_worker_processes(tmp_path):
    X = design(BOUNDS, 6, seed=3)
    res = run_ensemble(PythonModel(toy, ("a", "b")), X, cache_dir=tmp_path, processes=2, progress=False)
    assert res.n_run == 6
    np.testing.assert_allclose(res.outputs["y"], exact(X), rtol=0, atol=1e-14)


def test_ensemble_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        run_ensemble(PythonModel(toy, ("a", "b")), np.zeros((3, 3)), processes=1, progress=False)


SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    p = json.load(open(sys.argv[1]))
    if p["a"] < 0:
        sys.exit("negative a")
    t = np.linspace(0.0, 1.0, 5)
    y = p["a"] * np.sin(3 * t) + p["b"] * t
    np.savetxt(sys.argv[2], np.column_stack([t, y]), delimiter=",", header="t,y", comments="")
""")


def test_command_line_model(tmp_path):
    script = tmp_path / "model.py"
    script.write_text(SCRIPT)
    model = CommandModel([sys.executable, str(script), "{params}", "{outputs}"], ("a", "b"))
    X = design(BOUNDS, 4, seed=2)
    res = run_ensemble(model, X, cache_dir=tmp_path / "cache", processes=2, progress=False)
    np.testing.assert_allclose(res.outputs["y"], exact(X), rtol=1e-12)
    with pytest.raises(ExternalModelError, match="exited with status 1.*negative a"):
        model({"a": -1.0, "b": 0.0})
