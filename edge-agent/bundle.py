"""Model bundle: the ONNX file, its manifest and its digest, as the trainer writes them and the agent reads them.

A *bundle* is what a registered model *version* carries for edge devices. The trainer logs it in
the artifacts of the version's logged model, next to the files of MLflow's ONNX flavour:

- ``model.onnx``: the model, float32 input of shape ``[None, n_lags]``, history oldest first;
- ``extra_files/edge_manifest.json``: everything the agent needs without mlflow (see
  :class:`Manifest`), including the SHA-256 of ``model.onnx`` and reference inputs with their
  expected outputs. It sits under ``extra_files/`` because that is where MLflow's ``extra_files``
  argument of ``mlflow.onnx.log_model`` puts it.

Both paths are relative to the version's download URI.

The agent refuses a bundle whose file does not match the digest, or whose model does not
reproduce the reference outputs within the manifest's tolerance.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

ONNX_FILE = "model.onnx"
MANIFEST_FILE = "edge_manifest.json"
MANIFEST_PATH = "extra_files/" + MANIFEST_FILE
FORMAT_VERSION = 1


class BundleError(ValueError):
    """A manifest is malformed or does not describe its model file."""


def sha256_hex(data: bytes) -> str:
    """Return the SHA-256 digest of ``data`` as lowercase hex."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Manifest:
    """Description of a model that the agent reads without mlflow."""

    model_name: str
    version: str  # registry version; the trainer writes "" before registration and the agent fills it in
    run_id: str
    model_family: str
    n_lags: int
    input_name: str
    input_type: str  # ONNX element type of the input, "float32"
    output_name: str
    feature_order: list[str]
    unit: str  # unit of inputs and output, "degC"
    interval_seconds: int  # spacing of readings the model was trained on
    onnx_sha256: str
    reference_inputs: list[list[float]]
    reference_outputs: list[float]
    reference_tolerance: float
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    training_data: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        """Serialize to the JSON text stored as ``edge_manifest.json``."""
        return json.dumps(asdict(self), indent=2, sort_keys=True, allow_nan=False)

    def summary(self) -> dict[str, Any]:
        """Describe the model for API responses: identity, window and metrics."""
        return {
            "model_name": self.model_name,
            "version": self.version,
            "run_id": self.run_id,
            "model_family": self.model_family,
            "n_lags": self.n_lags,
            "unit": self.unit,
            "interval_seconds": self.interval_seconds,
            "rmse": self.metrics.get("rmse"),
            "mae": self.metrics.get("mae"),
            "naive_rmse": self.metrics.get("naive_rmse"),
            "onnx_sha256": self.onnx_sha256,
            "created_at": self.created_at,
        }


_REQUIRED_TYPES: dict[str, type | tuple[type, ...]] = {
    "model_name": str,
    "version": str,
    "run_id": str,
    "model_family": str,
    "n_lags": int,
    "input_name": str,
    "input_type": str,
    "output_name": str,
    "feature_order": list,
    "unit": str,
    "interval_seconds": int,
    "onnx_sha256": str,
    "reference_inputs": list,
    "reference_outputs": list,
    "reference_tolerance": (int, float),
}


def parse_manifest(text: str | bytes) -> Manifest:
    """Parse and check ``edge_manifest.json``.

    Raises BundleError naming the first field that is missing or of the wrong type, or the
    reference data that does not fit the model's window.
    """
    try:
        raw = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise BundleError(f"manifest is not valid JSON: {error}") from error
    if not isinstance(raw, dict):
        raise BundleError(f"manifest must be a JSON object, got {type(raw).__name__}")
    if raw.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"manifest format_version is {raw.get('format_version')!r}, this agent reads {FORMAT_VERSION}"
        )
    for name, expected in _REQUIRED_TYPES.items():
        if name not in raw:
            raise BundleError(f"manifest is missing the field {name!r}")
        value = raw[name]
        if isinstance(value, bool) or not isinstance(value, expected):
            raise BundleError(f"manifest field {name!r} has type {type(value).__name__}, expected {expected}")

    n_lags = raw["n_lags"]
    if n_lags < 1:
        raise BundleError(f"manifest n_lags is {n_lags}, expected at least 1")
    if len(raw["feature_order"]) != n_lags:
        raise BundleError(f"manifest lists {len(raw['feature_order'])} features for {n_lags} lags")
    if len(raw["onnx_sha256"]) != 64:
        raise BundleError("manifest onnx_sha256 is not a 64-character SHA-256 hex digest")
    inputs, outputs = raw["reference_inputs"], raw["reference_outputs"]
    if not inputs or len(inputs) != len(outputs):
        raise BundleError(f"manifest has {len(inputs)} reference inputs and {len(outputs)} outputs")
    for index, row in enumerate(inputs):
        if not isinstance(row, list) or len(row) != n_lags or not all(_is_finite_number(v) for v in row):
            raise BundleError(f"manifest reference_inputs[{index}] is not a list of {n_lags} finite numbers")
    if not all(_is_finite_number(v) for v in outputs):
        raise BundleError("manifest reference_outputs must all be finite numbers")

    known = {name for name in Manifest.__dataclass_fields__}
    return Manifest(**{key: value for key, value in raw.items() if key in known})


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
