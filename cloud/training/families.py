"""Model families the search tries: scikit-learn estimators that skl2onnx converts to ONNX.

Each family has a grid of hyperparameters (``n_lags``, the window length, is one of them), a
default configuration tried first, a builder, and the ONNX tolerance its export must meet.
Tree families accept ``scale``, a StandardScaler in front of the trees: it does not change the
trees' predictions much but exercises the converter on a pipeline of two steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from sklearn.base import RegressorMixin
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from cloud.errors import CloudError

N_LAGS_CHOICES = (6, 12, 24)
LINEAR_TOLERANCE = 1e-4
TREE_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Family:
    """One model family: its grid, its first configuration and how to build an estimator."""

    name: str
    grid: dict[str, tuple[Any, ...]]
    default: dict[str, Any]
    build: Callable[[dict[str, Any], int], RegressorMixin]
    onnx_tolerance: float


def _build_ridge(params: dict[str, Any], seed: int) -> Pipeline:
    return make_pipeline(StandardScaler(), Ridge(alpha=params["alpha"]))


def _maybe_scaled(estimator: RegressorMixin, scale: bool) -> RegressorMixin:
    return make_pipeline(StandardScaler(), estimator) if scale else estimator


def _build_gbm(params: dict[str, Any], seed: int) -> RegressorMixin:
    model = GradientBoostingRegressor(
        n_estimators=params["n_estimators"],
        max_depth=params["max_depth"],
        learning_rate=params["learning_rate"],
        subsample=params["subsample"],
        random_state=seed,
    )
    return _maybe_scaled(model, params["scale"])


def _build_random_forest(params: dict[str, Any], seed: int) -> RegressorMixin:
    model = RandomForestRegressor(
        n_estimators=params["n_estimators"],
        max_depth=params["max_depth"],
        min_samples_leaf=params["min_samples_leaf"],
        max_features=params["max_features"],
        random_state=seed,
        n_jobs=1,
    )
    return _maybe_scaled(model, params["scale"])


FAMILIES: dict[str, Family] = {
    "ridge": Family(
        name="ridge",
        grid={"n_lags": N_LAGS_CHOICES, "alpha": (0.01, 0.1, 1.0, 10.0, 100.0)},
        default={"n_lags": 24, "alpha": 1.0},
        build=_build_ridge,
        onnx_tolerance=LINEAR_TOLERANCE,
    ),
    "gbm": Family(
        name="gbm",
        grid={
            "n_lags": N_LAGS_CHOICES,
            "n_estimators": (50, 100, 200),
            "max_depth": (2, 3, 4),
            "learning_rate": (0.05, 0.1),
            "subsample": (0.8, 1.0),
            "scale": (False, True),
        },
        default={"n_lags": 24, "n_estimators": 100, "max_depth": 3, "learning_rate": 0.1, "subsample": 1.0, "scale": False},
        build=_build_gbm,
        onnx_tolerance=TREE_TOLERANCE,
    ),
    "random_forest": Family(
        name="random_forest",
        # Depth is capped: an unbounded forest on a year of hourly data exports to tens of MB,
        # too much to pull to a Raspberry Pi for a small gain.
        grid={
            "n_lags": N_LAGS_CHOICES,
            "n_estimators": (30, 60),
            "max_depth": (6, 8, 10),
            "min_samples_leaf": (1, 5, 20),
            "max_features": (1.0, 0.5),
            "scale": (False, True),
        },
        default={"n_lags": 24, "n_estimators": 30, "max_depth": 8, "min_samples_leaf": 5, "max_features": 0.5, "scale": True},
        build=_build_random_forest,
        onnx_tolerance=TREE_TOLERANCE,
    ),
}


def get_family(name: str) -> Family:
    """Return the family called ``name``; raise CloudError listing the known ones otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise CloudError(f"unknown model family {name!r}; expected one of {', '.join(FAMILIES)}") from None


def build_model(family: str, params: dict[str, Any], seed: int = 0) -> RegressorMixin:
    """Build an unfitted estimator of ``family`` from ``params`` (``n_lags`` is ignored here)."""
    return get_family(family).build(params, seed)
