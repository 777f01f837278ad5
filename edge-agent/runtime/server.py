"""Run the agent: build its parts from an AgentConfig, serve with waitress, stop cleanly on signals.

The lifecycle is logged on the ``edge_agent.lifecycle`` logger as a short fixed sequence:
starting, model loaded (or no model), sensor started (or no sensor), listening on
http://host:port, shutting down, stopped.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import threading
from dataclasses import dataclass
from typing import Any

from edge_agent.runtime.app import create_app
from edge_agent.runtime.config import AgentConfig
from edge_agent.runtime.context import AppContext
from edge_agent.runtime.engine import EngineHolder, SessionSettings
from edge_agent.runtime.registry_client import RegistryClient
from edge_agent.runtime.store import ModelStore
from edge_agent.runtime.updater import Updater

lifecycle = logging.getLogger("edge_agent.lifecycle")

# waitress rejects bodies beyond its own limit with a plain-text 413 before the app runs; it is
# set above the app's limit so that the app's JSON 413 is what clients normally see.
_WAITRESS_BODY_HEADROOM = 4


@dataclass
class Agent:
    """Every long-lived part of a running agent."""

    config: AgentConfig
    context: AppContext
    updater: Updater
    sensor: Any | None


def build_agent(config: AgentConfig, with_sensor: bool = True) -> Agent:
    """Create the store, updater, engine holder and (unless ``with_sensor`` is false) sensor reader.

    Neither loads a model nor starts the sensor; see :func:`serve`.
    """
    holder = EngineHolder()
    store = ModelStore(config.state_dir, keep=config.keep_versions)
    client = (
        RegistryClient(config.registry_url, config.registry_timeout_seconds, config.max_download_bytes)
        if config.registry_url
        else None
    )
    updater = Updater(
        holder, store, client, config.model_name, config.model_alias,
        SessionSettings(intra_op_threads=config.intra_op_threads),
    )
    sensor = build_sensor(config) if with_sensor and config.serial_port else None
    context = AppContext(
        holder=holder,
        store=store,
        updater=updater,
        sensor=sensor,
        max_body_bytes=config.max_body_bytes,
        max_history=config.max_history,
        max_batch=config.max_batch,
        token=config.token,
    )
    return Agent(config, context, updater, sensor)


def build_sensor(config: AgentConfig) -> Any:
    """Create (not start) the serial reader; imported here so that agents without a sensor skip pyserial."""
    from edge_agent.sensor_io.reader import SerialReader

    return SerialReader(
        config.serial_port,
        baudrate=config.serial_baudrate,
        line_format=config.serial_format,
        field=config.serial_field,
        unit=config.serial_unit,
        gap_seconds=config.sensor_gap_seconds,
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(config: AgentConfig) -> str | None:
    """Return a warning when the API is reachable beyond loopback without a token, else None."""
    if is_loopback(config.host) or config.token:
        return None
    return (
        f"listening on {config.host} beyond loopback without AGENT_TOKEN: anyone on the network "
        "can pull and roll back models; set AGENT_TOKEN"
    )


def serve(config: AgentConfig, ready: threading.Event | None = None) -> int:
    """Run the agent until SIGTERM or SIGINT; return the process exit status."""
    from waitress.server import create_server

    lifecycle.info("starting edge agent with %s", config.masked())
    agent = build_agent(config)
    loaded = agent.updater.recover()
    if loaded.version:
        lifecycle.info("model loaded: version %s", loaded.version)
    else:
        lifecycle.info("no model: %s", loaded.message)

    # Bound before anything starts in the background, so that a port in use ends the start cleanly.
    try:
        server = create_server(
            create_app(agent.context),
            host=config.host,
            port=config.port,
            threads=config.threads,
            max_request_body_size=config.max_body_bytes * _WAITRESS_BODY_HEADROOM,
            ident="edge-agent",
        )
    except OSError as error:
        lifecycle.error(
            "cannot listen on %s:%s: %s; stop what uses the port or set PORT (or --port) to a free one",
            config.host, config.port, error.strerror or error,
        )
        return 1

    if agent.sensor is not None:
        agent.sensor.start()
        lifecycle.info("sensor started on %s", config.serial_port)
    else:
        lifecycle.info("no sensor configured (SERIAL_PORT is not set)")
    if config.pull_on_start and config.registry_url:
        # In the background, so that a slow or dead registry never delays serving the stored model.
        threading.Thread(target=agent.updater.pull, name="pull-on-start", daemon=True).start()
        lifecycle.info("pulling %s@%s from %s in the background", config.model_name, config.model_alias, config.masked()["registry_url"])
    if config.poll_interval_seconds > 0:
        agent.updater.start_polling(config.poll_interval_seconds, config.poll_max_backoff_seconds)
        lifecycle.info("polling the registry every %.0f s", config.poll_interval_seconds)

    warning = exposure_warning(config)
    if warning:
        lifecycle.warning("%s", warning)

    def stop(signum: int, frame: Any) -> None:
        # waitress's run() loop catches KeyboardInterrupt and closes its sockets and threads.
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    lifecycle.info("listening on http://%s:%s", server.effective_host, server.effective_port)
    if ready is not None:
        ready.set()
    try:
        server.run()
    finally:
        lifecycle.info("shutting down")
        agent.updater.stop_polling()
        if agent.sensor is not None:
            agent.sensor.stop()
        server.close()
        lifecycle.info("stopped")
    return 0
