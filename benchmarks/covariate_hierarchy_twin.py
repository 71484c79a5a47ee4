"""Covariate hierarchy against the plain PFT hierarchy on a left-out site (synthetic VSEM twin).

Six sites with a mean-annual-temperature covariate ``mat``; the true light-use efficiency of each site is
linear in ``mat`` on the unconstrained scale plus a small site effect. Each hierarchy (``Hierarchy(params=
("LUE",))`` with and without ``covariates=("mat",)``) is calibrated by NUTS on daily NEE at five sites, and
predicts the sixth site's LUE (:func:`bayeslsm.infer.parameters.predict_site_parameter`) and daily NEE.
Printed: error of the predicted LUE, held-out NEE RMSE (posterior-mean prediction) and the log predictive
density of the held-out NEE (a held-out ELPD, Monte Carlo over posterior draws), for each left-out site in turn.

    .venv/bin/python benchmarks/covariate_hierarchy_twin.py        # ~5-10 min on 2 cores
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--left-out", type=int, nargs="+", default=[0, 5])
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)

    import bayeslsm  # noqa: F401
    import jax
    import jax.numpy as jnp
    import xarray as xr
    from scipy.special import logsumexp

    from bayeslsm import Calibration, twin_experiment, weather_generator
    from bayeslsm.infer import Hierarchy
    from bayeslsm.infer.parameters import predict_site_parameter
    from bayeslsm.lsm import VSEM, simulate
    from bayeslsm.priors import load_catalogue

    mat = np.array([2.0, 5.0, 8.0, 11.0, 14.0, 17.0])
    names = [f"s{i}" for i in range(mat.size)]
    spec = load_catalogue("vsem").parameters["LUE"]
    x = (mat - mat.mean()) / mat.std()
    z_true = float(spec.to_unconstrained(0.002)) + 0.6 * x + 0.05 * np.random.default_rng(7).standard_normal(mat.size)
    lue = np.asarray(spec.from_unconstrained(z_true))
    forcing = xr.concat([weather_generator(years=1, lat=45.0, seed=10 + i, site=n) for i, n in enumerate(names)],
                        dim="site").assign_coords(site=names, mat=("site", mat))
    streams = [{"name": "NEE", "support": "daily", "error": {"kind": "gaussian", "sigma": {"prior": "halfnormal", "scale": 0.01}}}]
    sigma = 0.0005
    obs, _ = twin_experiment("vsem", forcing, streams, {"LUE": lue, "NEE_sigma": sigma}, seed=1)
    m = VSEM()
    results = []
    for k in args.left_out:
        train = [n for i, n in enumerate(names) if i != k]
        row = {"left_out": names[k], "true_LUE": float(lue[k]), "mat": float(mat[k])}
        for label, h in (("pft", Hierarchy(params=("LUE",))), ("covariate", Hierarchy(params=("LUE",), covariates=("mat",)))):
            cal = Calibration("vsem", forcing.sel(site=train), obs.sel(site=train), streams, free=["LUE"], hierarchy=h)
            idata = cal.nuts(chains=args.chains, warmup=args.warmup, draws=args.draws, progress=False, prior_draws=0,
                             seed=0)
            draws = predict_site_parameter(idata.posterior, cal, "LUE", covariates={"mat": float(mat[k])})
            par = jnp.asarray(forcing["par"].sel(site=names[k]).values)
            d = dict(m.DEFAULTS)
            sim = jax.jit(jax.vmap(lambda v: simulate(m, m.params(dict(d, LUE=v)), m.Forcing(par=par),
                                                      m.initial_state(d)).NEE))
            sel = draws[:: max(1, draws.size // 200)]
            nee = np.asarray(sim(jnp.asarray(sel)))
            y = obs["NEE"].sel(site=names[k]).values
            ok = np.isfinite(y)
            s = np.asarray(idata.posterior["NEE_sigma"].values).reshape(-1)[:: max(1, draws.size // 200)][: len(sel)]
            lp = (-0.5 * ((y[ok] - nee[:, ok]) / s[:, None]) ** 2 - np.log(s[:, None] * np.sqrt(2 * np.pi))).sum(1)
            row[label] = {"LUE_mean": float(draws.mean()), "LUE_sd": float(draws.std()),
                          "LUE_abs_error": float(abs(draws.mean() - lue[k])),
                          "rmse_NEE": float(np.sqrt(np.mean((nee[:, ok].mean(0) - y[ok]) ** 2))),
                          "elpd_NEE": float(logsumexp(lp) - np.log(lp.size)),
                          "max_r_hat": json.loads(idata.sample_stats.attrs["sampling_report"]).get("max_r_hat")}
        results.append(row)
        print(json.dumps(row))
    if args.out:
        from pathlib import Path

        from bayeslsm.ml.external import _atomic_write_text

        _atomic_write_text(Path(args.out), json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
