"""Diagnostics: sampling checks, summaries, uncertainty reduction, SBC, plots and reports."""

from bayeslsm.diagnostics.checks import SamplingReport, SamplingWarning, check_sampling, correlated_pairs, ebfmi
from bayeslsm.diagnostics.plots import (
    plot_forest,
    plot_pairs,
    plot_predictive,
    plot_prior_posterior,
    plot_shrinkage,
    plot_trace,
    stream_names,
    stream_variable,
)
from bayeslsm.diagnostics.identifiability import PreflightReport, preflight
from bayeslsm.diagnostics.prior_check import annual_statistics, prior_check_table, prior_predictive_check
from bayeslsm.diagnostics.report import write_report
from bayeslsm.diagnostics.sensitivity import plot_sensitivity, sensitivity, sensitivity_table
from bayeslsm.diagnostics.sbc import plot_sbc_hist, sbc_bins, sbc_ranks, sbc_uniformity_pvalue
from bayeslsm.diagnostics.sbc_runner import SBCResult, run_sbc, sbc_problem, write_sbc
from bayeslsm.diagnostics.summary import parameter_table, summarize, uncertainty_reduction, write_summary_json

__all__ = [
    "SBCResult",
    "PreflightReport",
    "SamplingReport",
    "SamplingWarning",
    "check_sampling",
    "correlated_pairs",
    "ebfmi",
    "annual_statistics",
    "parameter_table",
    "plot_forest",
    "plot_pairs",
    "plot_sensitivity",
    "preflight",
    "prior_check_table",
    "prior_predictive_check",
    "plot_predictive",
    "plot_prior_posterior",
    "plot_sbc_hist",
    "plot_shrinkage",
    "plot_trace",
    "run_sbc",
    "sbc_bins",
    "sbc_problem",
    "sbc_ranks",
    "sbc_uniformity_pvalue",
    "stream_names",
    "stream_variable",
    "sensitivity",
    "sensitivity_table",
    "summarize",
    "uncertainty_reduction",
    "write_report",
    "write_sbc",
    "write_summary_json",
]
