"""Runnable calibrations described in TOML: ``models/experiments/*.toml``.

An experiment file says which model to calibrate, at which flux-tower sites, on which period, against
which observation streams (with their bias and error models), which parameters are free, how they are
pooled across sites, and how to sample. :func:`load_experiment` parses and validates it into a frozen
:class:`Experiment`; :func:`run_experiment` reads the data (:mod:`bayeslsm.data`), builds the
:class:`~bayeslsm.infer.Calibration` on the calibration period, samples it, writes ``posterior.nc``,
computes the **held-out skill** on the validation period (``skill.json``) and writes the report
(:func:`write_experiment_report`, ``report.md`` and figures). ``bayeslsm run`` and ``bayeslsm report``
(:mod:`bayeslsm.cli`) are thin wrappers around these two functions.

File format
-----------
::

    [experiment]
    name = "fr-pue"                      # required; letters, digits, '-', '_'
    description = "..."                  # optional
    model = "dalec2_water"               # required: a key of bayeslsm.lsm.MODELS
    spinup = "none"                      # bayeslsm.lsm.spinup.SPINUP_METHODS (default "none")
    n_cycles = 5                         # for the cycling spin-up methods
    edc = ["pool_growth"]                # true, false or a list of bayeslsm.priors.edc.EDC_NAMES

    [periods]
    calibration = ["2000-01-01", "2009-12-31"]   # required, inclusive ISO dates
    validation = ["2010-01-01", "2014-12-31"]    # optional held-out period, after the calibration

    [data]                               # reader settings for every site (all optional)
    qc_threshold = 0.75                  # read_fluxnet(qc_threshold=...)
    qc_missing = "warn"                  # read_fluxnet(qc_missing=...): "warn", "ignore" or "raise"
    partitioning = "NT"                  # read_fluxnet(partitioning=...)
    le_column = "LE_F_MDS"               # read_fluxnet(le_column=...)
    unknown_pft = "error"                # a site whose PFT the catalogue lacks: "error" or "exclude"
    incomplete = "error"                 # a site without complete forcing over the calibration or the
                                         # validation period: ExperimentError before sampling; "exclude"
                                         # leaves it out (calibration) or unvalidated (validation), with a
                                         # HeldOutForcingWarning naming the sites
    pft_map = {}                         # e.g. {SAV = "GRA"}: PFT -> catalogue PFT, applied first

    [[sites]]
    id = "FR-Pue"                        # FLUXNET site id
    file = "FLX_FR-Pue_..._DD_....csv"   # a name in bayeslsm.data.cache.REGISTRY, or a path (relative
                                         # paths are relative to the TOML file)
    era_file = "..."                     # optional ERA-Interim driver file for gap filling
    pft = "EBF"                          # optional override of the site table / IGBP mapping
    lat = 43.74                          # optional override [degrees_north]
    diurnal_range = 8.0                  # see below; also "as_is" or 12 monthly values [K]
    constant_forcing = {co2 = 411.4}     # optional: replace a forcing variable by a constant (model units;
                                         # within the registry's plausible range unless allow_out_of_bounds)
    exclude = "why"                      # optional: list the site but leave it out, with the reason
    # and per-site qc_threshold, qc_missing, partitioning, le_column

    [[streams]]                          # bayeslsm.obs.StreamConfig.from_dict keys, plus:
    name = "LAI"                         # an observation variable of read_fluxnet (NEE, GPP, RECO, LE,
    support = "8D-year"                  # ET, LAI, FPAR)
    resample = true                      # average daily observations onto the complete periods of
                                         # `support` (a period with a missing day is dropped)
    error = {kind = "gaussian", sigma = {prior = "halfnormal", scale = 0.5}}
    # bias = {kind = "multiplicative", pooling = "site"}: one bias per site, partially pooled around a
    # network mean (bayeslsm.obs.bias); any bias kind

    [parameters]
    free = ["ceff", "clma"]              # catalogue names
    fixed = {theta_woo = 5e-5}           # non-default values of parameters that are not free
    fixed_by_pft = {clspan = {ENF = 3.0, DBF = 1.18}}   # per-site fixed values by the site's PFT

    [hierarchy]                          # optional: bayeslsm.infer.Hierarchy
    params = ["ceff"]
    mode = "partial"                     # "partial", "pooled" or "unpooled"
    centered = false                     # true, false, or the names of `params` to centre
    pft_centered = ["clma"]              # the PFT level alone (default: as `centered`); same forms
    pft_scale = 0.5
    site_scale = 0.3
    pft_only = ["clma"]                  # of `params`: pooled at PFT level only (one value per PFT)
    covariates = ["mat", "map"]          # site values regressed on site covariates (mode "partial"):
                                         # bayeslsm.data.covariates.COVARIATES; climate ones are computed
                                         # from each site's forcing over the calibration period
    coef_scale = 0.5                     # Normal prior sd of each regression coefficient (per covariate sd)

    [sampler]
    method = "nuts"                      # "nuts", "chees", "laplace" or "svi"
    kernel = "hmc"                       # method "chees": draws by jittered HMC ("hmc") or NUTS ("nuts")
    chains = 4
    warmup = 500
    draws = 500
    dense_mass = false
    target_accept = 0.8
    max_tree_depth = 10
    seed = 0
    steps = 3000                         # laplace / svi optimisation steps
    learning_rate = 0.01                 # laplace / svi
    prior_draws = 200                    # prior and prior-predictive draws stored and used for skill

    [skill]
    prob = 0.9                           # central predictive interval whose coverage is reported
    draws = 400                          # posterior draws (evenly thinned) used for held-out prediction

Site covariates
---------------
With ``[hierarchy].covariates`` :func:`prepare_data` attaches each named covariate as a coordinate along
``site`` of both stacked forcings (:func:`bayeslsm.data.covariates.site_covariates`): climate covariates
(``mat``, ``map``, ``mvpd``, ``msw``) are averaged over the **calibration period** of each site's own forcing
(also in the calibration + validation stack), ``lat`` and ``elev`` come from the site table or the reader.
The calibration standardises them with the calibration sites' mean and sd (recorded in ``constant_data``),
and prediction at a site that was not calibrated (:func:`bayeslsm.infer.predict.predict`) places that
site's covariates on the same scale.

Zero diurnal range
------------------
Some products carry ``TMIN == TMAX == TA`` (FluxDataKit FR-Pue; the reader warns with
:class:`~bayeslsm.data.fluxnet.DataQualityWarning`). DALEC's ACM canopy conductance divides by
``a6 + (Tmax - Tmin)/2``, so a zero range changes the model's regime, not just its inputs. A site whose
forcing has no diurnal range must say what to do, or :func:`run_experiment` raises
:class:`ExperimentError`:

``diurnal_range = "as_is"``
    keep ``tmin = tmax = ta`` (recorded as a data note);
``diurnal_range = D`` or ``[D_jan, ..., D_dec]`` [K]
    ``tmin = ta - D/2``, ``tmax = ta + D/2`` with a constant or a monthly diurnal temperature range.

Giving ``diurnal_range`` for a site whose file has a real range is an error (it would overwrite data).

Preflight
---------
Before sampling, :func:`run_experiment` finds the MAP and the Hessian of the log posterior and lists
the sloppy parameter combinations with advice (:mod:`bayeslsm.diagnostics.identifiability`), written to
``preflight.json`` and printed by ``bayeslsm run`` (``--no-preflight`` skips it). ``bayeslsm sensitivity``
(:func:`run_sensitivity`) computes Sobol', Morris and derivative-based indices of every stream and
season over the priors (:mod:`bayeslsm.diagnostics.sensitivity`). ``bayeslsm prior-check`` (:func:`run_prior_check`)
compares the prior predictive peak LAI, annual GPP and annual NEE of each PFT with the catalogue's plausible
ranges (:mod:`bayeslsm.diagnostics.prior_check`).

Held-out skill
--------------
The validation pass builds a second :class:`~bayeslsm.infer.Calibration` (the prediction target) on
the calibration plus validation forcing with the same streams, free and fixed parameters and hierarchy,
at the sites whose forcing covers both periods, and calls :func:`bayeslsm.infer.predict.predict` with
``spinup_days`` = the calibration length: the spin-up sees the **calibration window only** and the
model then runs on through the validation period, so over the calibration years the trajectories equal
those of the calibration itself. Posterior draws enter through their physical parameter values
(site-level values selected by site name) and stream bias and error parameters; prior draws are the
calibration's stored ``prior`` group, passed the same way (``[sampler].prior_draws`` of them; none when
it is 0). Per stream and period: RMSE of the predictive mean (the mean over draws of the noise-free,
biased prediction), mean error, and the fraction of observations inside the central ``prob`` interval
of the replicated observations (bias and noise included), for prior and posterior. The posterior
prediction is saved as ``prediction.nc``; annual sums (NEE, GPP) with their ``prob`` intervals per site
and year are in ``skill.json`` (``annual``).
"""

from bayeslsm.experiments.build import build_calibration
from bayeslsm.experiments.prepare import HeldOutForcingWarning, PreparedData, SiteData, prepare_data
from bayeslsm.experiments.prior_check import run_prior_check
from bayeslsm.experiments.report import write_experiment_report
from bayeslsm.experiments.run import run_experiment
from bayeslsm.experiments.sensitivity import run_sensitivity
from bayeslsm.experiments.skill import heldout_skill
from bayeslsm.experiments.spec import (
    OBSERVATION_VARIABLES,
    DataOptions,
    Experiment,
    ExperimentError,
    Period,
    SamplerSettings,
    SiteSpec,
    SkillSettings,
    StreamSpec,
    available_experiments,
    load_experiment,
)

__all__ = [
    "HeldOutForcingWarning",
    "OBSERVATION_VARIABLES",
    "PreparedData",
    "SiteData",
    "DataOptions",
    "Experiment",
    "ExperimentError",
    "Period",
    "SamplerSettings",
    "SiteSpec",
    "SkillSettings",
    "StreamSpec",
    "available_experiments",
    "build_calibration",
    "heldout_skill",
    "load_experiment",
    "prepare_data",
    "run_experiment",
    "run_prior_check",
    "run_sensitivity",
    "write_experiment_report",
]
