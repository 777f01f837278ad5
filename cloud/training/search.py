"""Hyperparameter search over the model families with time-series cross-validation.

Trials visit the families in turn. Each family's first trial is its default configuration, and
later ones are drawn at random from its grid with a fixed seed, so a run is reproducible. CV is
``TimeSeriesSplit`` on the training windows (folds in time order, never shuffled). The search
stops at ``budget_trials`` trials or when ``budget_seconds`` have passed, whichever comes first;
a trial already running is finished.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from sklearn.model_selection import TimeSeriesSplit, cross_validate

from cloud.errors import CloudError
from cloud.training.defaults import DEFAULT_CV_SPLITS, DEFAULT_SECONDS, DEFAULT_TRIALS
from cloud.training.families import FAMILIES, get_family
from cloud.training.windows import SplitPoint, WindowSet, windows_for

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class Trial:
    """One evaluated configuration."""

    index: int
    family: str
    params: dict[str, Any]  # includes n_lags
    cv_rmse: float
    cv_mae: float
    seconds: float


@dataclass
class SearchResult:
    """All trials, in order, and the best one by CV RMSE."""

    trials: list[Trial] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    @property
    def best(self) -> Trial:
        """Return the trial with the lowest CV RMSE."""
        if not self.trials:
            raise CloudError("the search ran no trial; raise --trials or --seconds")
        return min(self.trials, key=lambda trial: trial.cv_rmse)


def plan_trials(families: list[str], count: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
    """List ``count`` (family, params) pairs: defaults first, then seeded draws without repeats."""
    for name in families:
        get_family(name)
    rng = np.random.default_rng(seed)
    planned: list[tuple[str, dict[str, Any]]] = []
    seen: set[tuple[str, tuple]] = set()
    attempts = 0
    while len(planned) < count and attempts < count * 50:
        family = get_family(families[len(planned) % len(families)])
        if not any(name == family.name for name, _ in planned):
            params = dict(family.default)
        else:
            params = {key: choices[rng.integers(len(choices))] for key, choices in family.grid.items()}
            params = {key: value.item() if isinstance(value, np.generic) else value for key, value in params.items()}
        attempts += 1
        key = (family.name, tuple(sorted(params.items())))
        if key in seen:
            continue
        seen.add(key)
        planned.append((family.name, params))
    return planned


def run_search(
    values: np.ndarray,
    split: SplitPoint,
    families: list[str] | None = None,
    budget_trials: int = DEFAULT_TRIALS,
    budget_seconds: float | None = DEFAULT_SECONDS,
    cv_splits: int = DEFAULT_CV_SPLITS,
    seed: int = 0,
    on_trial: Callable[[Trial], None] | None = None,
) -> SearchResult:
    """Evaluate planned trials with TimeSeriesSplit CV on the windows before ``split``.

    ``on_trial`` is called after each trial (the pipeline logs a nested MLflow run there). One
    progress line per trial is logged at INFO. Raises CloudError when the budget allows no trial.
    """
    if budget_trials < 1:
        raise CloudError(f"trial budget is {budget_trials}, expected at least 1")
    names = families or list(FAMILIES)
    plan = plan_trials(names, budget_trials, seed)
    windows: dict[int, WindowSet] = {}
    result = SearchResult()
    started = time.monotonic()
    for index, (family, params) in enumerate(plan, start=1):
        if budget_seconds is not None and result.trials and time.monotonic() - started >= budget_seconds:
            logger.info("time budget of %.0f s used up after %d of %d trials", budget_seconds, len(result.trials), len(plan))
            break
        n_lags = params["n_lags"]
        if n_lags not in windows:
            windows[n_lags] = windows_for(values, n_lags, split)
        trial = _evaluate(index, family, params, windows[n_lags], cv_splits, seed)
        result.trials.append(trial)
        logger.info(
            "trial %d/%d %-13s cv_rmse=%.4f cv_mae=%.4f %.1fs (elapsed %.0fs) %s",
            index, len(plan), family, trial.cv_rmse, trial.cv_mae, trial.seconds,
            time.monotonic() - started, _format_params(params),
        )
        if on_trial is not None:
            on_trial(trial)
    result.elapsed_seconds = time.monotonic() - started
    best = result.best
    logger.info("best: %s cv_rmse=%.4f %s", best.family, best.cv_rmse, _format_params(best.params))
    return result


def _evaluate(index: int, family: str, params: dict[str, Any], windows: WindowSet, cv_splits: int, seed: int) -> Trial:
    started = time.monotonic()
    model = get_family(family).build(params, seed)
    scores = cross_validate(
        model,
        windows.x_train,
        windows.y_train,
        cv=TimeSeriesSplit(n_splits=cv_splits),
        scoring=("neg_root_mean_squared_error", "neg_mean_absolute_error"),
    )
    return Trial(
        index=index,
        family=family,
        params=params,
        cv_rmse=float(-scores["test_neg_root_mean_squared_error"].mean()),
        cv_mae=float(-scores["test_neg_mean_absolute_error"].mean()),
        seconds=time.monotonic() - started,
    )


def _format_params(params: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in params.items())
