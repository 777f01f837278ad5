"""Updater: pulls, swaps and rolls back models, one at a time, and recovers the store at start-up.

Terms: a *pull* resolves the *alias* to a *version* and, if it is not already active, downloads
its *bundle*, checks it and makes it active; a *swap* replaces the engine that serves requests;
a *rollback* goes back to the previous kept version.

A pull walks the states of :class:`PullState` in order and logs every transition. Until
``active.json`` is written nothing visible has changed, so a failure (or a power cut) at any
earlier step leaves the old model serving; :meth:`Updater.recover` deals with what such an
interruption leaves on disk.
"""

from __future__ import annotations

import enum
import logging
import shutil
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from edge_agent.runtime.engine import Engine, EngineHolder, SessionSettings
from edge_agent.runtime.exceptions import (
    AgentError,
    BundleRejectedError,
    NoRollbackTargetError,
    PullInProgressError,
    RegistryNotConfiguredError,
    StoreError,
    VersionRejectedError,
)
from edge_agent.runtime.registry_client import RegistryClient
from edge_agent.runtime.store import ModelStore, StoredBundle, read_bundle

logger = logging.getLogger(__name__)


class PullState(enum.Enum):
    """Steps of a pull, in the order they run; the last three are outcomes."""

    IDLE = "idle"
    RESOLVING = "resolving"  # asking the registry which version the alias points to
    DOWNLOADING = "downloading"  # fetching the bundle into a staging folder
    VERIFYING = "verifying"  # checking the manifest and the SHA-256 of model.onnx
    LOADING = "loading"  # opening a new ONNX Runtime session
    CHECKING_REFERENCES = "checking_references"  # comparing outputs with the manifest's references
    INSTALLING = "installing"  # moving the staging folder to models/<version>
    ACTIVATING = "activating"  # writing active.json: the point after which the swap is final
    SWAPPED = "swapped"
    ALREADY_ACTIVE = "already_active"
    FAILED = "failed"


@dataclass
class PullResult:
    """Outcome of a pull, rollback or start-up load, as reported by the API and the CLI."""

    result: str  # "swapped", "already_active", "rolled_back", "loaded", "no_model" or "failed"
    version: str | None
    previous_version: str | None
    state: PullState
    started_at: str
    duration_seconds: float
    message: str
    error: AgentError | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "result": self.result,
            "version": self.version,
            "previous_version": self.previous_version,
            "state": self.state.value,
            "started_at": self.started_at,
            "duration_seconds": round(self.duration_seconds, 3),
            "message": self.message,
        }
        if self.error is not None:
            data["error_code"] = self.error.code
            data["transient"] = self.error.transient
        return data


class Updater:
    """Owns every change of the active model: pulls, rollbacks, polling and start-up recovery.

    ``client`` may be None when no registry is configured; pulls then fail with a clear message
    while models already in the store still load.
    """

    def __init__(
        self,
        holder: EngineHolder,
        store: ModelStore,
        client: RegistryClient | None,
        model_name: str,
        alias: str,
        settings: SessionSettings | None = None,
    ) -> None:
        self.holder = holder
        self.store = store
        self.client = client
        self.model_name = model_name
        self.alias = alias
        self.settings = settings or SessionSettings()
        self.last_pull: PullResult | None = None
        self.pull_counts: Counter[str] = Counter()  # pulls and rollbacks by result, for /metrics
        self._lock = threading.Lock()
        self._poller: threading.Thread | None = None
        self._stop_polling = threading.Event()

    @property
    def registry_url(self) -> str | None:
        return self.client.base_url if self.client else None

    # Start-up ------------------------------------------------------------------------------

    def recover(self) -> PullResult:
        """Load the active model from disk without the registry, repairing what an interruption left.

        What is found at start-up, and where the agent resumes:

        - staging folders: a pull stopped before its point of no return; delete them, the old
          model is still the active one;
        - ``active.json`` names an intact version: serve it;
        - the active version is missing or damaged (digest, load or references): forget it so
          a pull downloads it again, and fall back to the newest other kept version that works;
        - ``active.json`` missing or unreadable but versions on disk: a first install stopped
          before activation, or the file was lost; activate the newest version that works;
        - nothing usable: serve no model until a pull succeeds.
        """
        started, start_time = _utc_now(), time.monotonic()
        leftovers = self.store.discard_staging()
        if leftovers:
            logger.info("deleted %d staging folder(s) left by an interrupted pull", leftovers)

        active = self.store.active_version()
        candidates = self.store.kept_versions()
        if active is not None:
            candidates = [active] + [v for v in reversed(candidates) if v != active]
        else:
            candidates = list(reversed(candidates))

        for version in candidates:
            try:
                engine = self._open(self.store.load(version))
            except BundleRejectedError as error:
                logger.warning("kept version %s is damaged (%s); deleting it from the store", version, error)
                self.store.forget(version)
                continue
            if version != active:
                logger.warning("active version %s is not usable; falling back to kept version %s", active, version)
                self.store.activate(version)
            self.holder.swap(engine)
            result = PullResult("loaded", version, None, PullState.IDLE, started, time.monotonic() - start_time,
                                f"loaded version {version} from the store")
            self.last_pull = result
            return result

        result = PullResult("no_model", None, None, PullState.IDLE, started, time.monotonic() - start_time,
                            "no usable model in the store; run a pull")
        return result

    # Pull ----------------------------------------------------------------------------------

    def pull(self, force: bool = False, quiet: bool = False) -> PullResult:
        """Pull the version the alias points to now, and swap to it if it passes every check.

        Returns a PullResult whose ``error`` is set on failure; the old model keeps serving then.
        ``force`` pulls a version even if it was rejected before. ``quiet`` logs a pull that
        finds the version already active at DEBUG, so that polling does not flood the log.
        Raises PullInProgressError when another pull or rollback is running.
        """
        if not self._lock.acquire(blocking=False):
            raise PullInProgressError("another pull or rollback is running; retry when it has finished")
        try:
            result = self._pull_locked(force, quiet)
        finally:
            self._lock.release()
        self.last_pull = result
        self.pull_counts[result.result] += 1
        return result

    def _pull_locked(self, force: bool, quiet: bool) -> PullResult:
        started, start_time = _utc_now(), time.monotonic()
        previous = self.holder.get()
        previous_version = previous.version if previous else None
        state = PullState.IDLE
        version: str | None = None

        def move(new_state: PullState) -> None:
            nonlocal state
            routine = quiet and new_state in (PullState.RESOLVING, PullState.ALREADY_ACTIVE)
            logger.log(logging.DEBUG if routine else logging.INFO, "pull of %s@%s: %s -> %s",
                       self.model_name, self.alias, state.value, new_state.value)
            state = new_state

        def finish(result: str, final: PullState, message: str, error: AgentError | None = None) -> PullResult:
            move(final)
            return PullResult(result, version, previous_version, final, started, time.monotonic() - start_time, message, error)

        staged = None
        try:
            if self.client is None:
                raise RegistryNotConfiguredError(
                    "no registry is configured; set MLFLOW_TRACKING_URI (or registry_url in the config file)"
                )
            move(PullState.RESOLVING)
            version = self.client.resolve_alias(self.model_name, self.alias)
            if version == previous_version:
                return finish("already_active", PullState.ALREADY_ACTIVE,
                              f"version {version} is already active; nothing was downloaded")
            rejected = self.store.rejected().get(version)
            if rejected and not force:
                raise VersionRejectedError(
                    f"version {version} was rejected on {rejected.get('at')} ({rejected.get('code')}: "
                    f"{rejected.get('reason')}); publish a fixed version and move the alias, or pull with force",
                    version,
                )

            move(PullState.DOWNLOADING)
            staged = self.store.new_staging_dir()
            self.client.download_bundle(self.model_name, version, staged)

            move(PullState.VERIFYING)
            bundle = read_bundle(staged, version)
            logger.info("swap starting: version %s -> %s (sha256 %s...)", previous_version, version,
                        bundle.manifest.onnx_sha256[:12])

            move(PullState.LOADING)
            engine = Engine(bundle.model_bytes, bundle.manifest, self.settings)
            move(PullState.CHECKING_REFERENCES)
            engine.verify_references()

            move(PullState.INSTALLING)
            self.store.install(version, staged)
            staged = None

            move(PullState.ACTIVATING)
            # Point of no return: once active.json names the new version the swap is final, and
            # a restart serves it too. Requests in flight keep the engine object they already hold.
            self.store.activate(version)
            self.holder.swap(engine)
            if force:
                self.store.clear_rejected(version)
            result = finish("swapped", PullState.SWAPPED, f"version {version} is active (was {previous_version})")
            logger.info("swap done: version %s active after %.2f s", version, result.duration_seconds)
            return result
        except (AgentError, OSError) as raised:
            error = raised if isinstance(raised, AgentError) else StoreError(f"writing to the store failed: {raised}")
            if isinstance(error, BundleRejectedError) and version is not None:
                self.store.mark_rejected(version, error.code, str(error))
            level = logging.INFO if error.transient else logging.ERROR
            logger.log(level, "pull of %s@%s failed in state %s: %s; version %s keeps serving",
                       self.model_name, self.alias, state.value, error, previous_version)
            return finish("failed", PullState.FAILED, str(error), error)
        finally:
            if staged is not None:
                shutil.rmtree(staged, ignore_errors=True)

    # Rollback ------------------------------------------------------------------------------

    def rollback(self) -> PullResult:
        """Make the previous kept version active again and remember the current one as rejected.

        The current version is remembered as rejected so that polling does not pull it straight
        back; a forced pull brings it back. Raises PullInProgressError or NoRollbackTargetError.
        """
        if not self._lock.acquire(blocking=False):
            raise PullInProgressError("another pull or rollback is running; retry when it has finished")
        try:
            started, start_time = _utc_now(), time.monotonic()
            current = self.holder.get()
            current_version = current.version if current else None
            rejected = self.store.rejected()
            # Versions rolled back from or rejected before are skipped, so that two rollbacks in
            # a row go further back instead of returning to the version just left.
            kept = [v for v in self.store.kept_versions() if v != current_version and v not in rejected]
            for target in reversed(kept):
                try:
                    engine = self._open(self.store.load(target))
                except BundleRejectedError as error:
                    logger.warning("kept version %s cannot be rolled back to (%s); deleting it", target, error)
                    self.store.forget(target)
                    continue
                self.store.activate(target)
                self.holder.swap(engine)
                if current_version is not None:
                    self.store.mark_rejected(current_version, "rolled_back", f"rolled back to version {target}")
                logger.warning("rollback: version %s -> %s", current_version, target)
                result = PullResult("rolled_back", target, current_version, PullState.SWAPPED, started,
                                    time.monotonic() - start_time, f"version {target} is active again (was {current_version})")
                self.last_pull = result
                self.pull_counts[result.result] += 1
                return result
            raise NoRollbackTargetError(
                f"no other intact version is kept on the device (active: {current_version}); pull a version instead"
            )
        finally:
            self._lock.release()

    # Polling -------------------------------------------------------------------------------

    def start_polling(self, interval_seconds: float, max_backoff_seconds: float = 3600.0) -> None:
        """Pull every ``interval_seconds`` in a daemon thread; back off while the registry is down.

        After a transient failure the wait doubles, up to ``max_backoff_seconds``; a pull that
        reaches the registry resets it.
        """
        self._stop_polling.clear()
        self._poller = threading.Thread(
            target=self._poll_loop, args=(interval_seconds, max_backoff_seconds), name="model-poller", daemon=True
        )
        self._poller.start()

    def stop_polling(self, timeout: float = 5.0) -> None:
        self._stop_polling.set()
        if self._poller is not None:
            self._poller.join(timeout)
            self._poller = None

    def _poll_loop(self, interval: float, max_backoff: float) -> None:
        delay = interval
        while not self._stop_polling.wait(delay):
            try:
                result = self.pull(quiet=True)
            except PullInProgressError:
                delay = interval
                continue
            if result.error is not None and result.error.transient:
                delay = min(delay * 2, max_backoff)
                logger.info("registry unavailable; next poll in %.3g s", delay)
            else:
                delay = interval

    # Helpers -------------------------------------------------------------------------------

    def _open(self, bundle: StoredBundle) -> Engine:
        engine = Engine(bundle.model_bytes, bundle.manifest, self.settings)
        engine.verify_references()
        return engine


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
