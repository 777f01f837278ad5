"""Search planning and budgets on a small synthetic series."""

from __future__ import annotations

import logging

import pytest

from cloud.errors import CloudError
from cloud.training.datasets import read_collected
from cloud.training.defaults import FAMILY_NAMES
from cloud.training.families import FAMILIES
from cloud.training.search import plan_trials, run_search
from cloud.training.windows import split_point


@pytest.fixture(scope="module")
def series(synthetic_data):
    collected = read_collected(synthetic_data.csv_path)
    values = collected.frame["temperature_c"].to_numpy()
    return values, split_point(values, collected.frame["timestamp"], 24)


def test_plan_starts_with_family_defaults():
    plan = plan_trials(list(FAMILIES), 6, seed=0)
    assert [family for family, _ in plan] == ["ridge", "gbm", "random_forest"] * 2
    for family, params in plan[:3]:
        assert params == FAMILIES[family].default


def test_plan_is_seeded_and_unique():
    first = plan_trials(list(FAMILIES), 12, seed=4)
    assert first == plan_trials(list(FAMILIES), 12, seed=4)
    assert first != plan_trials(list(FAMILIES), 12, seed=5)
    keys = [(family, tuple(sorted(params.items()))) for family, params in first]
    assert len(set(keys)) == len(keys)
    for family, params in first:
        assert set(params) == set(FAMILIES[family].grid)
        assert params["n_lags"] in (6, 12, 24)


def test_plan_covers_scaler_in_front_of_trees():
    plan = plan_trials(["gbm", "random_forest"], 16, seed=0)
    assert any(params["scale"] for _, params in plan)
    assert any(not params["scale"] for _, params in plan)


def test_plan_unknown_family():
    with pytest.raises(CloudError, match="unknown model family 'svm'"):
        plan_trials(["svm"], 1, seed=0)


def test_search_tiny_budget_reports_progress(series, caplog):
    values, split = series
    seen = []
    with caplog.at_level(logging.INFO, logger="cloud"):
        result = run_search(values, split, ["ridge", "gbm"], budget_trials=3, budget_seconds=None, on_trial=seen.append)

    assert [trial.index for trial in result.trials] == [1, 2, 3]
    assert seen == result.trials
    assert result.best.cv_rmse == min(trial.cv_rmse for trial in result.trials)
    assert "trial 1/3 ridge" in caplog.text
    assert "trial 3/3 ridge" in caplog.text
    assert "cv_rmse=" in caplog.text


def test_search_time_budget_stops_early(series):
    values, split = series
    # A zero-second budget still runs the first trial so there is a model to return.
    result = run_search(values, split, ["ridge"], budget_trials=5, budget_seconds=0.0)
    assert len(result.trials) == 1


def test_search_is_reproducible(series):
    values, split = series
    first = run_search(values, split, ["random_forest"], budget_trials=2, budget_seconds=None, seed=1)
    second = run_search(values, split, ["random_forest"], budget_trials=2, budget_seconds=None, seed=1)
    assert [trial.cv_rmse for trial in first.trials] == [trial.cv_rmse for trial in second.trials]


def test_family_names_match_registry_of_families():
    # The CLI lists families from cloud.training.defaults without importing scikit-learn.
    assert FAMILY_NAMES == tuple(FAMILIES)
