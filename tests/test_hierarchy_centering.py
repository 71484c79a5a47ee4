"""Per-parameter centring of the hierarchy (``Hierarchy(centered=[...])``): which latent sites the model
samples, and named errors for bad settings (API and experiment files)."""

from __future__ import annotations

import pytest
import xarray as xr

from bayeslsm import Calibration, weather_generator
from bayeslsm.experiments import ExperimentError, load_experiment
from bayeslsm.infer import Hierarchy, names

STREAMS = [{"name": "NEE", "support": "daily", "error": {"kind": "gaussian", "sigma": 0.01}}]


def _cal(centered):
    sites = ["s0", "s1", "s2"]
    forcing = xr.concat([weather_generator(years=1, lat=40.0 + 5 * i, seed=i, site=s) for i, s in enumerate(sites)],
                        dim="site").assign_coords(site=sites)
    h = Hierarchy(params=("LUE", "tauV"), centered=centered)
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


@pytest.mark.parametrize("centered, match", [(("Av",), "'Av' is not in `hierarchy.params`"),
                                             ("LUE", "True, False or a list of parameter names")])
def test_bad_centring_is_named(centered, match):
    with pytest.raises(ValueError, match=match):
        Hierarchy(params=("LUE", "tauV"), centered=centered)


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
