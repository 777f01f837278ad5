"""Configuration sources and their order: defaults < TOML file < environment < command-line options."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from support import LOOPBACK, free_port
from edge_agent.runtime.config import ENVIRONMENT, AgentConfig, ConfigError, load_config
from edge_agent.runtime.registry_client import RegistryClient

from runtime_helpers import Agent, wait_until

README = Path(__file__).resolve().parents[2] / "edge-agent" / "runtime" / "README.md"


def test_defaults():
    config = load_config(environ={})

    assert (config.host, config.port, config.threads) == ("127.0.0.1", 8080, 4)
    assert config.max_body_bytes == 262144
    assert config.max_history == 1000
    assert (config.model_name, config.model_alias) == ("temperature-forecaster", "production")
    assert config.state_dir == "./edge-state"
    assert config.poll_interval_seconds == 0
    assert config.registry_timeout_seconds == 10


def test_precedence_file_env_options(tmp_path):
    config_file = tmp_path / "agent.toml"
    config_file.write_text('port = 9001\nmodel_alias = "staging"\nstate_dir = "/var/lib/edge"\nthreads = 2\n')
    environ = {"PORT": "9002", "MODEL_ALIAS": "canary"}

    config = load_config(str(config_file), environ=environ, overrides={"port": 9003, "host": None})

    assert config.port == 9003  # option beats environment and file
    assert config.model_alias == "canary"  # environment beats file
    assert config.state_dir == "/var/lib/edge"  # file beats default
    assert config.threads == 2
    assert config.host == "127.0.0.1"  # an option left unset does not override


def test_config_file_from_environment(tmp_path):
    config_file = tmp_path / "agent.toml"
    config_file.write_text('model_name = "greenhouse"\n')

    config = load_config(environ={"EDGE_AGENT_CONFIG": str(config_file)})

    assert config.model_name == "greenhouse"


# (id, file text or None, environment, overrides, message pattern)
INVALID_CONFIGS = [
    ("unknown-file-key", "prot = 8080\n", {}, {}, "unknown key 'prot'"),
    ("not-toml", "port = \n", {}, {}, "not valid TOML"),
    ("port-text", None, {"PORT": "eighty"}, {}, "port from environment variable PORT is 'eighty', expected a number"),
    ("port-range", None, {"PORT": "70000"}, {}, "port is 70000, expected a TCP port"),
    ("keep-one", None, {"KEEP_VERSIONS": "1"}, {}, "keep_versions is 1, expected at least 2"),
    ("negative-poll", None, {}, {"poll_interval_seconds": -1.0}, "poll_interval_seconds is -1.0"),
    ("boolean-port", "port = true\n", {}, {}, "expected a number"),
    ("name-number", "model_name = 5\n", {}, {}, "expected a string"),
    ("registry-not-url", None, {"MLFLOW_TRACKING_URI": "notaurl"}, {}, "registry_url is 'notaurl', expected an http:// or https:// URL"),
    ("registry-file-scheme", None, {"MLFLOW_TRACKING_URI": "file:///tmp/mlruns"}, {}, "expected an http:// or https:// URL"),
    ("registry-password-masked", None, {"MLFLOW_TRACKING_URI": "ftp://user:secret@host"}, {}, "'ftp://user:***@host'"),
    ("serial-format", None, {}, {"serial_format": "xml"}, "serial_format is 'xml', expected one of plain, kv, csv, json"),
    ("serial-unit", None, {"SERIAL_UNIT": "K"}, {}, "serial_unit is 'K', expected one of C, F"),
    ("pull-on-start-word", None, {"PULL_ON_START": "maybe"}, {}, "pull_on_start from environment variable PULL_ON_START is 'maybe', expected true or false"),
]


@pytest.mark.parametrize(
    "file_text, environ, overrides, message",
    [case[1:] for case in INVALID_CONFIGS],
    ids=[case[0] for case in INVALID_CONFIGS],
)
def test_invalid_config(tmp_path, file_text, environ, overrides, message):
    path = None
    if file_text is not None:
        path = tmp_path / "agent.toml"
        path.write_text(file_text)

    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(str(path) if path else None, environ=environ, overrides=overrides)


def test_missing_config_file_named(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file .*missing.toml"):
        load_config(str(tmp_path / "missing.toml"), environ={})


def test_secrets_masked():
    config = load_config(environ={"AGENT_TOKEN": "s3cret", "MLFLOW_TRACKING_URI": "http://edge:pa55@10.0.0.5:5000"})

    masked = config.masked()

    assert masked["token"] == "***"
    assert masked["registry_url"] == "http://edge:***@10.0.0.5:5000"
    assert "s3cret" not in repr(masked)
    assert "pa55" not in repr(masked)


def test_every_environment_variable_sets_a_field():
    fields = set(AgentConfig.__dataclass_fields__)

    assert set(ENVIRONMENT.values()) <= fields


def test_readme_documents_keys_variables_and_codes():
    text = README.read_text()
    from edge_agent.runtime import exceptions
    from edge_agent.runtime.errors import _FALCON_CODES

    names = list(AgentConfig.__dataclass_fields__) + list(ENVIRONMENT)
    source = "".join(p.read_text() for p in README.parent.glob("*.py"))
    codes = set(re.findall(r'ApiError\(\s*\d{3},\s*"([a-z_]+)"', source))
    codes |= {cls.code for cls in vars(exceptions).values() if isinstance(cls, type) and hasattr(cls, "code")}
    codes |= set(_FALCON_CODES.values())

    missing = sorted(name for name in names + sorted(codes) if f"`{name}`" not in text)
    assert missing == [], f"undocumented in {README}: {missing}"


def test_polling_backs_off_while_registry_down(tmp_path, caplog):
    agent = Agent(tmp_path, {"1": "mean12"})
    agent.updater.client = RegistryClient(f"http://{LOOPBACK}:{free_port()}", timeout=1)

    with caplog.at_level(logging.INFO, logger="edge_agent.runtime.updater"):
        agent.updater.start_polling(0.05, max_backoff_seconds=0.4)
        try:
            wait_until(lambda: caplog.text.count("next poll in") >= 4)
        finally:
            agent.updater.stop_polling()

    delays = [float(value) for value in re.findall(r"next poll in ([0-9.]+) s", caplog.text)]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.4]
    assert agent.holder.get().version == "1"
    assert agent.updater.last_pull.error.code == "registry_unavailable"
