"""Per-parameter centring of the hierarchy (``Hierarchy(centered=[...])``): which latent sites the model
samples, and named errors for bad settings (API and experiment files)."""

from __future__ import annotations

import pytest
import xarray as xr

from bayeslsm import Calibration, weather_generator
from bayeslsm.experiments import ExperimentError, load_experiment
from bayeslsm.infer import Hierarchy, names

STREAMS = [{"name": "NEE", "support": "daily", "error": {"kind": "gaussian", "sigma": 0.01}}]


def _cal(centered, pft_centered=None, pfts=None):
    sites = ["s0", "s1", "s2"]
    forcing = xr.concat([weather_generator(years=1, lat=40.0 + 5 * i, seed=i, site=s) for i, s in enumerate(sites)],
                        dim="site").assign_coords(site=sites)
    if pfts is not None:
        forcing = forcing.assign_coords(pft=("site", list(pfts)))
    h = Hierarchy(params=("LUE", "tauV"), centered=centered, pft_centered=pft_centered)
    return Calibration("vsem", forcing, None, STREAMS, free=["LUE", "tauV"], hierarchy=h)


@pytest.mark.parametrize("centered, want_centred", [(False, ()), (True, ("LUE", "tauV")), (("LUE",), ("LUE",)),
                                                    (["tauV"], ("tauV",))])
def test_each_parameter_gets_the_parametrisation_asked_for(centered, want_centred):
    sites = {lab.split("[")[0] for lab in _cal(centered).problem().labels}
    for p in ("LUE", "tauV"):
        if p in want_centred:  # site values sampled directly around the PFT level
            assert names.latent(p) in sites and names.eps(p) not in sites
        else:  # standard-normal deviations scaled by the site spread
            assert names.eps(p) in sites and names.latent(p) not in sites
        assert names.hyper(p, "sd_site") in sites and names.hyper(p, "mu") in sites


@pytest.mark.parametrize("centered, pft_centered, site_c, pft_c", [
    (True, None, ("LUE", "tauV"), ("LUE", "tauV")),      # pft_centered follows centered
    (False, None, (), ()),
    (True, False, ("LUE", "tauV"), ()),                  # centred sites, non-centred PFT level
    (True, ["tauV"], ("LUE", "tauV"), ("tauV",)),
    (False, True, (), ("LUE", "tauV")),
])
def test_pft_level_centring_is_set_apart_from_the_site_level(centered, pft_centered, site_c, pft_c):
    # two PFTs among three sites, so the PFT level exists (one PFT drops it)
    cal = _cal(centered, pft_centered, pfts=["DBF", "ENF", "DBF"])
    sites = {lab.split("[")[0] for lab in cal.problem().labels}
    for p in ("LUE", "tauV"):
        assert (names.latent(p) in sites) == (p in site_c) and (names.eps(p) in sites) == (p not in site_c)
        centred_pft = names.latent(names.pft_value(p)) in sites
        assert centred_pft == (p in pft_c) and (names.eps_pft(p) in sites) == (p not in pft_c)
        assert names.hyper(p, "sd_pft") in sites


@pytest.mark.parametrize("centered, match", [(("Av",), "'Av' is not in `hierarchy.params`"),
                                             ("LUE", "True, False or a list of parameter names")])
def test_bad_centring_is_named(centered, match):
    with pytest.raises(ValueError, match=match):
        Hierarchy(params=("LUE", "tauV"), centered=centered)
    with pytest.raises(ValueError, match=match):
        Hierarchy(params=("LUE", "tauV"), pft_centered=centered)


def test_experiment_file_centring_is_validated(tmp_path):
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "models" / "experiments" / "pft-hierarchy.toml"
    text = src.read_text()
    assert "centered" in text  # the line this test edits
    lines = [ln if not ln.strip().startswith("centered") else 'centered = ["no_such_parameter"]'
             for ln in text.splitlines()]
    bad = tmp_path / "bad.toml"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(ExperimentError, match="hierarchy.centered"):
        load_experiment(bad)
    lines = [ln if not ln.strip().startswith("centered") else 'centered = true\npft_centered = "clma"'
             for ln in text.splitlines() if not ln.strip().startswith("pft_centered")]
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(ExperimentError, match="hierarchy.pft_centered"):
        load_experiment(bad)


def test_preflight_advice_names_a_barely_informed_centred_pft_value():
    from bayeslsm.diagnostics.identifiability import _advice

    cal = _cal(True, True, pfts=["DBF", "ENF", "DBF"])
    label = f"{names.latent(names.pft_value('LUE'))}[ENF]"
    advice = _advice(cal, [label], None)
    assert "LUE at ENF" in advice and "pft_centered" in advice and advice != "no advice"
