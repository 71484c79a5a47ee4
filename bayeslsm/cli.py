"""The ``bayeslsm`` command line.

Usage
-----
::

    bayeslsm simulate MODEL --drivers CSV --params JSON --out CSV [--lat DEG] [--allow-out-of-bounds]
                 [--allow-invalid-output]
    bayeslsm demo [--out DIR] [--overwrite] [--sampler chees|nuts] [--chains N] [--warmup N] [--draws N] [--seed N] [--no-progress]
    bayeslsm run EXPERIMENT.toml --out DIR [--overwrite | --resume] [--method M] [--no-preflight] [--chains N] [--warmup N] [--draws N] [--seed N]
                 [--max-tree-depth N] [--sites SITE ...] [--calibration START END] [--validation START END]
                 [--allow-out-of-bounds] [--no-progress]
    bayeslsm report DIR/posterior.nc [--out DIR]
    bayeslsm sensitivity EXPERIMENT.toml [--out DIR]
    bayeslsm prior-check [EXPERIMENT.toml] [--pft PFT ...] [--n N] [--seed N] [--edc] [--experiment-free] [--out DIR]
    bayeslsm emulate SPEC.toml --out DIR [--n-design N] [--rounds N] [--n-correct N] [--processes N] [--seed N]
    bayeslsm sbc [--model vsem|dalec2] [--out DIR] [--n N] [--days N] [--warmup N] [--draws N] [--thin N] [--seed N]
    bayeslsm run-sites [EXPERIMENT.toml | --synthetic N] --out DIR [--address ADDR] [--workers N] [--sites SITE ...]
                 [--method nuts|laplace|svi] [--chains N] [--warmup N] [--draws N] [--seed N]
    bayeslsm --version

``simulate`` runs ``vsem``, ``dalec2`` or ``dalec2_water`` over a reference-format driver file
(:mod:`bayeslsm.data.reference_io`) and writes the daily outputs in the golden ``outputs.csv`` layout.
``demo`` runs the DALEC2 + water twin experiment (:func:`bayeslsm.demo.run_demo`).
``prior-check`` compares the prior predictive peak LAI, annual GPP and annual NEE per PFT with the catalogue's
plausible ranges (:func:`bayeslsm.diagnostics.prior_predictive_check`); exit status 1 when a quantity fails.
``run`` runs an experiment file (``models/experiments/*.toml``; :func:`bayeslsm.experiments.run_experiment`):
calibration, ``posterior.nc``, held-out skill (``skill.json``) and the report; ``report`` (re)writes the
figures and ``report.md`` of a saved run (:func:`bayeslsm.experiments.write_experiment_report`).

A problem with the user's files or arguments is one line on stderr naming the file and the column or
parameter, and exit status 2 (no traceback); success is status 0.  Values outside their catalogue bounds or
the registry's plausible range are errors unless ``--allow-out-of-bounds`` turns them into warnings;
``simulate`` refuses negative pools and non-finite outputs unless ``--allow-invalid-output``.  ``run`` and
``demo`` check the output folder (writable; new, empty or ``--overwrite``) before reading any data.

Adding a command
----------------
One function and one registration: decorate a function ``(args: argparse.Namespace) -> int`` with
:func:`command`, giving its arguments with :func:`arg`::

    @command("report", help="write the Markdown report of a saved run",
             arguments=[arg("idata", type=Path, help="posterior.nc"), arg("--out", type=Path, default=Path("report"))])
    def report(args):
        from bayeslsm.diagnostics import write_report  # heavy imports inside the command
        ...
        return 0

Commands import their layers lazily so that ``bayeslsm --help`` stays quick.  Errors a user can fix are
:class:`CommandError`, the data layer's ``DriverFileError`` and ``DataFileError``, and ``OSError``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from bayeslsm import __version__

__all__ = ["CommandError", "arg", "build_parser", "command", "main"]

PROG = "bayeslsm"


class CommandError(Exception):
    """A problem the user can fix (bad argument combination, ...): reported on stderr, exit status 2."""


@dataclass(frozen=True)
class Arg:
    """One ``argparse`` argument: the flags and keyword arguments of ``add_argument``."""

    flags: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


def arg(*flags: str, **kwargs: Any) -> Arg:
    """Describe an argument exactly as ``parser.add_argument(*flags, **kwargs)`` would take it."""
    return Arg(flags, kwargs)


@dataclass(frozen=True)
class _Command:
    name: str
    help: str
    description: str | None
    arguments: tuple[Arg, ...]
    func: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, _Command] = {}
"""Registered subcommands, in registration order (the order of ``bayeslsm --help``)."""


def command(name: str, *, help: str, arguments: Sequence[Arg] = (), description: str | None = None):
    """Register the decorated function ``(args) -> int`` as ``bayeslsm NAME``.

    Parameters
    ----------
    name
        Subcommand name.
    help
        One line for ``bayeslsm --help``.
    arguments
        :func:`arg` descriptions, in order.
    description
        Text for ``bayeslsm NAME --help``; default the function's docstring.
    """

    def register(func: Callable[[argparse.Namespace], int]):
        if name in COMMANDS:
            raise ValueError(f"command {name!r} is registered twice")
        COMMANDS[name] = _Command(name, help, description or func.__doc__, tuple(arguments), func)
        return func

    return register


# ---------------------------------------------------------------------------------------------------
# argument types


def _latitude(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a latitude in degrees north; got {text!r}") from None
    if not -90.0 <= value <= 90.0:
        raise argparse.ArgumentTypeError(f"expected a latitude in [-90, 90] degrees north; got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number; got {value}")
    return value


SEED_MAX = 2**32 - 1
"""Largest ``--seed`` (numpy's legacy ``RandomState`` and 32-bit JAX keys take [0, 2**32 - 1])."""


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number in [0, {SEED_MAX}]; got {text!r}") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, {SEED_MAX}] (2**32 - 1); got {value}")
    return value


# ---------------------------------------------------------------------------------------------------
# simulate

SIMULATE_MODELS = ("vsem", "dalec2", "dalec2_water")


def required_parameters(model: Any) -> list[str]:
    """Names a ``params.json`` must hold for ``model``: its ``Params`` fields, then its initial-state names
    (catalogue names such as ``clab_init``; the remaining keys of ``model.DEFAULTS``)."""
    fields = list(model.Params._fields)
    return fields + [k for k in model.DEFAULTS if k not in fields]


@command(
    "simulate",
    help="run a process model over a driver file and write its daily outputs (CSV)",
    arguments=[
        arg("model", choices=SIMULATE_MODELS, help="process model"),
        arg("--drivers", required=True, type=Path, metavar="CSV",
            help="driver file: DALEC drivers.csv (dalec2_water also needs precip_mm_d, vpd_kPa) or VSEM par.csv"),
        arg("--params", required=True, type=Path, metavar="JSON",
            help="params.json with 'parameters' (incl. initial pools) and, for DALEC, 'lat_deg'"),
        arg("--out", required=True, type=Path, metavar="CSV",
            help="output CSV (written atomically; its folder must exist)"),
        arg("--lat", type=_latitude, metavar="DEG",
            help="site latitude [degrees north]; overrides 'lat_deg' of the params file (DALEC only)"),
        arg("--allow-out-of-bounds", action="store_true",
            help="warn (instead of failing) on parameters outside the catalogue bounds or unknown to the model"),
        arg("--allow-invalid-output", action="store_true",
            help="write outputs with negative pools or non-finite values with a warning (instead of failing)"),
    ],
)
def simulate(args: argparse.Namespace) -> int:
    """Run MODEL over the drivers with the parameters and initial pools of the params file, and write one
    row per day: for DALEC the columns of the golden outputs.csv (date, run_day, doy, LAI, GPP, Ra, Rh,
    Reco, NEE, f01..f28, C_lab_end..C_som_end; dalec2_water adds its water outputs after them), for VSEM
    date, day, PAR_MJ_m2_d, NEE, Cv, Cs, CR.  Floats are written with repr() (exact round trip)."""
    import numpy as np

    from bayeslsm.data import reference_io as rio
    from bayeslsm.lsm import MODELS
    from bayeslsm.lsm import simulate as run

    if args.model == "vsem" and args.lat is not None:
        raise CommandError("--lat applies to DALEC models only; VSEM has no latitude dependence")
    out_path = rio.check_output_path(args.out)
    model = MODELS[args.model]()
    if args.model == "vsem":
        drivers = rio.read_vsem_par(args.drivers)
        pset = rio.read_params(args.params, required_parameters(model))
        forcing = model.Forcing(par=np.asarray(drivers.par))
    else:
        drivers = rio.read_dalec_drivers(args.drivers, model=args.model)
        pset = rio.read_params(args.params, required_parameters(model), need_lat=True, lat=args.lat)
        forcing = model.forcing_from_arrays(**drivers.forcing_arrays(), lat=pset.lat)
    _check_parameters(args, pset)
    values = pset.parameters
    result = run(model, model.params(values), forcing, model.initial_state(values))
    outputs = {k: np.asarray(v, dtype=float) for k, v in result._asdict().items()}

    if args.model == "vsem":
        columns = list(rio.VSEM_OUTPUT_COLUMNS)
    else:
        extra = [k for k in model.Outputs._fields if k not in rio.DALEC_OUTPUT_COLUMNS and k != "removal"]
        columns = [*rio.DALEC_OUTPUT_COLUMNS, *extra]
    problem = _invalid_outputs(args, outputs, columns)
    if problem and not args.allow_invalid_output:
        raise CommandError(f"{problem}; nothing written to '{out_path}' (pass --allow-invalid-output to write it)")
    if args.model == "vsem":
        rio.write_vsem_outputs(out_path, drivers, outputs)
    else:
        rio.write_dalec_outputs(out_path, drivers, outputs, extra_columns=extra)
    if problem:
        warnings.warn(f"{problem} (written: --allow-invalid-output)", RuntimeWarning, stacklevel=2)
    print(f"{PROG} simulate: wrote {out_path} ({drivers.n} days x {len(columns)} columns, model {args.model})")
    return 0


def _check_parameters(args: argparse.Namespace, pset: Any) -> None:
    """Parameters unknown to the model or outside the catalogue bounds: an error, or a warning with
    ``--allow-out-of-bounds``."""
    from bayeslsm.data.plausibility import OutOfBoundsWarning
    from bayeslsm.priors.catalogue import load_catalogue

    specs = load_catalogue(args.model).parameters
    problems = []
    if pset.unknown:
        problems.append(f"parameter(s) {list(pset.unknown)} are not parameters of {args.model} (typo?); expected "
                        f"names among {list(pset.parameters)}")
    for name, v in pset.parameters.items():
        spec = specs.get(name)
        if spec is not None and not spec.lower <= v <= spec.upper:
            problems.append(f"parameter {name!r} = {v!r} is outside its catalogue bounds [{spec.lower:g}, "
                            f"{spec.upper:g}] {spec.unit}")
    if not problems:
        return
    more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
    msg = f"file '{pset.path}': " + "; ".join(problems[:3]) + more
    if not args.allow_out_of_bounds:
        raise CommandError(msg + " (pass --allow-out-of-bounds to run anyway)")
    warnings.warn(msg + " (accepted: --allow-out-of-bounds)", OutOfBoundsWarning, stacklevel=3)


def _invalid_outputs(args: argparse.Namespace, outputs: dict, columns: list[str]) -> str | None:
    """A description of non-finite outputs or negative pools (registry units gC m-2, kg m-2, mm), or None."""
    import numpy as np

    from bayeslsm.data.variables import variable

    bad = [c for c in columns if c in outputs and not np.isfinite(outputs[c]).all()]
    if bad:
        first = min(int(np.flatnonzero(~np.isfinite(outputs[c]))[0]) for c in bad) + 1
        hint = "tauV, tauS and tauR must be > 0" if args.model == "vsem" else "clspan must be > 1, pools > 0"
        return (f"{args.model}: output columns {bad} have non-finite values from day {first} on; expected finite "
                f"outputs: check the parameters in '{args.params}' (e.g. {hint})")
    pools = [c for c in columns if c in outputs and variable(c, args.model).units in ("gC m-2", "kg m-2", "mm")]
    neg = {c: float(outputs[c].min()) for c in pools if outputs[c].min() < 0.0}
    if neg:
        c = next(iter(neg))
        day = int(np.flatnonzero(outputs[c] < 0.0)[0]) + 1
        return (f"{args.model}: pools {sorted(neg)} become negative (e.g. {c} = {neg[c]:.4g} on day {day}); expected "
                f"pools >= 0: check the parameters and initial pools in '{args.params}'")
    return None


# ---------------------------------------------------------------------------------------------------
# demo


@command(
    "demo",
    help="run the DALEC2 + water twin experiment (NUTS or ChEES-HMC) and write posterior.nc, summary.json, report.md",
    arguments=[
        arg("--out", type=Path, default=Path("demo_out"), metavar="DIR",
            help="output folder, new or empty (default: demo_out)"),
        arg("--overwrite", action="store_true", help="write into a non-empty output folder (replaces its outputs)"),
        arg("--sampler", choices=("chees", "nuts"), default="chees",
            help="many-chain ChEES-HMC (default; 16 chains x (300 + 1000)) or NUTS (4 chains x (400 + 400))"),
        arg("--chains", type=_positive_int, default=None, metavar="N", help="chains (default: per sampler)"),
        arg("--warmup", type=_positive_int, default=None, metavar="N",
            help="warm-up iterations per chain (default: per sampler)"),
        arg("--draws", type=_positive_int, default=None, metavar="N", help="draws per chain (default: per sampler)"),
        arg("--seed", type=_seed, default=0, metavar="N",
            help="random seed of data generation and sampling, 0 to 2**32-1 (default: 0)"),
        arg("--no-progress", action="store_true", help="no progress bars"),
    ],
)
def demo(args: argparse.Namespace) -> int:
    """Generate three years of weather, simulate DALEC2 + water, add noisy and biased NEE, LE and LAI
    observations with gaps, and recover about a dozen parameters (bayeslsm.demo.run_demo)."""
    from bayeslsm.data.reference_io import check_output_dir
    from bayeslsm.demo import run_demo

    check_output_dir(args.out, overwrite=args.overwrite)  # before generating data or sampling
    run_demo(out=args.out, chains=args.chains, warmup=args.warmup, draws=args.draws, seed=args.seed,
             progress=not args.no_progress, sampler=args.sampler)
    return 0


# ---------------------------------------------------------------------------------------------------
# run / report (experiments)


@command(
    "run",
    help="run an experiment (TOML): calibrate, write posterior.nc, held-out skill (skill.json) and report.md",
    arguments=[
        arg("experiment", metavar="EXPERIMENT.toml",
            help="experiment file (format: bayeslsm.experiments), or the name of a shipped one, e.g. fr-pue"),
        arg("--out", required=True, type=Path, metavar="DIR", help="output folder, new or empty (created)"),
        arg("--overwrite", action="store_true", help="write into a non-empty output folder (replaces its outputs)"),
        arg("--resume", action="store_true",
            help="continue an interrupted run in --out from its checkpoint (method chees; same draws as uninterrupted)"),
        arg("--method", choices=("nuts", "chees", "laplace", "svi"), help="sampler (default: the file's [sampler])"),
        arg("--kernel", choices=("hmc", "nuts"),
            help="--method chees: draw with jittered HMC (hmc) or, after ChEES's warm-up, with NUTS (nuts; "
                 "hierarchical posteriors) (default: the file's [sampler] kernel, else hmc)"),
        arg("--allow-out-of-bounds", action="store_true",
            help="warn (instead of failing) on fixed parameters or constant forcing outside their ranges"),
        arg("--chains", type=_positive_int, metavar="N", help="chains (default: the file's [sampler])"),
        arg("--warmup", type=_positive_int, metavar="N", help="warm-up iterations per chain (default: the file's)"),
        arg("--draws", type=_positive_int, metavar="N", help="draws per chain (default: the file's)"),
        arg("--seed", type=_seed, metavar="N", help="random seed, 0 to 2**32-1 (default: the file's)"),
        arg("--max-tree-depth", type=_positive_int, metavar="N", help="NUTS maximum tree depth (default: the file's)"),
        arg("--sites", nargs="+", metavar="SITE", help="run only these sites (ids from the file)"),
        arg("--calibration", nargs=2, metavar=("START", "END"),
            help="calibration period, e.g. 2003-01-01 2003-12-31 (default: the file's)"),
        arg("--validation", nargs=2, metavar=("START", "END"),
            help="validation (held-out) period (default: the file's)"),
        arg("--no-progress", action="store_true", help="no progress bars"),
        arg("--no-preflight", action="store_true",
            help="skip the identifiability preflight (MAP + Hessian, preflight.json) before sampling"),
    ],
)
def run(args: argparse.Namespace) -> int:
    """Read the experiment's sites (bayeslsm.data), calibrate on its calibration period, save posterior.nc
    (atomically), predict the validation (held-out) period with prior and posterior draws and write the
    per-stream RMSE and predictive coverage to skill.json, then write figures and report.md into --out."""
    from bayeslsm.experiments import ExperimentError, run_experiment

    if args.resume and args.overwrite:
        raise CommandError("--resume continues the outputs in --out that --overwrite would replace: give one of them")
    overrides = {"chains": args.chains, "warmup": args.warmup, "draws": args.draws, "seed": args.seed,
                 "max_tree_depth": args.max_tree_depth, "method": args.method, "kernel": args.kernel,
                 "sites": args.sites, "calibration": args.calibration, "validation": args.validation,
                 "progress": not args.no_progress}
    try:
        res = run_experiment(args.experiment, args.out, {k: v for k, v in overrides.items() if v is not None},
                             overwrite=args.overwrite, resume=args.resume,
                             allow_out_of_bounds=args.allow_out_of_bounds, preflight=not getattr(args, "no_preflight", False),
                             on_preflight=lambda rep: print(rep.summary(), flush=True))
    except ExperimentError as err:
        raise CommandError(str(err)) from None
    samp, wall = res["sampling"], res["wall_seconds"]
    print(f"{PROG} run: max R-hat {samp.get('max_r_hat')}, min bulk ESS {samp.get('min_ess_bulk')}, "
          f"divergences {samp.get('divergences')}; wall {wall['total']:.0f} s (sampling {wall['sampling']:.0f} s)")
    for name, e in (res["skill"].get("streams") or {}).items():
        v = e["validation"]
        pr, po = v.get("prior", {}), v["posterior"]
        print(f"{PROG} run: held-out {name}: RMSE prior {pr.get('rmse')} -> posterior {po['rmse']}; "
              f"coverage prior {pr.get('coverage')} -> posterior {po['coverage']} (n = {po['n_obs']})")
    print(f"{PROG} run: wrote {res['posterior']}, {res['skill_path']}, {res['report']}")
    return 0


@command(
    "sensitivity",
    help="Sobol', Morris and derivative-based sensitivity of an experiment's streams to its free parameters",
    arguments=[
        arg("experiment", metavar="EXPERIMENT.toml",
            help="experiment file (format: bayeslsm.experiments), or the name of a shipped one, e.g. fr-pue"),
        arg("--out", type=Path, metavar="DIR", default=Path("sensitivity"),
            help="output folder (created; default ./sensitivity)"),
        arg("--params", nargs="+", metavar="NAME", help="parameters to vary (default: the file's free ones)"),
        arg("--n-sobol", type=_positive_int, default=256, metavar="N", help="Saltelli base sample (power of 2)"),
        arg("--n-morris", type=_positive_int, default=20, metavar="N", help="Morris trajectories"),
        arg("--n-dgsm", type=_positive_int, default=64, metavar="N", help="points for the derivative-based indices"),
        arg("--sites", nargs="+", metavar="SITE", help="only these sites (ids from the file)"),
        arg("--calibration", nargs=2, metavar=("START", "END"), help="period (default: the file's calibration)"),
        arg("--seed", type=int, default=0, metavar="N", help="random seed"),
    ],
)
def sensitivity(args: argparse.Namespace) -> int:
    """Vary the free parameters over their priors on the experiment's calibration forcing and sites and write
    sensitivity.nc (indices per stream and season), sensitivity.csv (ranked table) and sensitivity.png
    (bayeslsm.diagnostics.sensitivity)."""
    from bayeslsm.experiments import ExperimentError, run_sensitivity

    overrides = {"sites": args.sites, "calibration": args.calibration}
    try:
        res = run_sensitivity(args.experiment, args.out, {k: v for k, v in overrides.items() if v is not None},
                              params=args.params, n_sobol=args.n_sobol, n_morris=args.n_morris,
                              n_dgsm=args.n_dgsm, seed=args.seed)
    except (ExperimentError, ValueError) as err:
        raise CommandError(str(err)) from None
    print(res["table"].to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"{PROG} sensitivity: wrote {', '.join(str(p) for p in res['paths'])}")
    return 0


@command(
    "prior-check",
    help="prior predictive peak LAI, annual GPP and NEE per PFT against the catalogue's plausible ranges",
    arguments=[
        arg("experiment", nargs="?", metavar="EXPERIMENT.toml",
            help="experiment file or shipped name (its sites, calibration forcing, spin-up and EDCs); without "
                 "it, the demo's generated weather (3 years at 50 N, no spin-up) for every catalogue PFT"),
        arg("--pft", nargs="+", metavar="PFT", help="only these PFTs"),
        arg("--n", type=_positive_int, default=200, metavar="N", help="prior draws per PFT (default 200)"),
        arg("--seed", type=int, default=0, metavar="N", help="random seed"),
        arg("--model", default="dalec2_water", help="model without an experiment (default dalec2_water)"),
        arg("--edc", action="store_true", help="without an experiment: apply every EDC (by rejection)"),
        arg("--experiment-free", action="store_true",
            help="draw only the experiment's free parameters (others at its fixed values)"),
        arg("--sites", nargs="+", metavar="SITE", help="only these sites (ids from the file)"),
        arg("--calibration", nargs=2, metavar=("START", "END"), help="period (default: the file's calibration)"),
        arg("--out", type=Path, metavar="DIR", help="write prior_check.csv and prior_check.json here"),
    ],
)
def prior_check(args: argparse.Namespace) -> int:
    """Draw every catalogue parameter from its PFT prior, run the model with the experiment's spin-up and
    compare the 5/50/95 % prior predictive quantiles of peak LAI, annual GPP and annual NEE with the plausible
    ranges of the catalogue ([plausible.<PFT>] in models/dalec2.toml). Exit status 1 if a quantity fails."""
    from bayeslsm.experiments import ExperimentError

    try:
        if args.experiment is not None:
            from bayeslsm.experiments.prior_check import run_prior_check

            overrides = {"sites": args.sites, "calibration": args.calibration}
            res = run_prior_check(args.experiment, args.out, {k: v for k, v in overrides.items() if v is not None},
                                  n=args.n, seed=args.seed, pfts=args.pft, experiment_free=args.experiment_free)
            table, passed, paths = res["table"], res["passed"], res["paths"]
        else:
            from bayeslsm.data.synthetic import weather_generator
            from bayeslsm.diagnostics.prior_check import prior_check_table, prior_predictive_check
            from bayeslsm.priors import load_catalogue

            cat = load_catalogue(args.model)
            pfts = args.pft or list(cat.pfts)
            forcing = weather_generator(years=3, lat=50.0, seed=0, site="demo")
            results = {p: prior_predictive_check(args.model, p, forcing, n=args.n, seed=args.seed,
                                                 edc=True if args.edc else None, catalogue=cat) for p in pfts}
            table = prior_check_table(results)
            passed = all(r.attrs["all_passed"] for r in results.values())
            paths = []
            if args.out is not None:
                from bayeslsm.data.atomic import write_text_atomic

                args.out.mkdir(parents=True, exist_ok=True)
                paths.append(write_text_atomic(args.out / "prior_check.csv", table.to_csv()))
    except (ExperimentError, ValueError) as err:
        raise CommandError(str(err)) from None
    print(table.to_string(float_format=lambda v: f"{v:.3g}"))
    if paths:
        print(f"{PROG} prior-check: wrote {', '.join(str(p) for p in paths)}")
    print(f"{PROG} prior-check: {'every quantity inside its plausible range' if passed else 'FAILED (see passed)'}")
    return 0 if passed else 1


@command(
    "report",
    help="write figures and report.md (incl. held-out skill, forest and shrinkage plots) for a saved run",
    arguments=[
        arg("posterior", type=Path, metavar="DIR/posterior.nc", help="posterior.nc written by `bayeslsm run`"),
        arg("--out", type=Path, metavar="DIR", help="output folder (default: the folder of posterior.nc)"),
    ],
)
def report(args: argparse.Namespace) -> int:
    """Traces, pairs, predictive checks, prior vs posterior, the forest plot of site- and PFT-level
    posteriors and one shrinkage plot per pooled parameter (hierarchical runs), and report.md with the
    held-out skill table read from skill.json beside posterior.nc."""
    from bayeslsm.experiments import write_experiment_report

    path = write_experiment_report(args.posterior, args.out)
    print(f"{PROG} report: wrote {path}")
    return 0


# ---------------------------------------------------------------------------------------------------
# emulate (black-box models: bayeslsm.ml)


@command(
    "emulate",
    help="calibrate a black-box model (command line or Python) through a GP emulator corrected with exact runs",
    arguments=[
        arg("spec", type=Path, metavar="SPEC.toml", help="model, parameter bounds, observations (bayeslsm.ml.run_emulator_spec)"),
        arg("--out", required=True, type=Path, metavar="DIR", help="output folder (created); holds the resumable run cache"),
        arg("--n-design", type=_positive_int, metavar="N", help="initial Latin-hypercube design size"),
        arg("--rounds", type=int, metavar="N", help="active-learning rounds"),
        arg("--n-add", type=_positive_int, metavar="N", help="exact runs added per active-learning round"),
        arg("--n-correct", type=_positive_int, metavar="N", help="emulated-posterior draws run exactly for PSIS"),
        arg("--chains", type=_positive_int, metavar="N", help="NUTS chains on the emulator"),
        arg("--warmup", type=_positive_int, metavar="N", help="NUTS warm-up iterations per chain"),
        arg("--draws", type=_positive_int, metavar="N", help="NUTS draws per chain"),
        arg("--processes", type=_positive_int, metavar="N", help="parallel model runs (default: CPU count)"),
        arg("--seed", type=int, metavar="N", help="random seed"),
        arg("--no-progress", action="store_true", help="no progress bars"),
    ],
)
def emulate(args: argparse.Namespace) -> int:
    """Design (SALib) -> cached parallel ensemble -> GP emulator -> active learning -> NUTS on the emulator ->
    PSIS re-weighting with exact runs. Writes posterior.nc (corrected draws), summary.json (emulated and
    corrected posterior summaries, Pareto k-hat, exact runs per stage) and cache/ into --out."""
    from bayeslsm.ml.workflow import SpecError, run_emulator_spec

    overrides = {"n_design": args.n_design, "rounds": args.rounds, "n_add": args.n_add, "n_correct": args.n_correct,
                 "chains": args.chains, "warmup": args.warmup, "draws": args.draws, "seed": args.seed}
    try:
        res = run_emulator_spec(args.spec, args.out, overrides, processes=args.processes, progress=not args.no_progress)
    except SpecError as err:
        raise CommandError(str(err)) from None
    print(f"{PROG} emulate: exact model runs {res['n_exact']} {res['n_exact_by_stage']}; Pareto k-hat "
          f"{res['khat']:.2f} ({'reliable' if res['khat'] < 0.7 else 'NOT reliable: refine the emulator'}), "
          f"PSIS ESS {res['psis_ess']:.0f}")
    for name, s in res["corrected"].items():
        print(f"{PROG} emulate: {name}: mean {s['mean']:.4g}, sd {s['sd']:.3g}, 90 % [{s['lo']:.4g}, {s['hi']:.4g}]")
    print(f"{PROG} emulate: wrote {res['posterior']}, {res['summary_path']}")
    return 0


# ---------------------------------------------------------------------------------------------------
# sbc / run-sites


@command(
    "sbc",
    help="simulation-based calibration: N fits of simulated data, rank statistics, uniformity tests, rank plots",
    arguments=[
        arg("--model", choices=("vsem", "dalec2"), default="vsem", help="problem (bayeslsm.diagnostics.sbc_problem)"),
        arg("--out", type=Path, default=Path("sbc_out"), metavar="DIR", help="output folder (default: sbc_out)"),
        arg("--n", type=_positive_int, default=100, metavar="N", help="simulated data sets (default: 100)"),
        arg("--days", type=_positive_int, default=120, metavar="N", help="days of generated weather (default: 120)"),
        arg("--warmup", type=_positive_int, default=200, metavar="N", help="NUTS adaptation steps per fit (default: 200)"),
        arg("--draws", type=_positive_int, default=200, metavar="N", help="NUTS draws per fit (default: 200)"),
        arg("--thin", type=_positive_int, default=2, metavar="N", help="keep every N-th draw (default: 2)"),
        arg("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)"),
        arg("--no-progress", action="store_true", help="no progress lines"),
    ],
)
def sbc(args: argparse.Namespace) -> int:
    """Draw parameters from the prior, simulate observations, fit them with NUTS (all fits batched with
    jax.vmap), and write the ranks, a chi-square uniformity test per parameter (sbc.json) and the rank
    histograms (sbc_ranks.png). Exit status 1 when a parameter rejects uniformity (Bonferroni, 1 %)."""
    import numpy as np

    from bayeslsm.diagnostics.sbc_runner import run_sbc, sbc_problem, write_sbc

    if args.n < 2:
        raise CommandError("--n must be at least 2 simulated data sets")
    res = run_sbc(sbc_problem(args.model, days=args.days, seed=args.seed), n_sims=args.n, warmup=args.warmup,
                  draws=args.draws, thin=args.thin, seed=args.seed, progress=not args.no_progress)
    paths = write_sbc(res, args.out)
    for name, p in res.pvalues.items():
        print(f"{PROG} sbc: {name}: uniformity p = {float(np.min(p)):.3g}")
    print(f"{PROG} sbc: {'passed' if res.passed() else 'FAILED'} ({args.n} fits, M = {res.M}, "
          f"{res.settings['wall_seconds']:.0f} s); wrote {paths['json']} and {paths['figure']}")
    return 0 if res.passed() else 1


@command(
    "run-sites",
    help="calibrate many sites independently on a Dask cluster (resumable; one result file per site)",
    arguments=[
        arg("experiment", nargs="?", metavar="EXPERIMENT.toml",
            help="experiment whose sites are calibrated one by one (or use --synthetic N)"),
        arg("--synthetic", type=_positive_int, metavar="N", help="N synthetic VSEM twin sites instead of an experiment"),
        arg("--out", required=True, type=Path, metavar="DIR", help="output folder (sites/SITE.nc, sites.json)"),
        arg("--sites", nargs="+", metavar="SITE", help="only these sites"),
        arg("--address", metavar="ADDR", help="Dask scheduler address (default: a LocalCluster on this machine)"),
        arg("--workers", type=_positive_int, default=2, metavar="N", help="LocalCluster worker processes (default: 2)"),
        arg("--method", choices=("nuts", "laplace", "svi"), default="nuts", help="sampler (default: nuts)"),
        arg("--chains", type=_positive_int, default=4, metavar="N", help="NUTS chains (default: 4)"),
        arg("--warmup", type=_positive_int, default=500, metavar="N", help="warm-up iterations (default: 500)"),
        arg("--draws", type=_positive_int, default=500, metavar="N", help="draws per chain (default: 500)"),
        arg("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)"),
        arg("--no-progress", action="store_true", help="no progress lines"),
    ],
)
def run_sites_command(args: argparse.Namespace) -> int:
    """One Dask task per site: build its calibration on a worker, sample it and write SITE.nc atomically;
    sites.json lists every site's state. Run the same command again to resume: sites with a result file
    are skipped. Exit status 1 when a site failed (its error is in sites.json)."""
    from bayeslsm.distributed import ExperimentSites, TwinSites, run_sites

    if (args.experiment is None) == (args.synthetic is None):
        raise CommandError("give either an EXPERIMENT.toml or --synthetic N (not both, not neither)")
    build = TwinSites(n=args.synthetic) if args.synthetic else ExperimentSites(args.experiment)
    sites = build.site_ids
    if args.sites:
        unknown = [s for s in args.sites if s not in sites]
        if unknown:
            raise CommandError(f"--sites {unknown} are not sites of the run; expected some of {sites}")
        sites = list(args.sites)
    if args.method == "nuts":
        fit = {"chains": args.chains, "warmup": args.warmup, "draws": args.draws, "seed": args.seed}
    else:
        fit = {"draws": args.draws, "seed": args.seed}
    res = run_sites(build, sites, args.out, method=args.method, fit=fit, address=args.address,
                    n_workers=args.workers, progress=not args.no_progress)
    failed = [s for s, r in res.items() if r.state == "failed"]
    print(f"{PROG} run-sites: {len(res) - len(failed)} of {len(res)} sites done; wrote {args.out / 'sites.json'}")
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------------
# entry point


def build_parser() -> argparse.ArgumentParser:
    """The ``bayeslsm`` parser with every registered command."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Bayesian parameter estimation for land surface models.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.description)
        for a in cmd.arguments:
            p.add_argument(*a.flags, **a.kwargs)
        p.set_defaults(func=cmd.func)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exception types reported as one line and exit status 2 (imported lazily)."""
    from bayeslsm.data.fluxnet import DataFileError
    from bayeslsm.data.reference_io import DriverFileError
    from bayeslsm.experiments.spec import ExperimentError
    from bayeslsm.infer.results import ResultsFileError
    from bayeslsm.infer.validate import InitialPointError

    return (CommandError, DriverFileError, DataFileError, ExperimentError, ResultsFileError, InitialPointError,
            OSError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bayeslsm`` with ``argv`` (default ``sys.argv[1:]``) and return the exit status.

    Parameters
    ----------
    argv
        Arguments without the program name, e.g. ``["simulate", "vsem", "--drivers", "par.csv", ...]``.

    Returns
    -------
    int
        0 on success, 2 on a usage error or a problem with the user's files (message on stderr).

    Examples
    --------
    >>> main(["--version"])  # doctest: +SKIP
    bayeslsm 0.1.0
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: argparse exits; we return the status
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except Exception as err:
        if not isinstance(err, _user_errors()):
            raise
        print(f"{PROG} {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
