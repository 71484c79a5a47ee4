"""Free parameters, their priors in unconstrained space, and the PFT -> site hierarchy.

Every free parameter ``x`` with catalogue bounds is sampled as an unconstrained ``z`` with
``x = spec.from_unconstrained(z)`` (log or scaled-logit transform from ``models/*.toml``), so NUTS
never meets a bound and nothing is clipped.  The catalogue prior is expressed in ``z``:

=================  =========================  ==========================================================
transform          catalogue prior            prior of ``z``
=================  =========================  ==========================================================
logit (bounded)    uniform over the bounds    Logistic(0, 1)  (exactly uniform ``x``)
log                uniform over the bounds    Uniform(log lower, log upper)  (log-uniform ``x``)
log                lognormal(median, s)       Normal(log median, s)
logit              lognormal / normal         Normal(z(centre), s_z), s_z from the local slope dz/dx
identity           normal(mean, sd)           Normal(mean, sd)
=================  =========================  ==========================================================

Hierarchy (:class:`Hierarchy`) for a chosen set of parameters, in ``z`` (non-centred by default,
Papaspiliopoulos et al. 2007, doi:10.1214/08834230700000014; NumPyro ``examples/funnel.py``)::

    mu_global       ~ Normal(m, s)                  (the global catalogue prior, Normal approximation)
    sd_pft, sd_site ~ HalfNormal(pft_scale), HalfNormal(site_scale)
    z_pft[k]        = mu_global + sd_pft  * eps_pft[k]      eps ~ Normal(0, 1), plate "pft"
    z_site[i]       = z_pft[pft(i)] + sd_site * eps_site[i]                     plate "site"

Site covariates (``Hierarchy(covariates=...)``, partial pooling only): a regression of the site values on
standardised site attributes x_i (climate, latitude, soil; coordinates of the forcing dataset along ``site``)
shifts each site from its PFT mean, so that an unseen site gets its PFT mean *plus* what its attributes
predict (Gelman & Hill 2007, *Data Analysis Using Regression and Multilevel/Hierarchical Models*, ch. 12.6,
group-level predictors)::

    b[j]            ~ Normal(0, coef_scale)                                     plate "covariate"
    z_site[i]       = z_pft[pft(i)] + x_i · b + sd_site * eps_site[i]

Parameters listed in ``pft_only`` (a subset of ``params``) stop at the PFT level:
``z_site[i] = z_pft[pft(i)]`` (no ``sd_site``, no site deviations). Use it for a parameter that the
data cannot separate from another one site by site (DALEC's ``clma`` against ``ceff``: GPP sees
``ceff x C_fol / clma``), so that it is informed by every site of its PFT together.

With a single PFT among the sites the PFT level is dropped (``z_pft = mu_global``): it is not
identifiable and only adds a funnel.  ``mode="pooled"`` gives one value for every site; ``mode="unpooled"`` independent site values
from each site's PFT prior.  Parameters outside the hierarchy are shared by all sites.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from bayeslsm.infer import names

__all__ = ["Hierarchy", "ZPrior", "predict_site_parameter", "z_prior", "sample_parameters"]

HIERARCHY_MODES = ("partial", "pooled", "unpooled")


@dataclass(frozen=True)
class Hierarchy:
    """Which parameters vary by PFT and site, and how.

    Parameters
    ----------
    params
        Free parameter names that vary across sites.
    mode
        ``"partial"`` (global -> PFT -> site partial pooling), ``"pooled"`` or ``"unpooled"``.
    centered
        Centred parametrisation: ``True`` for every parameter of ``params``, ``False`` (default) for none
        (non-centred), or the names of the parameters to centre.  Centre a parameter the data inform
        strongly at every site (non-centring makes its site deviations a curved ridge), keep a parameter
        the data barely inform non-centred (centring makes a funnel): Betancourt & Girolami 2015,
        *Hamiltonian Monte Carlo for hierarchical models*, doi:10.1201/b18502-5; Papaspiliopoulos et al.
        2007, Statist. Sci. 22:59, doi:10.1214/088342307000000014.
    pft_centered
        Centring of the PFT level alone, in the same forms as ``centered``; ``None`` (default) follows
        ``centered``.  The two levels are informed differently: a year of daily fluxes informs every site
        value strongly (centre the site level), while a PFT value is informed only through a few sites
        around it and its spread ``sd_pft`` may be near zero, where the centred form is a funnel
        (non-centre the PFT level).  ``centered=True, pft_centered=["clma"]`` centres the site level of
        every parameter and the PFT level of ``clma`` only.
    pft_scale, site_scale
        HalfNormal scales of the between-PFT and between-site spreads, in unconstrained units.
    covariates
        Names of site attributes (coordinates of the forcing along ``site``, e.g. ``"mat"``, ``"lat"``)
        on which the site values of every hierarchical parameter are regressed (``mode="partial"``).
    coef_scale
        Normal prior sd of each regression coefficient, in unconstrained units per standard deviation
        of the covariate across the calibration sites.
    pft_only
        Parameters of ``params`` pooled at the PFT level only (one value per PFT; ``mode="partial"``).
    """

    params: tuple[str, ...] = ()
    mode: str = "partial"
    centered: bool | tuple[str, ...] = False
    pft_centered: bool | tuple[str, ...] | None = None
    pft_scale: float = 0.5
    site_scale: float = 0.3
    covariates: tuple[str, ...] = ()
    coef_scale: float = 0.5
    pft_only: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "params", tuple(self.params))
        object.__setattr__(self, "covariates", tuple(self.covariates))
        object.__setattr__(self, "pft_only", tuple(self.pft_only))
        object.__setattr__(self, "centered", self._centring("centered", self.centered))
        if self.pft_centered is not None:
            object.__setattr__(self, "pft_centered", self._centring("pft_centered", self.pft_centered))
        for n in self.pft_only:
            if n not in self.params:
                raise ValueError(f"`hierarchy.pft_only` parameter {n!r} is not in `hierarchy.params` {list(self.params)}")
        if self.covariates and self.mode != "partial":
            raise ValueError(f"`hierarchy.covariates` need mode 'partial'; got mode {self.mode!r}")
        if not (np.isfinite(self.coef_scale) and self.coef_scale > 0):
            raise ValueError(f"`hierarchy.coef_scale` must be a positive number; got {self.coef_scale!r}")
        if self.mode not in HIERARCHY_MODES:
            raise ValueError(f"`hierarchy.mode` must be one of {HIERARCHY_MODES}; got {self.mode!r}")
        for n, v in (("pft_scale", self.pft_scale), ("site_scale", self.site_scale)):
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"`hierarchy.{n}` must be a positive number; got {v!r}")


    def _centring(self, field: str, value) -> bool | tuple[str, ...]:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, str) or not all(isinstance(n, str) for n in value):
            raise ValueError(f"`hierarchy.{field}` must be True, False or a list of parameter names; got {value!r}")
        value = tuple(value)
        for n in value:
            if n not in self.params:
                raise ValueError(f"`hierarchy.{field}` parameter {n!r} is not in `hierarchy.params` "
                                 f"{list(self.params)}")
        return value

    def is_centered(self, name: str) -> bool:
        """Whether the site level of parameter ``name`` uses the centred parametrisation."""
        return self.centered if isinstance(self.centered, bool) else name in self.centered

    def is_pft_centered(self, name: str) -> bool:
        """Whether the PFT level of parameter ``name`` uses the centred parametrisation."""
        c = self.centered if self.pft_centered is None else self.pft_centered
        return c if isinstance(c, bool) else name in c

    def covariate_values(self, ds, sites) -> np.ndarray | None:
        """Raw site covariates, shape (site, covariate), from coordinates or variables of ``ds`` along ``site``.

        ``None`` without covariates. Raises ``ValueError`` naming a covariate that is absent or missing at a site.
        """
        if not self.covariates:
            return None
        cols = []
        for c in self.covariates:
            if c not in ds.variables or ds[c].dims != ("site",):
                raise ValueError(
                    f"hierarchy covariate {c!r} must be a coordinate or variable of the forcing along `site` "
                    f"(one value per site; bayeslsm.data.covariates.site_covariates computes them); found "
                    f"{sorted(k for k in ds.variables if ds[k].dims == ('site',))}"
                )
            v = np.asarray(ds[c].sel(site=list(sites)).values, dtype=float)
            if not np.all(np.isfinite(v)):
                raise ValueError(f"hierarchy covariate {c!r} has missing values at sites "
                                 f"{[s for s, x in zip(sites, v) if not np.isfinite(x)]}")
            cols.append(v)
        return np.stack(cols, axis=1)

    def covariate_stats(self, ds, sites) -> tuple[np.ndarray, np.ndarray] | None:
        """Mean and sd across ``sites`` of each covariate (the standardisation of the calibration sites).

        Raises ``ValueError`` for a covariate that does not vary across the sites.
        """
        X = self.covariate_values(ds, sites)
        if X is None:
            return None
        mu, sd = X.mean(0), X.std(0)
        if np.any(~(sd > 0)):
            raise ValueError(f"hierarchy covariates {[c for c, s in zip(self.covariates, sd) if not s > 0]} do not "
                             "vary across the sites; drop them")
        return mu, sd

    def covariate_matrix(self, ds, sites, center=None, scale=None) -> np.ndarray | None:
        """Standardised site covariates, shape (site, covariate), from coordinates of ``ds`` along ``site``.

        ``center``/``scale`` default to the mean and sd across ``sites`` (pass the calibration sites'
        values to place new sites on the same scale). ``None`` without covariates.
        """
        X = self.covariate_values(ds, sites)
        if X is None:
            return None
        if center is None or scale is None:
            mu, sd = self.covariate_stats(ds, sites)
            center = mu if center is None else center
            scale = sd if scale is None else scale
        center, scale = np.asarray(center, dtype=float), np.asarray(scale, dtype=float)
        k = len(self.covariates)
        if center.shape != (k,) or scale.shape != (k,) or np.any(~(scale > 0)):
            raise ValueError(f"covariate `center`/`scale` must be {k} values (scale > 0) for {list(self.covariates)}; "
                             f"got {center.tolist()} / {scale.tolist()}")
        return (X - center) / scale


@dataclass(frozen=True)
class ZPrior:
    """Prior of a parameter in unconstrained space: ``family`` in {normal, logistic, uniform}."""

    family: str
    a: float
    b: float

    def distribution(self):
        if self.family == "normal":
            return dist.Normal(self.a, self.b)
        if self.family == "logistic":
            return dist.Logistic(self.a, self.b)
        if self.family == "uniform":
            return dist.Uniform(self.a, self.b)
        raise ValueError(f"unknown z-prior family {self.family!r}")

    def normal_approx(self) -> tuple[float, float]:
        """(mean, sd) of a Normal with the same first two moments (for hyper-priors)."""
        if self.family == "normal":
            return self.a, self.b
        if self.family == "logistic":
            return self.a, self.b * np.pi / np.sqrt(3.0)
        return 0.5 * (self.a + self.b), (self.b - self.a) / np.sqrt(12.0)


def _get(obj, *names, default=None):
    for n in names:
        if isinstance(obj, Mapping) and n in obj:
            return obj[n]
        if hasattr(obj, n):
            v = getattr(obj, n)
            if v is not None:
                return v
    return default


def z_prior(spec, prior) -> ZPrior:
    """Translate a catalogue prior into a prior on the unconstrained ``z`` (table in module doc)."""
    transform = spec.transform
    family = _get(prior, "dist", "family", default="uniform") if prior is not None else "uniform"
    lo, hi = float(spec.lower), float(spec.upper)
    if family == "uniform":
        if transform == "logit":
            return ZPrior("logistic", 0.0, 1.0)
        if transform == "log":
            return ZPrior("uniform", float(np.log(lo)), float(np.log(hi)))
        return ZPrior("uniform", lo, hi)
    if family in ("lognormal", "log_normal"):
        median = float(_get(prior, "median", "loc"))
        s_log = float(_get(prior, "sigma_log", "sigma", "scale"))
        if transform == "log":
            return ZPrior("normal", float(np.log(median)), s_log)
        centre, slope = median, median  # d x / d log x = x
        s_x = s_log * slope
    elif family in ("normal", "truncnormal", "truncated_normal"):
        centre = float(_get(prior, "mean", "loc", "median"))
        s_x = float(_get(prior, "sd", "std", "scale", "sigma"))
        if transform == "identity":
            return ZPrior("normal", centre, s_x)
        if transform == "log":
            return ZPrior("normal", float(np.log(centre)), s_x / centre)
    else:
        raise ValueError(f"parameter {spec.name!r}: unknown prior distribution {family!r}")
    # scaled logit: z = logit((x - lo) / (hi - lo)); dz/dx = (hi - lo) / ((x - lo)(hi - x))
    centre = float(np.clip(centre, lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo)))
    z0 = float(spec.to_unconstrained(centre))
    dzdx = (hi - lo) / ((centre - lo) * (hi - centre))
    return ZPrior("normal", z0, max(s_x * dzdx, 1e-3))


def sample_parameters(
    free: tuple[str, ...],
    specs: Mapping[str, Any],
    zpriors_by_pft: Mapping[str, Mapping[str, ZPrior]],
    site_pft_index: np.ndarray,
    pfts: tuple[str, ...],
    hierarchy: Hierarchy,
    covariates: np.ndarray | None = None,
) -> dict[str, jnp.ndarray]:
    """NumPyro sample statements for the free parameters.

    ``covariates``: standardised site covariates (site, k) (:meth:`Hierarchy.covariate_matrix`); the
    regression coefficients are recorded as ``{name}_coef``.

    Returns a dict name -> constrained value, either a scalar (shared) or shape (site,).
    Deterministic sites record the constrained values under the parameter's own name; PFT-level
    values are recorded as ``{name}_pft`` (dim ``pft``).
    """
    n_site = int(site_pft_index.shape[0])
    site_pfts = [pfts[k] for k in site_pft_index]
    out = {}
    for name in free:
        spec = specs[name]
        if name in hierarchy.params and n_site > 1 and hierarchy.mode != "pooled":
            if hierarchy.mode == "unpooled":
                with numpyro.plate("site", n_site, dim=-1):
                    locs = np.array([zpriors_by_pft[p][name].normal_approx()[0] for p in site_pfts])
                    scales = np.array([zpriors_by_pft[p][name].normal_approx()[1] for p in site_pfts])
                    z = numpyro.sample(names.latent(name), dist.Normal(locs, scales))
            else:
                m, s = zpriors_by_pft["__global__"][name].normal_approx()
                mu = numpyro.sample(names.hyper(name, "mu"), dist.Normal(m, s))
                pft_only = name in hierarchy.pft_only
                if not pft_only:
                    sd_site = numpyro.sample(names.hyper(name, "sd_site"), dist.HalfNormal(hierarchy.site_scale))
                if len(pfts) == 1:
                    # one PFT: the PFT level is not identifiable from the data (a pure prior funnel);
                    # the PFT mean is the global mean.
                    z_pft = jnp.reshape(mu, (1,))
                else:
                    sd_pft = numpyro.sample(names.hyper(name, "sd_pft"), dist.HalfNormal(hierarchy.pft_scale))
                    with numpyro.plate("pft", len(pfts), dim=-1):
                        if hierarchy.is_pft_centered(name):
                            z_pft = numpyro.sample(names.latent(names.pft_value(name)), dist.Normal(mu, sd_pft))
                        else:
                            eps = numpyro.sample(names.eps_pft(name), dist.Normal(0.0, 1.0))
                            z_pft = mu + sd_pft * eps
                loc = z_pft[site_pft_index]
                if covariates is not None and hierarchy.covariates:
                    X = jnp.asarray(covariates, dtype=float)
                    coef = numpyro.sample(names.coef(name), dist.Normal(0.0, hierarchy.coef_scale)
                                          .expand([X.shape[1]]).to_event(1))
                    loc = loc + X @ coef
                if pft_only:
                    z = loc
                else:
                    with numpyro.plate("site", n_site, dim=-1):
                        if hierarchy.is_centered(name):
                            z = numpyro.sample(names.latent(name), dist.Normal(loc, sd_site))
                        else:
                            eps = numpyro.sample(names.eps(name), dist.Normal(0.0, 1.0))
                            z = loc + sd_site * eps
                numpyro.deterministic(names.pft_value(name), spec.from_unconstrained(z_pft))
        else:
            key = site_pfts[0] if len(set(site_pfts)) == 1 else "__global__"
            z = numpyro.sample(names.latent(name), zpriors_by_pft[key][name].distribution())
        x = numpyro.deterministic(name, spec.from_unconstrained(z))
        out[name] = x
    return out


def predict_site_parameter(posterior, cal, name: str, pft: str | None = None,
                           covariates: Mapping[str, float] | None = None, seed: int = 0) -> np.ndarray:
    """Posterior predictive draws of parameter ``name`` at a site that was not calibrated.

    ``z_new = z_pft[pft] + x_new · b + sd_site · eps`` with ``eps ~ Normal(0, 1)``, one draw per posterior
    draw (the hierarchy's own model, module docstring); ``x_new`` are the site's covariates standardised with
    the calibration sites' mean and sd. Without covariates in the hierarchy this is the PFT-level prediction.

    Parameters
    ----------
    posterior
        The ``posterior`` group (``xarray.Dataset``) of a hierarchical calibration.
    cal
        The :class:`~bayeslsm.infer.Calibration` that produced it.
    name
        A hierarchical parameter.
    pft
        The new site's PFT (default: the only PFT of the calibration).
    covariates
        Covariate name -> value at the new site (every name in ``cal.hierarchy.covariates``).

    Returns
    -------
    numpy.ndarray
        Draws (chain * draw,) of the parameter in physical units.
    """
    h = cal.hierarchy
    if name not in h.params:
        raise ValueError(f"{name!r} is not a hierarchical parameter; expected one of {list(h.params)}")
    pft = pft if pft is not None else (cal.pfts[0] if len(cal.pfts) == 1 else None)
    if pft not in cal.pfts:
        raise ValueError(f"`pft` must be one of the calibrated PFTs {list(cal.pfts)}; got {pft!r}")
    spec = cal.catalogue.parameters[name]
    z_pft = np.asarray(spec.to_unconstrained(np.asarray(posterior[names.pft_value(name)].values)))[..., cal.pfts.index(pft)]
    z = z_pft.reshape(-1)
    if h.covariates:
        covariates = dict(covariates or {})
        missing = [c for c in h.covariates if c not in covariates]
        if missing:
            raise ValueError(f"`covariates` of the new site lack {missing}; the hierarchy regresses on {list(h.covariates)}")
        center, scale = cal.covariate_center, cal.covariate_scale
        x_new = (np.array([covariates[c] for c in h.covariates], dtype=float) - center) / scale
        coef = np.asarray(posterior[names.coef(name)].values).reshape(z.size, -1)
        z = z + coef @ x_new
    if name in h.pft_only:  # pooled at PFT level only: no site deviation
        return np.asarray(spec.from_unconstrained(z))
    sd = np.asarray(posterior[names.hyper(name, "sd_site")].values).reshape(-1)
    z = z + sd * np.random.default_rng(seed).standard_normal(z.size)
    return np.asarray(spec.from_unconstrained(z))
