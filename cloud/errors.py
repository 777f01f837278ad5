"""Exceptions of the cloud side: one base class, narrow subclasses that carry the values involved."""

from __future__ import annotations


class CloudError(Exception):
    """Base class of every error the cloud side raises on purpose; the CLI turns it into exit code 1."""


class DataError(CloudError):
    """Input data cannot be read or is unusable for training."""


class MissingColumnError(DataError):
    """A column named by the caller is not in the file."""

    def __init__(self, path: str, column: str, role: str, available: list[str]) -> None:
        self.path = path
        self.column = column
        self.role = role
        self.available = available
        super().__init__(
            f"{path}: the {role} column {column!r} was not found; the file has the columns "
            f"{', '.join(repr(name) for name in available)}. Pass one of them with --{role}-column."
        )


class ColumnDetectionError(DataError):
    """No column of a role could be guessed from the header."""

    def __init__(self, path: str, role: str, available: list[str]) -> None:
        self.path = path
        self.role = role
        self.available = available
        super().__init__(
            f"{path}: could not detect the {role} column among "
            f"{', '.join(repr(name) for name in available)}; name it with --{role}-column."
        )


class TooFewRowsError(DataError):
    """A series has fewer usable values than the lag window and the split need."""

    def __init__(self, source: str, rows: int, needed: int, reason: str) -> None:
        self.source = source
        self.rows = rows
        self.needed = needed
        super().__init__(
            f"{source} has {rows} usable rows, at least {needed} are needed ({reason}); "
            "collect a longer period or lower the largest n_lags."
        )


class TrackingServerUnreachableError(CloudError):
    """The MLflow tracking server did not respond to its health check."""

    def __init__(self, uri: str, detail: str) -> None:
        self.uri = uri
        self.detail = detail
        super().__init__(
            f"MLflow tracking server {uri} is not reachable ({detail}). Start one with "
            "`cps-cloud server` (it listens on http://127.0.0.1:5000) or set --tracking-uri / "
            "MLFLOW_TRACKING_URI to a running server."
        )


class ExportMismatchError(CloudError):
    """The ONNX model's outputs differ from scikit-learn's by more than the family's tolerance."""

    def __init__(self, family: str, max_abs_diff: float, tolerance: float) -> None:
        self.family = family
        self.max_abs_diff = max_abs_diff
        self.tolerance = tolerance
        super().__init__(
            f"ONNX export of the {family} model differs from scikit-learn by up to {max_abs_diff:.3g} "
            f"on the held-out windows, the tolerance is {tolerance:g}; the model was not registered. "
            "Try another family (--families) or report the converter gap."
        )


class BundleMismatchError(CloudError):
    """The model file read back from MLflow is not the one the manifest describes."""

    def __init__(self, expected_sha256: str, actual_sha256: str, uri: str) -> None:
        self.expected_sha256 = expected_sha256
        self.actual_sha256 = actual_sha256
        self.uri = uri
        super().__init__(
            f"model.onnx downloaded from {uri} has SHA-256 {actual_sha256}, the manifest expects "
            f"{expected_sha256}; the artifact store changed the file, so the model was not registered."
        )


class RegistryError(CloudError):
    """A registry request (versions, aliases) cannot be carried out."""
