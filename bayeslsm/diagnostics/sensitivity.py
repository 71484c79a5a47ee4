r"""Global and local sensitivity of a calibration's predicted streams to its free parameters.

Which parameters does each observation stream actually see, and in which season? Three measures of
the same question, over the **prior** of the free parameters (the distribution the calibration starts
from), run on the calibration's own forcing, sites, operators and spin-up:

* **Sobol' indices** (first order ``S1`` and total ``ST``) by Saltelli sampling (SALib
  ``sample.sobol`` / ``analyze.sobol``; Saltelli et al. 2010, doi:10.1016/j.cpc.2009.09.018; Sobol' 2001,
  doi:10.1016/S0378-4754(00)00270-6). ``ST_i`` is the share of the output variance that involves
  parameter ``i``: ``ST_i = 0`` means the output does not depend on it.
* **Morris elementary effects** (``mu_star``, the mean absolute effect, and ``sigma``, its spread:
  non-linearity and interactions) by SALib ``sample.morris`` / ``analyze.morris`` (Morris 1991,
  doi:10.1080/00401706.1991.10484804; Campolongo et al. 2007, doi:10.1016/j.envsoft.2006.10.004).
* **Derivative-based global sensitivity** (DGSM; Sobol' & Kucherenko 2009,
  doi:10.1016/j.matcom.2009.01.023) from ``jax.jacfwd`` of the outputs over a random sample:
  ``nu_i = E[(df/du_i)^2]`` and the normalised ``dgsm_i = w^2 nu_i / (pi^2 Var f)``, which bounds the
  total index from above, ``ST_i <= dgsm_i`` (Lamboni et al. 2013, doi:10.1016/j.matcom.2012.09.008;
  the Poincaré constant of a uniform input of width ``w`` is ``w^2 / pi^2``).

Inputs
------
Parameter ``i`` is driven through its prior quantile ``u_i``: ``z_i = F_i^{-1}(u_i)`` with ``F_i`` the
prior of the unconstrained value (:func:`bayeslsm.infer.parameters.z_prior`; the catalogue prior of the
sites' PFT when all sites share one, else the global prior) and ``x_i`` the physical value. ``u_i`` is
uniform on ``[q, 1 - q]`` (``q = 0.005`` by default: the central 99 % of each prior, so that
Morris' grid does not reach the tails). Parameters are shared by all sites; the outputs are averaged
over sites.

Outputs
-------
For every stream of the calibration: the model prediction on the stream's support (operator output,
before bias and noise), averaged over sites and over the whole period (``"GPP:all"``) and over each
meteorological season with support points (``"GPP:DJF"``, ``MAM``, ``JJA``, ``SON``).

Examples
--------
>>> from bayeslsm.infer import Calibration                                     # doctest: +SKIP
>>> cal = Calibration("vsem", forcing, None, [{"name": "GPP"}], free=["LUE", "KEXT", "tauS"])  # doctest: +SKIP
>>> res = sensitivity(cal, n_sobol=128)                                       # doctest: +SKIP
>>> sensitivity_table(res).head()                                             # doctest: +SKIP
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

__all__ = ["SEASONS", "sensitivity", "sensitivity_table", "plot_sensitivity"]

SEASONS = {"DJF": (12, 1, 2), "MAM": (3, 4, 5), "JJA": (6, 7, 8), "SON": (9, 10, 11)}
METHODS = ("sobol", "morris", "dgsm")


def _input_priors(cal, params: Sequence[str]):
    key = cal.pfts[0] if len(cal.pfts) == 1 else "__global__"
    return key, [cal.zpriors[key][n] for n in params]


def _z_from_u(zp, u):
    """Unconstrained value at prior quantile ``u`` (differentiable in JAX)."""
    import jax.numpy as jnp
    from jax.scipy.special import ndtri

    if zp.family == "normal":
        return zp.a + zp.b * ndtri(u)
    if zp.family == "logistic":
        return zp.a + zp.b * (jnp.log(u) - jnp.log1p(-u))
    if zp.family == "uniform":
        return zp.a + (zp.b - zp.a) * u
    raise ValueError(f"unknown z-prior family {zp.family!r}")


def _outputs(cal):
    """Output labels and, per label, (stream index, support mask) for the seasonal means."""
    labels, parts = [], []
    for k, sd in enumerate(cal.streams):
        t = np.asarray(sd.support_time, dtype="datetime64[D]")
        month = (t.astype("datetime64[M]").astype(int) % 12) + 1
        labels.append(f"{sd.config.name}:all")
        parts.append((k, np.ones(t.size, bool)))
        for season, months in SEASONS.items():
            m = np.isin(month, months)
            if m.any():
                labels.append(f"{sd.config.name}:{season}")
                parts.append((k, m))
    return labels, parts


def _output_fn(cal, params: Sequence[str]):
    """u (n_param,) -> outputs (n_output,): prior quantiles -> physical values -> model -> stream means."""
    import jax.numpy as jnp

    from bayeslsm.obs.operators import apply_operator

    _, zps = _input_priors(cal, params)
    specs = [cal.catalogue.parameters[n] for n in params]
    _, parts = _outputs(cal)
    weights = [jnp.asarray(m / m.sum()) for _, m in parts]

    def f(u):
        values = {n: spec.from_unconstrained(_z_from_u(zp, u[i])) for i, (n, spec, zp) in
                  enumerate(zip(params, specs, zps))}
        p, init = cal._param_values(values)
        out = cal._forward_impl(p, init, cal.forcing)
        preds = [apply_operator(sd.index, getattr(out, sd.config.variable)).mean(axis=0) for sd in cal.streams]
        return jnp.stack([jnp.sum(preds[k] * w) for (k, _), w in zip(parts, weights)])

    return f


def _batched(fn, x: np.ndarray, batch: int) -> np.ndarray:
    n = x.shape[0]
    out = []
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        idx = np.arange(start, start + batch) % n  # pad the last batch: same shape, no recompile
        out.append(np.asarray(fn(x[idx]))[: stop - start])
    return np.concatenate(out, axis=0)


def sensitivity(cal, params: Sequence[str] | None = None, *, methods: Sequence[str] = METHODS,
                n_sobol: int = 256, n_morris: int = 20, n_dgsm: int = 64, tail: float = 0.005, seed: int = 0,
                batch: int = 64):
    """Sobol', Morris and derivative-based sensitivity indices of every stream and season.

    Parameters
    ----------
    cal
        A :class:`~bayeslsm.infer.Calibration` (observations optional: only its forcing, streams,
        operators, spin-up and priors are used).
    params
        Parameters to vary (default: ``cal.free``); others stay at their fixed or default values.
    methods
        Any of ``"sobol"``, ``"morris"``, ``"dgsm"``.
    n_sobol
        Saltelli base sample size ``N`` (a power of 2): ``N (D + 2)`` model runs for ``D`` parameters.
    n_morris
        Number of Morris trajectories: ``n_morris (D + 1)`` runs on a 4-level grid.
    n_dgsm
        Random points at which the Jacobian is computed (one forward-mode pass each).
    tail
        Prior tail probability left out at each end (inputs uniform on ``[tail, 1 - tail]``).
    seed
        Seed of the SALib samplers and the DGSM sample.
    batch
        Model runs per jitted, vmapped batch.

    Returns
    -------
    xarray.Dataset
        Dims ``output`` (``"STREAM:SEASON"``, coordinates ``stream`` and ``season``) and ``parameter``:
        ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (Sobol'), ``mu_star``, ``mu_star_conf``, ``sigma``
        (Morris, output units), ``dgsm`` (normalised DGSM, an upper bound of ``ST``), ``nu`` (raw DGSM
        [output units^2]), and per output ``mean`` and ``sd`` of the Sobol' (else Morris / DGSM) sample.
        Attributes record the settings, run counts and wall times [s].

    Raises
    ------
    ValueError
        For an unknown method or parameter, or ``n_sobol`` not a power of 2.
    """
    import jax
    import xarray as xr

    params = tuple(params if params is not None else cal.free)
    if not params:
        raise ValueError("`params` is empty: give the parameters to vary (default: the calibration's free ones)")
    specs = cal.catalogue.parameters
    for n in params:
        if n not in specs:
            raise ValueError(f"unknown parameter {n!r} in `params`; expected catalogue names, e.g. {sorted(specs)[:5]}")
        if n not in cal.free:
            raise ValueError(f"parameter {n!r} is not free in this calibration; free are {list(cal.free)}")
    bad = sorted(set(methods) - set(METHODS))
    if bad:
        raise ValueError(f"unknown sensitivity method(s) {bad}; expected some of {METHODS}")
    if "sobol" in methods and (n_sobol < 2 or n_sobol & (n_sobol - 1)):
        raise ValueError(f"`n_sobol` must be a power of 2 (Saltelli sampling with Sobol' sequences); got {n_sobol}")
    if not 0 < tail < 0.5:
        raise ValueError(f"`tail` must be in (0, 0.5); got {tail}")
    if not cal.streams:
        raise ValueError("the calibration has no streams: nothing to compute indices for")

    labels, _ = _outputs(cal)
    D, K = len(params), len(labels)
    problem = {"num_vars": D, "names": list(params), "bounds": [[tail, 1.0 - tail]] * D}
    f = _output_fn(cal, params)
    f_batch = jax.jit(jax.vmap(f))
    nan = np.full((K, D), np.nan)
    data = {k: nan.copy() for k in ("S1", "S1_conf", "ST", "ST_conf", "mu_star", "mu_star_conf", "sigma", "dgsm",
                                    "nu")}
    runs: dict[str, int] = {}
    wall: dict[str, float] = {}
    y_ref = None

    if "sobol" in methods:
        from SALib.analyze import sobol as sobol_analyze
        from SALib.sample import sobol as sobol_sample

        t0 = time.perf_counter()
        X = sobol_sample.sample(problem, n_sobol, calc_second_order=False, seed=seed)
        Y = _batched(f_batch, X, batch)
        for k in range(K):
            r = sobol_analyze.analyze(problem, Y[:, k], calc_second_order=False, seed=seed)
            for key in ("S1", "S1_conf", "ST", "ST_conf"):
                data[key][k] = r[key]
        runs["sobol"], wall["sobol"], y_ref = X.shape[0], time.perf_counter() - t0, Y
    if "morris" in methods:
        from SALib.analyze import morris as morris_analyze
        from SALib.sample import morris as morris_sample

        t0 = time.perf_counter()
        X = morris_sample.sample(problem, n_morris, num_levels=4, seed=seed)
        Y = _batched(f_batch, X, batch)
        for k in range(K):
            r = morris_analyze.analyze(problem, X, Y[:, k], num_levels=4, seed=seed)
            for key in ("mu_star", "mu_star_conf", "sigma"):
                data[key][k] = r[key]
        runs["morris"], wall["morris"] = X.shape[0], time.perf_counter() - t0
        y_ref = Y if y_ref is None else y_ref
    if "dgsm" in methods:
        t0 = time.perf_counter()
        rng = np.random.default_rng(seed)
        U = rng.uniform(tail, 1.0 - tail, size=(n_dgsm, D))
        jac = jax.jit(jax.vmap(lambda u: (f(u), jax.jacfwd(f)(u))))
        vals, J = [], []
        for start in range(0, n_dgsm, batch):
            stop = min(start + batch, n_dgsm)
            idx = np.arange(start, start + batch) % n_dgsm
            v, j = jac(U[idx])
            vals.append(np.asarray(v)[: stop - start])
            J.append(np.asarray(j)[: stop - start])
        vals, J = np.concatenate(vals), np.concatenate(J)  # (n, K), (n, K, D)
        nu = np.mean(J ** 2, axis=0)
        var = np.var(y_ref if y_ref is not None else vals, axis=0)
        width = 1.0 - 2.0 * tail
        with np.errstate(divide="ignore", invalid="ignore"):
            data["dgsm"] = np.where(var[:, None] > 0, width ** 2 * nu / (np.pi ** 2 * var[:, None]), 0.0)
        data["nu"] = nu
        runs["dgsm"], wall["dgsm"] = n_dgsm, time.perf_counter() - t0
        y_ref = vals if y_ref is None else y_ref

    if not np.all(np.isfinite(y_ref)):
        import warnings

        warnings.warn(f"{int((~np.isfinite(y_ref)).any(axis=1).sum())} of {y_ref.shape[0]} model runs gave "
                      f"non-finite outputs; indices involving them are NaN", RuntimeWarning, stacklevel=2)
    key, zps = _input_priors(cal, params)
    ds = xr.Dataset(
        {k: (("output", "parameter"), v) for k, v in data.items()}
        | {"mean": ("output", np.mean(y_ref, axis=0)), "sd": ("output", np.std(y_ref, axis=0))},
        coords={"output": labels, "parameter": list(params),
                "stream": ("output", [lab.split(":")[0] for lab in labels]),
                "season": ("output", [lab.split(":")[1] for lab in labels])},
        attrs={"methods": ",".join(m for m in METHODS if m in methods), "n_runs": str(runs),
               "wall_seconds": str({k: round(v, 3) for k, v in wall.items()}), "tail": tail, "seed": seed,
               "prior": key, "sites": ",".join(cal.sites), "model": cal.model.name,
               "description": "Sobol' (S1, ST), Morris (mu_star, sigma) and DGSM indices over the prior "
                              "(bayeslsm.diagnostics.sensitivity)"},
    )
    for k in ("S1", "ST", "dgsm"):
        ds[k].attrs["units"] = "1"
    return ds


def sensitivity_table(ds):
    """Ranked table: one row per parameter, most influential first.

    Columns: ``ST_max`` and ``S1_max`` (largest over outputs), ``output_ST_max`` (where),
    ``mu_star_rel_max`` (Morris ``mu_star`` over the output's sd, largest over outputs),
    ``dgsm_max`` and ``rank`` (by ``ST_max``, else ``mu_star_rel_max``, else ``dgsm_max``).

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    rows = {}
    sd = ds["sd"].values[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        mu_rel = np.where(sd > 0, ds["mu_star"].values / sd, 0.0)
    outputs = ds["output"].values
    for j, p in enumerate(ds["parameter"].values):
        st = ds["ST"].values[:, j]
        finite = np.isfinite(st)
        rows[str(p)] = {
            "ST_max": float(np.nanmax(st)) if finite.any() else np.nan,
            "S1_max": float(np.nanmax(ds["S1"].values[:, j])) if finite.any() else np.nan,
            "output_ST_max": str(outputs[int(np.nanargmax(st))]) if finite.any() else "",
            "mu_star_rel_max": float(np.nanmax(mu_rel[:, j])) if np.isfinite(mu_rel[:, j]).any() else np.nan,
            "dgsm_max": float(np.nanmax(ds["dgsm"].values[:, j])) if np.isfinite(ds["dgsm"].values[:, j]).any()
            else np.nan,
        }
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "parameter"
    key = next((c for c in ("ST_max", "mu_star_rel_max", "dgsm_max") if df[c].notna().any()), "ST_max")
    df = df.sort_values(key, ascending=False)
    df["rank"] = np.arange(1, len(df) + 1)
    return df


def plot_sensitivity(ds, path=None):
    """Heat maps of the total Sobol' index (else normalised DGSM) and Morris ``mu_star / sd``, outputs x parameters.

    Returns the matplotlib figure (written to ``path`` when given).
    """
    import matplotlib.pyplot as plt

    from bayeslsm.diagnostics.plots import _ensure_backend

    _ensure_backend()
    panels = []
    if np.isfinite(ds["ST"].values).any():
        panels.append(("ST", "total Sobol' index ST", ds["ST"].values))
    elif np.isfinite(ds["dgsm"].values).any():
        panels.append(("dgsm", "DGSM bound of ST", ds["dgsm"].values))
    if np.isfinite(ds["mu_star"].values).any():
        sd = ds["sd"].values[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            panels.append(("mu_star", "Morris mu* / output sd", np.where(sd > 0, ds["mu_star"].values / sd, 0.0)))
    n_out, n_par = ds.sizes["output"], ds.sizes["parameter"]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.0 + 0.55 * n_par * len(panels), 1.2 + 0.3 * n_out),
                             squeeze=False)
    for ax, (_, title, v) in zip(axes[0], panels):
        im = ax.imshow(np.clip(v, 0, None), aspect="auto", cmap="viridis", vmin=0)
        ax.set_xticks(range(n_par), [str(p) for p in ds["parameter"].values], rotation=60, ha="right")
        ax.set_yticks(range(n_out), [str(o) for o in ds["output"].values])
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
