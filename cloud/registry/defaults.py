"""Default registry names, in a module without heavy imports (the CLI reads them for its help)."""

from __future__ import annotations

DEFAULT_MODEL_NAME = "temperature-forecaster"
DEFAULT_ALIAS = "production"
