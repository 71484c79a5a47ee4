"""VSEM reproduces BayesianTools' pure-R golden outputs (../shared/reference/vsem) in float64."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from bayeslsm.lsm import VSEM, simulate

COLUMNS = ("NEE", "Cv", "Cs", "CR")
# The issue asks for <= 1e-12 relative; VSEM_REFERENCE.md reports bit-for-bit agreement is possible.
RTOL = 1e-12


def _cases(reference_dir):
    return sorted(p.parent for p in (reference_dir / "vsem").glob("*/*/params.json"))


def test_every_golden_case(reference_dir):
    cases = _cases(reference_dir)
    assert len(cases) >= 4, cases
    model = VSEM()
    worst = {}
    for case in cases:
        meta = json.loads((case / "params.json").read_text())
        par = pd.read_csv(case.parent / "par.csv")["PAR_MJ_m2_d"].to_numpy(float)
        gold = pd.read_csv(case / "outputs.csv")
        p = meta["parameters"]
        out = simulate(model, model.params(p), model.Forcing(par=par), model.initial_state(p))
        for col in COLUMNS:
            assert col in gold.columns, f"{case}: golden column {col!r} missing"
            ref = gold[col].to_numpy(float)
            got = np.asarray(getattr(out, col))
            # NEE crosses zero: judge it against the column's largest magnitude as the reference README does
            scale = np.maximum(np.abs(ref), 1e-3 * np.abs(ref).max()) if col == "NEE" else np.abs(ref)
            err = float(np.max(np.abs(got - ref) / scale))
            worst[f"{case.name}:{col}"] = err
            assert err <= RTOL, f"{case}: {col} max rel error {err:.3e}"
    print("VSEM max rel errors:", max(worst.values()))


def test_sequential_update_matters(reference_dir):
    """A simultaneous update (start-of-day pools in the soil input) must NOT match: the test can fail."""
    case = _cases(reference_dir)[0]
    meta = json.loads((case / "params.json").read_text())
    par = pd.read_csv(case.parent / "par.csv")["PAR_MJ_m2_d"].to_numpy(float)
    gold = pd.read_csv(case / "outputs.csv")
    p = meta["parameters"]
    cv, cs, cr = p["Cv"], p["Cs"], p["Cr"]
    cs_out = []
    for x in par:
        g = x * p["LUE"] * (1 - np.exp(-(p["KEXT"] * p["LAR"]) * cv))
        npp = (1 - p["GAMMA"]) * g
        cv_n = cv + p["Av"] * npp - cv / p["tauV"]
        cr_n = cr + (1 - p["Av"]) * npp - cr / p["tauR"]
        cs = cs + cr / p["tauR"] + cv / p["tauV"] - cs / p["tauS"]
        cv, cr = cv_n, cr_n
        cs_out.append(cs)
    err = np.max(np.abs(np.array(cs_out) - gold["Cs"].to_numpy()) / gold["Cs"].to_numpy())
    assert err > 1e-8
