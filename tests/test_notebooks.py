"""The teaching notebooks run top to bottom with small settings and render their figures.

Each notebook is executed in a fresh kernel (nbclient), in a temporary working directory, with
``BAYESLSM_NB_FAST=1`` (fewer years, chains and draws; NumPyro's ``test/test_examples.py`` pattern).
A notebook ends with a cell of assertions about its own results (convergence, and the lesson it
teaches), so a failed lesson fails the cell and this test. Notebook 3 reads real flux-tower data and
is skipped when ``../shared/data`` (or ``BAYESLSM_DATA_DIR``) is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# notebook -> needs the shared flux-tower data
CASES = {
    "01_vsem_priors_posteriors.ipynb": False,
    "02_dalec2_twin_equifinality.ipynb": False,
    "03_fluxnet_bias_error_models.ipynb": True,
    "04_pft_hierarchy_shrinkage.ipynb": False,
    "05_emulators.ipynb": False,
}
# generous: a cell that samples several posteriors takes well under a minute with the small settings
CELL_TIMEOUT = 600


def test_every_notebook_is_tested():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_committed_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{name}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_notebook_runs(name, request, tmp_path, monkeypatch):
    if CASES[name]:
        data_dir = request.getfixturevalue("data_dir")  # skips without ../shared/data
        monkeypatch.setenv("BAYESLSM_DATA_DIR", str(data_dir))
    monkeypatch.setenv("BAYESLSM_NB_FAST", "1")
    # inline: non-interactive (no display needed) and it renders figures as image/png outputs, which a
    # plain "Agg" backend would not
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError (with the cell and traceback) on the first failing cell

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{name}: no figure was rendered"
