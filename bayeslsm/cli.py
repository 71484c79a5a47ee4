"""The ``bayeslsm`` command line.

Usage
-----
::

    bayeslsm simulate MODEL --drivers CSV --params JSON --out CSV [--lat DEG]
    bayeslsm demo [--out DIR] [--sampler chees|nuts] [--chains N] [--warmup N] [--draws N] [--seed N] [--no-progress]
    bayeslsm run EXPERIMENT.toml --out DIR [--chains N] [--warmup N] [--draws N] [--seed N] [--max-tree-depth N]
                 [--sites SITE ...] [--calibration START END] [--validation START END] [--no-progress]
    bayeslsm report DIR/posterior.nc [--out DIR]
    bayeslsm --version

``simulate`` runs ``vsem``, ``dalec2`` or ``dalec2_water`` over a reference-format driver file
(:mod:`bayeslsm.data.reference_io`) and writes the daily outputs in the golden ``outputs.csv`` layout.
``demo`` runs the DALEC2 + water twin experiment (:func:`bayeslsm.demo.run_demo`).
``run`` runs an experiment file (``models/experiments/*.toml``; :func:`bayeslsm.experiments.run_experiment`):
calibration, ``posterior.nc``, held-out skill (``skill.json``) and the report; ``report`` (re)writes the
figures and ``report.md`` of a saved run (:func:`bayeslsm.experiments.write_experiment_report`).

A problem with the user's files or arguments is one line on stderr naming the file and the column or
parameter, and exit status 2 (no traceback); success is status 0.

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
    values = pset.parameters
    result = run(model, model.params(values), forcing, model.initial_state(values))
    outputs = {k: np.asarray(v, dtype=float) for k, v in result._asdict().items()}

    if args.model == "vsem":
        columns = list(rio.VSEM_OUTPUT_COLUMNS)
        rio.write_vsem_outputs(out_path, drivers, outputs)
    else:
        extra = [k for k in model.Outputs._fields if k not in rio.DALEC_OUTPUT_COLUMNS and k != "removal"]
        columns = [*rio.DALEC_OUTPUT_COLUMNS, *extra]
        rio.write_dalec_outputs(out_path, drivers, outputs, extra_columns=extra)
    bad = [c for c in columns if c in outputs and not np.isfinite(outputs[c]).all()]
    if bad:
        first = min(int(np.flatnonzero(~np.isfinite(outputs[c]))[0]) for c in bad) + 1
        hint = "tauV, tauS and tauR must be > 0" if args.model == "vsem" else "clspan must be > 1, pools > 0"
        warnings.warn(
            f"{args.model}: output columns {bad} have non-finite values from day {first} on (written as nan/inf); "
            f"check the parameters in '{args.params}' (e.g. {hint})",
            RuntimeWarning,
            stacklevel=2,
        )
    print(f"{PROG} simulate: wrote {out_path} ({drivers.n} days x {len(columns)} columns, model {args.model})")
    return 0


# ---------------------------------------------------------------------------------------------------
# demo


@command(
    "demo",
    help="run the DALEC2 + water twin experiment (ChEES-HMC or NUTS) and write posterior.nc, summary.json, report.md",
    arguments=[
        arg("--out", type=Path, default=Path("demo_out"), metavar="DIR", help="output folder (default: demo_out)"),
        arg("--sampler", choices=("chees", "nuts"), default="chees",
            help="many-chain ChEES-HMC (default; 16 chains x (200 + 500)) or NUTS (4 chains x (400 + 400))"),
        arg("--chains", type=_positive_int, default=None, metavar="N", help="chains (default: per sampler)"),
        arg("--warmup", type=_positive_int, default=None, metavar="N",
            help="warm-up iterations per chain (default: per sampler)"),
        arg("--draws", type=_positive_int, default=None, metavar="N", help="draws per chain (default: per sampler)"),
        arg("--seed", type=int, default=0, metavar="N", help="random seed of data generation and sampling (default: 0)"),
        arg("--no-progress", action="store_true", help="no progress bars"),
    ],
)
def demo(args: argparse.Namespace) -> int:
    """Generate three years of weather, simulate DALEC2 + water, add noisy and biased NEE, LE and LAI
    observations with gaps, and recover about a dozen parameters (bayeslsm.demo.run_demo)."""
    from bayeslsm.demo import run_demo

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
        arg("--out", required=True, type=Path, metavar="DIR", help="output folder (created)"),
        arg("--chains", type=_positive_int, metavar="N", help="NUTS chains (default: the file's [sampler])"),
        arg("--warmup", type=_positive_int, metavar="N", help="warm-up iterations per chain (default: the file's)"),
        arg("--draws", type=_positive_int, metavar="N", help="draws per chain (default: the file's)"),
        arg("--seed", type=int, metavar="N", help="random seed (default: the file's)"),
        arg("--max-tree-depth", type=_positive_int, metavar="N", help="NUTS maximum tree depth (default: the file's)"),
        arg("--sites", nargs="+", metavar="SITE", help="run only these sites (ids from the file)"),
        arg("--calibration", nargs=2, metavar=("START", "END"),
            help="calibration period, e.g. 2003-01-01 2003-12-31 (default: the file's)"),
        arg("--validation", nargs=2, metavar=("START", "END"),
            help="validation (held-out) period (default: the file's)"),
        arg("--no-progress", action="store_true", help="no progress bars"),
    ],
)
def run(args: argparse.Namespace) -> int:
    """Read the experiment's sites (bayeslsm.data), calibrate on its calibration period, save posterior.nc
    (atomically), predict the validation (held-out) period with prior and posterior draws and write the
    per-stream RMSE and predictive coverage to skill.json, then write figures and report.md into --out."""
    from bayeslsm.experiments import ExperimentError, run_experiment

    overrides = {"chains": args.chains, "warmup": args.warmup, "draws": args.draws, "seed": args.seed,
                 "max_tree_depth": args.max_tree_depth,
                 "sites": args.sites, "calibration": args.calibration, "validation": args.validation,
                 "progress": not args.no_progress}
    try:
        res = run_experiment(args.experiment, args.out, {k: v for k, v in overrides.items() if v is not None})
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

    return (CommandError, DriverFileError, DataFileError, OSError)


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
