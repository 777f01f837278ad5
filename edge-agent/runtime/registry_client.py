"""Client for the parts of the MLflow REST API that a device needs, on the standard library only.

It resolves an *alias* to a *version*, finds where the version's artifacts are, and downloads the
two files of its bundle. Checked against MLflow 3.17.2, whose ``get-download-uri`` returns
``mlflow-artifacts:/<experiment>/models/<model id>/artifacts`` for versions registered from a
logged model; ``models:/<model id>`` and ``runs:/<run id>/<path>`` are resolved too, because other
servers and older versions return them.

Errors are classified: RegistryUnavailableError (transient: refused, timed out, 5xx) or
RegistryResponseError / AliasNotFoundError / DownloadTooLargeError (fatal for the pull).
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from edge_agent.bundle import MANIFEST_FILE, MANIFEST_PATH, ONNX_FILE
from edge_agent.runtime.exceptions import (
    AliasNotFoundError,
    DownloadTooLargeError,
    RegistryResponseError,
    RegistryUnavailableError,
)

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
_MAX_JSON_BYTES = 1024 * 1024
_CHUNK_BYTES = 64 * 1024


class RegistryClient:
    """Read-only client of one MLflow tracking server.

    ``base_url`` is the server's root, such as ``http://192.168.1.10:5000``. Every request has
    ``timeout`` seconds to connect and for each read; a file larger than ``max_download_bytes``
    is rejected while it downloads.
    """

    def __init__(
        self,
        base_url: str,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_download_bytes = max_download_bytes

    def resolve_alias(self, model_name: str, alias: str) -> str:
        """Return the version that ``alias`` of ``model_name`` points to.

        Raises AliasNotFoundError when the registered model or the alias does not exist.
        """
        url = self._api_url("/api/2.0/mlflow/registered-models/alias", {"name": model_name, "alias": alias})
        try:
            data = self._get_json(url)
        except RegistryResponseError as error:
            # MLflow 3.17.2 returns 404 for an unknown model and 400 INVALID_PARAMETER_VALUE
            # ("Registered model alias X not found.") for an unknown alias.
            if error.status in (400, 404):
                raise AliasNotFoundError(
                    f"alias {alias!r} not found on registered model {model_name!r} at {self.base_url} "
                    f"({error}); set the alias in the registry or configure another MODEL_ALIAS",
                    url,
                    model_name,
                    alias,
                    error.status,
                ) from error
            raise
        version = (data.get("model_version") or {}).get("version")
        if not isinstance(version, str) or not version:
            raise RegistryResponseError(f"registry response for alias {alias!r} has no model_version.version", url)
        return version

    def download_uri(self, model_name: str, version: str) -> str:
        """Return the artifact URI of a version, as the registry reports it."""
        url = self._api_url("/api/2.0/mlflow/model-versions/get-download-uri", {"name": model_name, "version": version})
        uri = self._get_json(url).get("artifact_uri")
        if not isinstance(uri, str) or not uri:
            raise RegistryResponseError(f"registry response for version {version} of {model_name!r} has no artifact_uri", url)
        return uri

    def artifact_path(self, uri: str) -> str:
        """Turn an artifact URI into a path under ``/api/2.0/mlflow-artifacts/artifacts/``.

        Raises RegistryResponseError for a scheme the agent cannot download over HTTP (s3://,
        file:// and so on), because it needs the server to proxy the artifacts.
        """
        parsed = urllib.parse.urlparse(uri)
        if parsed.scheme == "mlflow-artifacts":
            return parsed.path.lstrip("/")
        # NOTE: MLflow 3.17.2 returned only mlflow-artifacts:/ URIs in our tests, so the models:/
        # and runs:/ branches below follow the REST API reference but have not run against a server.
        if parsed.scheme == "models":
            model_id = parsed.path.strip("/").split("/")[0]
            url = self._api_url(f"/api/2.0/mlflow/logged-models/{urllib.parse.quote(model_id)}", {})
            info = (self._get_json(url).get("model") or {}).get("info") or {}
            return self.artifact_path(self._required(info, "artifact_uri", url))
        if parsed.scheme == "runs":
            run_id, _, sub_path = parsed.path.strip("/").partition("/")
            url = self._api_url("/api/2.0/mlflow/runs/get", {"run_id": run_id})
            info = (self._get_json(url).get("run") or {}).get("info") or {}
            root = self.artifact_path(self._required(info, "artifact_uri", url))
            return f"{root}/{sub_path}".rstrip("/")
        raise RegistryResponseError(
            f"artifact URI {uri!r} uses the scheme {parsed.scheme!r}; the agent downloads only through the "
            "server's artifact proxy, so start the server with --serve-artifacts (mlflow-artifacts:/ URIs)",
            uri,
        )

    def download_bundle(self, model_name: str, version: str, destination: Path) -> None:
        """Download ``model.onnx`` and ``edge_manifest.json`` of a version into ``destination``."""
        root = self.artifact_path(self.download_uri(model_name, version))
        for remote, local in ((MANIFEST_PATH, MANIFEST_FILE), (ONNX_FILE, ONNX_FILE)):
            path = urllib.parse.quote(f"{root}/{remote}")
            self._download(self.base_url + "/api/2.0/mlflow-artifacts/artifacts/" + path, destination / local, version)

    # HTTP ----------------------------------------------------------------------------------

    def _api_url(self, path: str, query: dict[str, str]) -> str:
        return self.base_url + path + ("?" + urllib.parse.urlencode(query) if query else "")

    @staticmethod
    def _required(info: dict[str, Any], key: str, url: str) -> str:
        value = info.get(key)
        if not isinstance(value, str) or not value:
            raise RegistryResponseError(f"registry response from {url} has no {key}", url)
        return value

    def _open(self, url: str):
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            detail = _error_message(error)
            if error.code >= 500:
                raise RegistryUnavailableError(
                    f"registry at {self.base_url} returned HTTP {error.code} for {url}: {detail}; retry later", url, error.code
                ) from error
            raise RegistryResponseError(f"registry returned HTTP {error.code}: {detail}", url, error.code) from error
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, socket.timeout) as error:
            reason = getattr(error, "reason", error)
            raise RegistryUnavailableError(
                f"registry at {self.base_url} is unreachable ({reason}); check MLFLOW_TRACKING_URI and the network",
                url,
            ) from error

    def _get_json(self, url: str) -> dict[str, Any]:
        with self._open(url) as response:
            body = self._read_limited(response, url, _MAX_JSON_BYTES, None)
        try:
            data = json.loads(body)
        except ValueError as error:
            raise RegistryResponseError(f"registry response from {url} is not JSON: {error}", url) from error
        if not isinstance(data, dict):
            raise RegistryResponseError(f"registry response from {url} is not a JSON object", url)
        return data

    def _download(self, url: str, target: Path, version: str) -> None:
        with self._open(url) as response:
            data = self._read_limited(response, url, self.max_download_bytes, version)
        target.write_bytes(data)
        logger.debug("downloaded %s (%d bytes) to %s", url, len(data), target)

    def _read_limited(self, response, url: str, limit: int, version: str | None) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise DownloadTooLargeError(
                f"{url} is {declared} bytes, more than the limit of {limit}; raise the download limit if the model is meant to be this large",
                version,
            )
        chunks: list[bytes] = []
        total = 0
        try:
            while True:
                chunk = response.read(_CHUNK_BYTES)
                if not chunk:
                    break
                total += len(chunk)
                if total > limit:
                    raise DownloadTooLargeError(f"{url} is larger than the limit of {limit} bytes", version)
                chunks.append(chunk)
        except (TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException) as error:
            raise RegistryUnavailableError(f"reading {url} failed after {total} bytes: {error}; retry later", url) from error
        return b"".join(chunks)


def _error_message(error: urllib.error.HTTPError) -> str:
    try:
        body = error.read(4096)
        message = json.loads(body).get("message")
        return str(message) if message else body.decode("utf-8", "replace")[:200]
    except (ValueError, OSError, AttributeError):
        return error.reason if isinstance(error.reason, str) else str(error.code)
