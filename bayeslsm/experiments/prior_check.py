"""Prior predictive check of an experiment's set-up per PFT (``bayeslsm prior-check``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from bayeslsm.experiments._io import _write_json, _write_text
from bayeslsm.experiments.build import _site_fixed
from bayeslsm.experiments.prepare import calibration_window_data
from bayeslsm.experiments.spec import Experiment, ExperimentError


def run_prior_check(exp: Experiment | str | os.PathLike, out_dir: str | os.PathLike | None = None,
                    overrides: Mapping[str, Any] | None = None, *, n: int = 200, seed: int = 0,
                    pfts: Sequence[str] | None = None, experiment_free: bool = False) -> dict:
    """Prior predictive check (:func:`bayeslsm.diagnostics.prior_predictive_check`) per PFT of an experiment.

    The experiment's calibration forcing, spin-up and EDCs are used; the sites of each PFT are pooled. By
    default every catalogue parameter is drawn from its PFT prior (a check of the catalogue prior);
    ``experiment_free=True`` draws only the experiment's free parameters and holds the others at the
    experiment's fixed values (a check of what the experiment's prior predicts, without its hierarchy).

    Parameters
    ----------
    exp
        An :class:`Experiment`, a TOML file or a shipped experiment name.
    out_dir
        Where to write ``prior_check.csv`` (table) and ``prior_check.json`` (settings, sources); ``None``
        writes nothing.
    overrides
        As for :func:`bayeslsm.experiments.run_experiment` (``sites``, ``calibration``).
    n, seed
        Prior draws per PFT and their seed.
    pfts
        Only these PFTs (default: every PFT among the experiment's sites).
    experiment_free
        See above.

    Returns
    -------
    dict
        ``results`` (PFT -> xarray.Dataset), ``table`` (pandas.DataFrame), ``passed`` (bool) and ``paths``.
    """
    from bayeslsm.diagnostics.prior_check import prior_check_table, prior_predictive_check
    from bayeslsm.priors import load_catalogue

    exp, forcing, _ = calibration_window_data(exp, overrides)
    site_pfts = np.asarray([str(p) for p in np.atleast_1d(forcing["pft"].values)])
    present = list(dict.fromkeys(site_pfts.tolist()))
    if pfts:
        unknown = [p for p in pfts if p not in present]
        if unknown:
            raise ExperimentError(exp.path, "pft", f"PFT(s) {unknown} have no site in the run; expected some of "
                                                   f"{present}")
        present = [p for p in present if p in pfts]
    catalogue = load_catalogue(exp.model)
    results = {}
    for pft in present:
        sel = np.nonzero(site_pfts == pft)[0]
        f = forcing.isel(site=sel)
        free, fixed = None, None
        if experiment_free:
            free = list(exp.free)
            fixed = _site_fixed(exp, list(site_pfts[sel]), catalogue)  # per-site arrays of these sites
        results[pft] = prior_predictive_check(exp.model, pft, f, n=n, seed=seed, spinup=exp.spinup,
                                              n_cycles=exp.n_cycles, edc=exp.edc, free=free, fixed=fixed,
                                              catalogue=catalogue)
    table = prior_check_table(results)
    passed = bool(all(r.attrs["all_passed"] for r in results.values()))
    paths = []
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths.append(_write_text(out / "prior_check.csv", table.to_csv()))
        info = {"experiment": exp.name, "model": exp.model, "n": n, "seed": seed, "spinup": exp.spinup,
                "n_cycles": exp.n_cycles, "edc": exp.edc, "experiment_free": experiment_free, "passed": passed,
                "pfts": {p: {k: r.attrs[k] for k in ("sites", "years", "acceptance", "sources")}
                         for p, r in results.items()}}
        paths.append(_write_json(out / "prior_check.json", info))
    return {"results": results, "table": table, "passed": passed, "paths": paths}
