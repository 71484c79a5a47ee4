"""Sensitivity analysis of an experiment (``bayeslsm sensitivity``): indices on its calibration set-up."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

from bayeslsm.experiments._io import _write_text
from bayeslsm.experiments.build import build_calibration
from bayeslsm.experiments.prepare import calibration_window_data
from bayeslsm.experiments.spec import Experiment


def run_sensitivity(exp: Experiment | str | os.PathLike, out_dir: str | os.PathLike | None = None,
                    overrides: Mapping[str, Any] | None = None, *, params: Sequence[str] | None = None,
                    **kwargs) -> dict:
    """Sobol', Morris and DGSM indices (:func:`bayeslsm.diagnostics.sensitivity.sensitivity`) of an experiment.

    The experiment's calibration period, sites, streams, spin-up and fixed values are used; its free
    parameters (or ``params``) vary over their priors.

    Parameters
    ----------
    exp
        An :class:`Experiment`, a TOML file or a shipped experiment name.
    out_dir
        Where to write ``sensitivity.nc`` (indices), ``sensitivity.csv`` (ranked table) and
        ``sensitivity.png`` (written atomically); ``None`` writes nothing.
    overrides
        As for :func:`run_experiment` (``sites``, ``calibration`` ...).
    params
        Parameters to vary (default: the experiment's free ones).
    **kwargs
        Passed to :func:`~bayeslsm.diagnostics.sensitivity.sensitivity` (``n_sobol``, ``n_morris``,
        ``n_dgsm``, ``methods``, ``seed``, ``batch``).

    Returns
    -------
    dict
        ``indices`` (xarray.Dataset), ``table`` (pandas.DataFrame) and ``paths`` (written files).
    """
    import matplotlib.pyplot as plt

    from bayeslsm.diagnostics.sensitivity import plot_sensitivity, sensitivity, sensitivity_table

    exp, forcing, obs = calibration_window_data(exp, overrides)
    cal = build_calibration(exp, forcing, obs)
    ds = sensitivity(cal, params, **kwargs)
    ds.attrs["experiment"] = exp.name
    table = sensitivity_table(ds)
    paths = []
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="sensitivity.nc.", suffix=".tmp", dir=out)
        os.close(fd)
        try:
            ds.to_netcdf(tmp)
            os.replace(tmp, out / "sensitivity.nc")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        paths.append(out / "sensitivity.nc")
        paths.append(_write_text(out / "sensitivity.csv", table.to_csv()))
        fig = plot_sensitivity(ds)
        fd, tmp = tempfile.mkstemp(prefix="sensitivity.png.", suffix=".tmp.png", dir=out)
        os.close(fd)
        try:
            fig.savefig(tmp, dpi=110)
            os.replace(tmp, out / "sensitivity.png")
        finally:
            plt.close(fig)
            if os.path.exists(tmp):
                os.remove(tmp)
        paths.append(out / "sensitivity.png")
    return {"indices": ds, "table": table, "paths": paths}
