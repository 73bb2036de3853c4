"""otel-xray's distro, configurator and command variables (the e2e side is
tests/e2e/test_instrument_command.py, through the real ``opentelemetry-instrument``)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from otel_xray import environment_variables
from otel_xray.distro import LOADER_LOGGER, _OtherConfiguratorsSkipped
from otel_xray.environment_variables import choose_otel_xray

SETTINGS = (Path(environment_variables.__file__).parent / "settings.py").read_text()


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(LOADER_LOGGER, logging.WARNING, __file__, 1, message, args, None)


def test_the_command_defaults_distro_and_configurator_to_ours_and_a_users_choice_wins() -> None:
    environ: dict[str, str] = {"OTEL_PYTHON_CONFIGURATOR": "configurator"}
    assert choose_otel_xray("/venv/bin/opentelemetry-instrument", environ)
    assert environ == {
        "OTEL_PYTHON_CONFIGURATOR": "configurator",
        "OTEL_PYTHON_DISTRO": "otel_xray",
    }
    other: dict[str, str] = {}
    assert not choose_otel_xray("/usr/bin/python", other)
    assert other == {}


def test_each_command_variable_is_one_settings_reads() -> None:
    names = [n for n in dir(environment_variables) if n.startswith("OTEL_")]
    assert names
    for name in names:
        assert getattr(environment_variables, name) == name
        assert re.search(rf'"{name}"', SETTINGS), f"{name} is not read by otel_xray.settings"


def test_only_the_other_configurators_skipped_for_ours_are_dropped() -> None:
    """The two messages of ``_load_configurators`` (opentelemetry-instrumentation 0.66b1)."""
    keep = _OtherConfiguratorsSkipped().filter
    assert not keep(record("Configuration of %s not loaded, %s already loaded",
                           "configurator", "otel_xray"))
    assert not keep(record("Configuration of %s not loaded because %s is set by %s",
                           "configurator", "otel_xray", "OTEL_PYTHON_CONFIGURATOR"))
    assert keep(record("Configuration of %s not loaded, %s already loaded",
                       "otel_xray", "configurator"))
    assert keep(record("Configuration of %s failed", "otel_xray"))
    assert keep(record("Distribution %s configuration failed", "x"))
