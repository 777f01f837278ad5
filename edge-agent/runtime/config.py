"""Agent configuration: defaults < TOML file < environment variables < command-line flags.

The TOML file is named by ``--config`` or ``EDGE_AGENT_CONFIG`` and uses the field names of
:class:`AgentConfig` as top-level keys. :data:`ENVIRONMENT` lists every environment variable the
agent reads and the field it sets.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.sensor_io.parsing import LINE_FORMATS, UNITS


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key, the source and the value."""


@dataclass(frozen=True)
class AgentConfig:
    """Effective settings of the agent, after every source has been applied."""

    registry_url: str | None = None  # MLflow tracking server root, such as http://10.0.0.5:5000
    model_name: str = "temperature-forecaster"
    model_alias: str = "production"
    state_dir: str = "./edge-state"
    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 4
    max_body_bytes: int = 256 * 1024  # fits a batch of 1,000 histories of 24 readings
    max_history: int = 1000
    max_batch: int = 1000  # maximum number of histories in one POST /predict/batch
    token: str | None = None  # bearer token for state-changing endpoints; None means no check
    pull_on_start: bool = True  # pull the alias once at start, in the background, when a registry is set
    poll_interval_seconds: float = 0.0  # 0 turns polling off
    poll_max_backoff_seconds: float = 3600.0
    registry_timeout_seconds: float = 10.0
    max_download_bytes: int = 64 * 1024 * 1024
    keep_versions: int = 3
    intra_op_threads: int = 1
    serial_port: str | None = None  # device path or pyserial URL; None runs without a sensor
    serial_baudrate: int = 9600
    serial_format: str = "plain"
    serial_field: str | None = None
    serial_unit: str = "C"
    sensor_gap_seconds: float | None = None

    def masked(self) -> dict[str, Any]:
        """Return the settings for logging, with secrets replaced by ``***``."""
        data = dataclasses.asdict(self)
        if data["token"]:
            data["token"] = "***"
        if data["registry_url"]:
            data["registry_url"] = _mask_userinfo(data["registry_url"])
        return data


def _mask_userinfo(url: str) -> str:
    """Hide a password given in a URL such as ``http://user:secret@host:5000``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


# Environment variable -> field name.
ENVIRONMENT: dict[str, str] = {
    "MLFLOW_TRACKING_URI": "registry_url",
    "MODEL_NAME": "model_name",
    "MODEL_ALIAS": "model_alias",
    "EDGE_STATE_DIR": "state_dir",
    "HOST": "host",
    "PORT": "port",
    "AGENT_THREADS": "threads",
    "MAX_BODY_BYTES": "max_body_bytes",
    "MAX_HISTORY": "max_history",
    "MAX_BATCH": "max_batch",
    "AGENT_TOKEN": "token",
    "PULL_ON_START": "pull_on_start",
    "POLL_INTERVAL_SECONDS": "poll_interval_seconds",
    "REGISTRY_TIMEOUT_SECONDS": "registry_timeout_seconds",
    "MAX_DOWNLOAD_BYTES": "max_download_bytes",
    "KEEP_VERSIONS": "keep_versions",
    "INTRA_OP_THREADS": "intra_op_threads",
    "SERIAL_PORT": "serial_port",
    "SERIAL_BAUDRATE": "serial_baudrate",
    "SERIAL_FORMAT": "serial_format",
    "SERIAL_FIELD": "serial_field",
    "SERIAL_UNIT": "serial_unit",
    "SENSOR_GAP_SECONDS": "sensor_gap_seconds",
}
CONFIG_FILE_VARIABLE = "EDGE_AGENT_CONFIG"
# Checked here, not only by the reader, so that a typo fails at start even without a sensor attached.
SERIAL_FORMATS = LINE_FORMATS
SERIAL_UNITS = UNITS

_FIELDS = {field.name: field for field in dataclasses.fields(AgentConfig)}


def load_config(
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> AgentConfig:
    """Merge the sources in order of precedence and check the result.

    ``overrides`` contains command-line values; entries that are None are ignored. Raises
    ConfigError naming the key and its source when a value is unknown or invalid.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}

    path = config_file or environ.get(CONFIG_FILE_VARIABLE)
    if path:
        values.update(_read_toml(Path(path)))
    for variable, name in ENVIRONMENT.items():
        raw = environ.get(variable)
        if raw is not None and raw != "":
            values[name] = _convert(name, raw, f"environment variable {variable}")
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _convert(name, value, f"option --{name.replace('_', '-')}")
    config = AgentConfig(**values)
    _check(config)
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from error
    values = {}
    for key, value in raw.items():
        if key not in _FIELDS:
            raise ConfigError(f"config file {path} has the unknown key {key!r}; known keys: {', '.join(sorted(_FIELDS))}")
        values[key] = _convert(key, value, f"config file {path}")
    return values


_TRUE_WORDS = {"1", "true", "yes", "on"}
_FALSE_WORDS = {"0", "false", "no", "off"}


def _convert(name: str, value: Any, source: str) -> Any:
    field_type = str(_FIELDS[name].type)
    if field_type == "bool":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in _TRUE_WORDS | _FALSE_WORDS:
            return word in _TRUE_WORDS
        raise ConfigError(f"{name} from {source} is {value!r}, expected true or false")
    try:
        if "int" in field_type and "float" not in field_type:
            if isinstance(value, bool):
                raise ValueError("a boolean is not a number")
            return int(value)
        if "float" in field_type:
            if isinstance(value, bool):
                raise ValueError("a boolean is not a number")
            return float(value)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{name} from {source} is {value!r}, expected a number") from error
    if not isinstance(value, str):
        raise ConfigError(f"{name} from {source} is {value!r}, expected a string")
    return value


def _check(config: AgentConfig) -> None:
    checks = [
        (1 <= config.port <= 65535, "port", config.port, "a TCP port from 1 to 65535"),
        (config.threads >= 1, "threads", config.threads, "at least 1"),
        (config.max_body_bytes >= 1024, "max_body_bytes", config.max_body_bytes, "at least 1024"),
        (config.max_history >= 1, "max_history", config.max_history, "at least 1"),
        (config.max_batch >= 1, "max_batch", config.max_batch, "at least 1"),
        (config.poll_interval_seconds >= 0, "poll_interval_seconds", config.poll_interval_seconds, "0 (off) or more"),
        (config.registry_timeout_seconds > 0, "registry_timeout_seconds", config.registry_timeout_seconds, "more than 0"),
        (config.max_download_bytes >= 1024, "max_download_bytes", config.max_download_bytes, "at least 1024"),
        (config.keep_versions >= 2, "keep_versions", config.keep_versions, "at least 2, so that a rollback is possible"),
        (config.intra_op_threads >= 1, "intra_op_threads", config.intra_op_threads, "at least 1"),
    ]
    if config.registry_url is not None:
        parts = urllib.parse.urlsplit(config.registry_url)
        checks.append(
            (
                parts.scheme in ("http", "https") and bool(parts.hostname),
                "registry_url",
                _mask_userinfo(config.registry_url),
                "an http:// or https:// URL of the MLflow tracking server, such as http://127.0.0.1:5000",
            )
        )
    checks.append((config.serial_format in SERIAL_FORMATS, "serial_format", config.serial_format, f"one of {', '.join(SERIAL_FORMATS)}"))
    checks.append((config.serial_unit in SERIAL_UNITS, "serial_unit", config.serial_unit, f"one of {', '.join(SERIAL_UNITS)}"))
    for ok, name, value, expected in checks:
        if not ok:
            raise ConfigError(f"{name} is {value!r}, expected {expected}")
