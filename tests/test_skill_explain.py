"""Held-out skill split into mean error and centred RMSE, and the report's reason when the posterior loses."""

import numpy as np
import pytest

from bayeslsm.experiments.skill import _metrics, explain_heldout


def _skill(obs_c, pred_c, obs_v, pred_v_post, pred_v_prior, rng):
    """A one-stream skill dict from synthetic predictive means (draws spread 0.1 around them)."""
    def m(y, mean):
        draws = mean[None, :] + 0.1 * rng.standard_normal((50, y.size))
        return _metrics(y, draws, draws, 0.9)
    return {"streams": {"NEE": {
        "calibration": {"posterior": m(obs_c, pred_c), "prior": m(obs_c, pred_c + 1.0)},
        "validation": {"posterior": m(obs_v, pred_v_post), "prior": m(obs_v, pred_v_prior)}}}}


def test_rmse_splits_into_mean_error_and_centred_rmse():
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    draws = y[None, :] + 0.7 + rng.normal(scale=0.5, size=(30, 400))
    m = _metrics(y, draws, draws, 0.9)
    # exact identity rmse^2 = mean_error^2 + centred_rmse^2 (population variance), to rounding
    assert m["rmse"] ** 2 == pytest.approx(m["mean_error"] ** 2 + m["centred_rmse"] ** 2, rel=1e-12)
    assert m["obs_mean"] == pytest.approx(y.mean(), rel=1e-12)
    # the mean of 30 draws with sd 0.5 has sd 0.5/sqrt(30) = 0.09: mean error 0.7 within 4 sd of its mean
    assert 0.7 - 0.04 < m["mean_error"] < 0.7 + 0.04


def test_a_drifting_model_is_named_as_the_reason():
    rng = np.random.default_rng(1)
    obs_c, obs_v = rng.normal(-0.6, 1.0, 500), rng.normal(-0.6, 1.0, 300)
    pred_c = obs_c + rng.normal(0, 0.8, 500)
    # posterior: good dynamics but drifts by -0.8 in the held-out years; prior: unbiased and noisier
    pred_post = obs_v - 0.8 + rng.normal(0, 0.5, 300)
    pred_prior = obs_v + rng.normal(0, 0.9, 300)
    why = explain_heldout(_skill(obs_c, pred_c, obs_v, pred_post, pred_prior, rng))
    assert len(why) == 1 and why[0].startswith("NEE: the posterior's held-out RMSE")
    assert "the model drifts where the observations do not" in why[0]


def test_shifted_observations_are_named_as_the_reason():
    rng = np.random.default_rng(2)
    obs_c, obs_v = rng.normal(-0.6, 1.0, 500), rng.normal(0.4, 1.0, 300)   # the observed mean moves by +1
    pred_c = obs_c + rng.normal(0, 0.8, 500)
    pred_post = obs_v - 1.0 + rng.normal(0, 0.5, 300)       # the model keeps the calibration level
    pred_prior = obs_v + rng.normal(0, 0.9, 300)
    why = explain_heldout(_skill(obs_c, pred_c, obs_v, pred_post, pred_prior, rng))
    assert len(why) == 1 and "the observations shifted" in why[0]


def test_worse_dynamics_are_named_and_a_better_posterior_gets_no_reason():
    rng = np.random.default_rng(3)
    obs_c, obs_v = rng.normal(0, 1, 500), rng.normal(0, 1, 300)
    pred_c = obs_c + rng.normal(0, 0.3, 500)
    worse = explain_heldout(_skill(obs_c, pred_c, obs_v, obs_v + rng.normal(0, 1.5, 300),
                                   obs_v + rng.normal(0, 0.9, 300), rng))
    assert len(worse) == 1 and "day-to-day errors grew too" in worse[0]
    better = explain_heldout(_skill(obs_c, pred_c, obs_v, obs_v + rng.normal(0, 0.3, 300),
                                    obs_v + rng.normal(0, 0.9, 300), rng))
    assert better == []


def test_multi_site_runs_count_the_sites_where_the_posterior_wins():
    skill = {"streams": {"GPP": {
        "validation": {"posterior": {"rmse": 2.0, "mean_error": 0.1}, "prior": {"rmse": 4.0, "mean_error": 0.5}},
        "per_site": {"A": {"validation": {"posterior": {"rmse": 1.0}, "prior": {"rmse": 2.0}}},
                     "B": {"validation": {"posterior": {"rmse": 3.0}, "prior": {"rmse": 2.5}}},
                     "C": {"validation": {"posterior": {"rmse": None}, "prior": {"rmse": None}}}}}}}
    assert explain_heldout(skill) == ["GPP: the posterior beats the prior on held-out RMSE at 1 of 2 validated "
                                      "sites (not at B)."]
