"""Inference engine: one ONNX Runtime session and the manifest of the bundle it was opened from.

An :class:`Engine` is immutable once built, so a request that took a reference to it keeps a
working model even while a swap installs another engine. :class:`EngineHolder` is the one place
that reference lives.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from edge_agent.bundle import Manifest
from edge_agent.runtime.exceptions import ModelLoadError, ReferenceMismatchError

logger = logging.getLogger(__name__)

# ONNX tensor type names as ONNX Runtime reports them, mapped to NumPy types.
def overflowed_rows(predictions: np.ndarray) -> np.ndarray:
    """Return the indices of forecasts that are NaN, infinite, or at float32's largest magnitude.

    A float32 model that overflows returns infinity on x86_64, but ONNX Runtime 1.32 on aarch64
    (seen under QEMU 10 emulation) saturates at float32's largest value instead, so that counts too.
    """
    float32_max = float(np.finfo(np.float32).max)
    return np.flatnonzero(~np.isfinite(predictions) | (np.abs(predictions) >= float32_max))


_ONNX_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
}


@dataclass(frozen=True)
class SessionSettings:
    """Thread settings of ONNX Runtime sessions; one intra-op thread suits a small forecaster."""

    intra_op_threads: int = 1
    inter_op_threads: int = 1


def session_options(settings: SessionSettings) -> ort.SessionOptions:
    """Build SessionOptions with fixed thread counts and no spin-waiting between runs."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = settings.inter_op_threads
    # Spinning keeps idle threads busy-waiting for the next run; on a shared Raspberry Pi the
    # CPU is worth more than the microseconds it saves.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


class Engine:
    """An open model: predicts next readings from windows of ``manifest.n_lags`` readings."""

    def __init__(self, model_bytes: bytes, manifest: Manifest, settings: SessionSettings | None = None) -> None:
        """Open ``model_bytes`` with ONNX Runtime and check that its input fits the manifest.

        Raises ModelLoadError when the bytes are not a loadable model, or when its first input
        is not ``[batch, n_lags]`` of a floating type.
        """
        self.manifest = manifest
        try:
            self._session = ort.InferenceSession(
                model_bytes,
                sess_options=session_options(settings or SessionSettings()),
                providers=["CPUExecutionProvider"],
            )
        except Exception as error:  # onnxruntime raises several unrelated types for bad models
            raise ModelLoadError(
                f"ONNX Runtime could not load the model of version {manifest.version or '(unregistered)'}: {error}",
                manifest.version or None,
            ) from error

        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ModelLoadError(
                f"model has {len(inputs)} inputs, expected 1 input of shape [batch, {manifest.n_lags}]",
                manifest.version or None,
            )
        model_input = inputs[0]
        self._input_name = model_input.name
        shape = list(model_input.shape)
        if len(shape) != 2 or shape[1] != manifest.n_lags:
            raise ModelLoadError(
                f"model input {model_input.name!r} has shape {shape}, the manifest expects [batch, {manifest.n_lags}]",
                manifest.version or None,
            )
        if model_input.type not in _ONNX_TYPES:
            raise ModelLoadError(
                f"model input {model_input.name!r} has type {model_input.type}, expected a floating-point tensor",
                manifest.version or None,
            )
        self._input_type = _ONNX_TYPES[model_input.type]
        self._output_name = self._session.get_outputs()[0].name

    @property
    def n_lags(self) -> int:
        return self.manifest.n_lags

    @property
    def version(self) -> str:
        return self.manifest.version

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Return one forecast per row of ``windows`` (shape ``(k, n_lags)``, oldest first), as float64.

        Inputs are cast to the type the model declares. Raises ValueError on a wrong shape.
        """
        batch = np.asarray(windows)
        if batch.ndim != 2 or batch.shape[1] != self.n_lags:
            raise ValueError(f"windows have shape {batch.shape}, expected (k, {self.n_lags})")
        outputs = self._session.run([self._output_name], {self._input_name: batch.astype(self._input_type)})
        return np.asarray(outputs[0], dtype=np.float64).reshape(batch.shape[0], -1)[:, 0]

    def verify_references(self) -> float:
        """Check the model against the manifest's reference inputs; return the largest difference.

        Raises ReferenceMismatchError when an output differs from the manifest by more than
        ``reference_tolerance`` (absolute), or is not finite.
        """
        manifest = self.manifest
        predicted = self.predict(np.asarray(manifest.reference_inputs, dtype=np.float64))
        expected = np.asarray(manifest.reference_outputs, dtype=np.float64)
        differences = np.abs(predicted - expected)
        worst = int(np.nanargmax(differences)) if np.isfinite(differences).any() else 0
        largest = float(differences[worst])
        if not math.isfinite(largest) or largest > manifest.reference_tolerance:
            raise ReferenceMismatchError(
                f"model of version {manifest.version or '(unregistered)'} returns {predicted[worst]!r} for "
                f"reference input {worst}, the manifest expects {expected[worst]!r} "
                f"(tolerance {manifest.reference_tolerance}); the file does not match its manifest, "
                "publish the bundle again",
                manifest.version or None,
            )
        return largest


class EngineHolder:
    """The reference to the engine that serves requests, swapped in one assignment.

    Readers call :meth:`get` once per request and keep using that object, so a swap never
    changes the model in the middle of a request.
    """

    def __init__(self, engine: Engine | None = None) -> None:
        self._engine = engine
        self._lock = threading.Lock()

    def get(self) -> Engine | None:
        return self._engine

    def swap(self, engine: Engine | None) -> Engine | None:
        """Install ``engine`` and return the one it replaces."""
        with self._lock:
            previous, self._engine = self._engine, engine
        return previous
