"""Default settings of collection and training, in a module without heavy imports.

The CLI builds its help text from these values; keeping them here lets ``cps-cloud --help``
start without importing pandas, scikit-learn or mlflow.
"""

from __future__ import annotations

# Cleaning
DEFAULT_INTERVAL = "1h"
DEFAULT_FILL_LIMIT = 3  # intervals
DEFAULT_VALID_RANGE_C = (-50.0, 60.0)

# MLflow experiment for collection and training runs
DEFAULT_EXPERIMENT = "temperature-forecaster"

# Search. 30 trials take about 45 s on the 8,760-row Seattle series (measured on a shared
# 2-core machine); the time budget is a ceiling for slower machines or larger data.
FAMILY_NAMES = ("ridge", "gbm", "random_forest")
DEFAULT_TRIALS = 30
DEFAULT_SECONDS = 180.0
DEFAULT_CV_SPLITS = 3
DEFAULT_TEST_FRACTION = 0.2
