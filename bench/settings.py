"""How long and how often each cell runs: the full profile of ``make bench`` and the smoke profile."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """Durations and repetitions of one benchmark run."""

    name: str
    runs: int  # runs of every HTTP, swap and footprint cell
    inprocess_runs: int
    inprocess_seconds: float  # per side, per run, per family and batch size
    http_seconds: float  # one wrk run
    swap_seconds: float  # one wrk run, with or without swaps
    idle_seconds: float
    warm_up_seconds: float
    serial_lines: int
    serial_runs: int
    train_trials: int
    train_seconds: float | None
    create_agent_venv: bool
    inprocess_train_windows: int | None = None  # None fits the in-process models on every training window


# The trainer's default search budget (cloud.training.search: 30 trials, at most 180 s).
FULL = Profile(
    name="full", runs=3, inprocess_runs=5, inprocess_seconds=0.4, http_seconds=10, swap_seconds=10,
    idle_seconds=20, warm_up_seconds=2, serial_lines=20_000, serial_runs=3, train_trials=30, train_seconds=180.0,
    create_agent_venv=True,
)
# Seconds per cell and one run: checks that every step still works, not how fast it is.
SMOKE = Profile(
    name="smoke", runs=1, inprocess_runs=1, inprocess_seconds=0.02, http_seconds=1, swap_seconds=2,
    idle_seconds=1, warm_up_seconds=1, serial_lines=2_000, serial_runs=1, train_trials=1, train_seconds=None,
    create_agent_venv=False, inprocess_train_windows=1500,
)
