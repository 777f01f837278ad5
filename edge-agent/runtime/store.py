"""Model store on the device: kept bundles, the active version, and rejected versions.

Layout under ``state_dir``::

    models/<version>/model.onnx
    models/<version>/edge_manifest.json
    active.json      {"version": "3", "kept": ["1", "2", "3"], "activated_at": "..."}
    rejected.json    {"5": {"code": "digest_mismatch", "reason": "...", "at": "..."}}
    staging/         half-downloaded bundles; anything here at start-up is left over and deleted

``kept`` lists versions in the order they were activated, most recent last. Every JSON file is
written atomically (temporary file, flush, fsync, ``os.replace``, fsync of the folder), so a power
cut leaves either the old or the new content, never a torn file.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge_agent.bundle import MANIFEST_FILE, ONNX_FILE, BundleError, Manifest, parse_manifest, sha256_hex
from edge_agent.runtime.exceptions import DigestMismatchError, ManifestError, StoreError

logger = logging.getLogger(__name__)

# Registry versions are decimal numbers; the check also keeps a version from naming a path.
_VERSION_PATTERN = re.compile(r"^[0-9A-Za-z._-]{1,64}$")


def check_version_name(version: str) -> str:
    """Return ``version`` if it is safe as a folder name; raise StoreError otherwise."""
    if not _VERSION_PATTERN.match(version) or version in {".", ".."}:
        raise StoreError(f"version {version!r} is not a valid version name; expected letters, digits, '.', '_' or '-'")
    return version


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def write_json_atomically(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as JSON so that readers see the old or the new file, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def fsync_directory(folder: Path) -> None:
    """Flush a folder's entries to disk so that a rename in it survives a power cut."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@dataclass(frozen=True)
class StoredBundle:
    """A bundle read back from the store, its digest checked."""

    version: str
    model_bytes: bytes
    manifest: Manifest


def read_bundle(folder: Path, version: str | None) -> StoredBundle:
    """Read ``model.onnx`` and ``edge_manifest.json`` from ``folder`` and check the digest.

    The manifest's ``version`` is set to ``version`` because the trainer writes the manifest
    before the registry numbers the version. Raises ManifestError or DigestMismatchError.
    """
    try:
        manifest_text = (folder / MANIFEST_FILE).read_bytes()
        model_bytes = (folder / ONNX_FILE).read_bytes()
    except OSError as error:
        raise ManifestError(f"bundle in {folder} is incomplete: {error}", version) from error
    try:
        manifest = parse_manifest(manifest_text)
    except BundleError as error:
        raise ManifestError(f"manifest of version {version} is invalid: {error}", version) from error
    digest = sha256_hex(model_bytes)
    if digest != manifest.onnx_sha256:
        raise DigestMismatchError(
            f"model.onnx of version {version} has SHA-256 {digest[:12]}..., the manifest expects "
            f"{manifest.onnx_sha256[:12]}...; the file is damaged or does not belong to this manifest",
            version,
        )
    if version is not None and manifest.version != version:
        manifest = replace(manifest, version=version)
    return StoredBundle(version or manifest.version, model_bytes, manifest)


class ModelStore:
    """Bundles kept on the device, which one is active, and which versions were rejected."""

    def __init__(self, state_dir: Path | str, keep: int = 3) -> None:
        if keep < 2:
            raise StoreError(f"keep is {keep}; at least 2 versions must be kept so that a rollback is possible")
        self.root = Path(state_dir)
        self.keep = keep
        self.models_dir = self.root / "models"
        self.staging_root = self.root / "staging"
        self.active_path = self.root / "active.json"
        self.rejected_path = self.root / "rejected.json"
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self.staging_root.mkdir(parents=True, exist_ok=True)

    # Reading state -------------------------------------------------------------------------

    def read_active(self) -> dict[str, Any] | None:
        """Return the content of ``active.json``, or None if it is missing or unreadable."""
        try:
            data = json.loads(self.active_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            logger.warning("active.json in %s is unreadable (%s); treating it as missing", self.root, error)
            return None
        if not isinstance(data, dict) or not isinstance(data.get("version"), str):
            logger.warning("active.json in %s has no version; treating it as missing", self.root)
            return None
        return data

    def active_version(self) -> str | None:
        active = self.read_active()
        return active["version"] if active else None

    def kept_versions(self) -> list[str]:
        """Return kept versions in activation order, most recent last, then any others found on disk."""
        active = self.read_active() or {}
        listed = [v for v in active.get("kept", []) if isinstance(v, str) and (self.models_dir / v).is_dir()]
        on_disk = sorted(
            (p.name for p in self.models_dir.iterdir() if p.is_dir() and p.name not in listed),
            key=_version_sort_key,
        )
        return on_disk + listed

    def bundle_dir(self, version: str) -> Path:
        return self.models_dir / check_version_name(version)

    def load(self, version: str) -> StoredBundle:
        """Read a kept bundle and check its digest; raises ManifestError or DigestMismatchError."""
        return read_bundle(self.bundle_dir(version), version)

    # Rejected versions ---------------------------------------------------------------------

    def rejected(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.rejected_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            logger.warning("rejected.json in %s is unreadable (%s); no version is treated as rejected", self.root, error)
            return {}
        return data if isinstance(data, dict) else {}

    def mark_rejected(self, version: str, code: str, reason: str) -> None:
        rejected = self.rejected()
        rejected[version] = {"code": code, "reason": reason, "at": utc_now_iso()}
        write_json_atomically(self.rejected_path, rejected)

    def clear_rejected(self, version: str) -> None:
        rejected = self.rejected()
        if rejected.pop(version, None) is not None:
            write_json_atomically(self.rejected_path, rejected)

    # Changing state ------------------------------------------------------------------------

    def new_staging_dir(self) -> Path:
        """Create an empty folder for a download; :meth:`install` moves it into place."""
        return Path(tempfile.mkdtemp(prefix="pull-", dir=self.staging_root))

    def discard_staging(self) -> int:
        """Delete every staging folder; return how many there were (left over by an interrupted pull)."""
        count = 0
        for leftover in self.staging_root.iterdir():
            shutil.rmtree(leftover, ignore_errors=True)
            count += 1
        return count

    def install(self, version: str, staged: Path) -> Path:
        """Move a checked staging folder to ``models/<version>``, replacing an older copy."""
        target = self.bundle_dir(version)
        if target.exists():
            # A copy from an earlier pull that was never activated, or a damaged one: replace it.
            shutil.rmtree(target)
        os.replace(staged, target)
        fsync_directory(self.models_dir)
        return target

    def activate(self, version: str) -> None:
        """Record ``version`` as active in ``active.json``, then delete versions beyond ``keep``.

        Once ``active.json`` is replaced, an agent restarting from disk serves ``version``.
        """
        check_version_name(version)
        kept = [v for v in self.kept_versions() if v != version] + [version]
        kept = kept[-self.keep :]
        write_json_atomically(self.active_path, {"version": version, "kept": kept, "activated_at": utc_now_iso()})
        self._prune(set(kept))

    def forget(self, version: str) -> None:
        """Delete a kept bundle (found damaged) so that a later pull downloads it again."""
        target = self.bundle_dir(version)
        shutil.rmtree(target, ignore_errors=True)
        active = self.read_active()
        if active and version in active.get("kept", []):
            active["kept"] = [v for v in active["kept"] if v != version]
            write_json_atomically(self.active_path, active)

    def _prune(self, kept: set[str]) -> None:
        for folder in self.models_dir.iterdir():
            if folder.is_dir() and folder.name not in kept:
                logger.info("deleting version %s from the store, it is older than the last %d kept", folder.name, self.keep)
                shutil.rmtree(folder, ignore_errors=True)


def _version_sort_key(version: str) -> tuple[int, int | str]:
    return (0, int(version)) if version.isdigit() else (1, version)
