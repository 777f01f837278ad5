"""Exceptions of the agent runtime: one base class, narrow subclasses that carry their data.

Pull failures come in two kinds, distinguished by ``transient``:

- transient (registry down, timed out, answering 5xx): nothing is wrong with the version, so the
  updater retries later with backoff and does not remember the version as rejected;
- fatal (alias or model not found, digest mismatch, bad manifest, model fails to load or to
  reproduce its reference outputs): retrying cannot help, so the old model keeps serving and a
  rejected *version* is remembered so that it is not pulled again unless forced.

Each class has a stable ``code`` that the HTTP API reports in its error body.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base class of every error the runtime raises on purpose."""

    code = "agent_error"
    transient = False


class RegistryUnavailableError(AgentError):
    """The registry could not be reached, timed out, or responded with a server error (transient)."""

    code = "registry_unavailable"
    transient = True

    def __init__(self, message: str, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class RegistryNotConfiguredError(AgentError):
    """A pull was requested but no registry URL is configured."""

    code = "registry_not_configured"


class RegistryResponseError(AgentError):
    """The registry responded, but not with what the agent needs (fatal for this pull)."""

    code = "registry_bad_response"

    def __init__(self, message: str, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class AliasNotFoundError(RegistryResponseError):
    """The configured alias or registered model does not exist in the registry."""

    code = "alias_not_found"

    def __init__(self, message: str, url: str, model_name: str, alias: str, status: int | None = None) -> None:
        super().__init__(message, url, status)
        self.model_name = model_name
        self.alias = alias


class BundleRejectedError(AgentError):
    """A bundle failed a check: too large, digest mismatch, bad manifest, load or reference failure.

    ``version`` is the registry version, or ``None`` when the bundle is not yet tied to one.
    """

    code = "bundle_rejected"

    def __init__(self, message: str, version: str | None = None) -> None:
        super().__init__(message)
        self.version = version


class DigestMismatchError(BundleRejectedError):
    """The ONNX file's SHA-256 differs from the digest in its manifest."""

    code = "digest_mismatch"


class ManifestError(BundleRejectedError):
    """The manifest is missing, malformed, or does not match the model."""

    code = "bad_manifest"


class ModelLoadError(BundleRejectedError):
    """ONNX Runtime could not open the model, or its input does not fit the manifest."""

    code = "model_load_failed"


class ReferenceMismatchError(BundleRejectedError):
    """The model's outputs for the manifest's reference inputs differ beyond the tolerance."""

    code = "reference_mismatch"


class DownloadTooLargeError(BundleRejectedError):
    """A file of the bundle is larger than the configured download limit."""

    code = "download_too_large"


class StoreError(AgentError):
    """The model store on disk cannot do what was requested."""

    code = "store_error"


class NoRollbackTargetError(StoreError):
    """A rollback was requested but no other intact version is kept on the device."""

    code = "no_rollback_target"


class PullInProgressError(AgentError):
    """Another pull or rollback holds the update lock."""

    code = "pull_in_progress"
    transient = True


class VersionRejectedError(AgentError):
    """The alias points to a version that this device rejected before (or rolled back from)."""

    code = "version_rejected"

    def __init__(self, message: str, version: str) -> None:
        super().__init__(message)
        self.version = version
