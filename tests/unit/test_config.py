"""Settings: defaults < config file < CRONUI_* environment < flags; every bad value named."""

from __future__ import annotations

from pathlib import Path

import pytest

from cronui.config import ConfigError, load_settings, system_timezone


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text)
    return p


def test_precedence_file_then_env_then_flags(tmp_path):
    cfg = write(tmp_path, 'db = "/tmp/from-file.db"\nmax_concurrent = 4\ntimezone = "Europe/Berlin"\n')
    s = load_settings(cfg, env={})
    assert (s.db, s.max_concurrent, s.timezone, s.timezone_source) == (
        "/tmp/from-file.db",
        4,
        "Europe/Berlin",
        str(cfg),
    )
    s = load_settings(cfg, env={"CRONUI_MAX_CONCURRENT": "8", "CRONUI_DB": "/tmp/env.db"})
    assert (s.db, s.max_concurrent) == ("/tmp/env.db", 8)
    s = load_settings(cfg, env={"CRONUI_DB": "/tmp/env.db"}, overrides={"db": "/tmp/flag.db"})
    assert s.db == "/tmp/flag.db"


def test_config_path_from_environment(tmp_path):
    cfg = write(tmp_path, "max_concurrent = 2\n")
    assert load_settings(env={"CRONUI_CONFIG": str(cfg)}).max_concurrent == 2


def test_sections_pools_prices_keys(tmp_path):
    cfg = write(
        tmp_path,
        """
[pools]
local-llm = 1
[retention]
days = 7
runs_per_job = 50
[lease]
ttl = 20
renew = 5
[prices."gpt-4o-mini"]
input = 0.15
output = 0.6
[keys]
run_now = "g"
""",
    )
    s = load_settings(cfg, env={"CRONUI_RETENTION_DAYS": "3"})
    assert s.pools == {"local-llm": 1}
    assert (s.retention.days, s.retention.runs_per_job) == (3.0, 50)
    assert (s.lease.ttl, s.lease.renew) == (20.0, 5.0)
    assert (s.prices["gpt-4o-mini"].input, s.prices["gpt-4o-mini"].output) == (0.15, 0.6)
    assert s.keys == {"run_now": "g"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_concurrent = 0\n", "max_concurrent: expected 1 to 10000, got 0"),
        ('timezone = "Mars/Base"\n', "timezone: unknown time zone"),
        ('timezone = "UTC+2"\n', "timezone:"),
        ("[retention]\nweeks = 2\n", "retention.weeks: unknown key"),
        ("[pools]\ngpu = -1\n", "pools.gpu: expected 1 to 10000, got -1"),
        ('[prices.m]\ninput = "cheap"\noutput = 1\n', "prices.m: expected a number"),
        ("[lease]\nttl = 5\nrenew = 10\n", "lease.renew (10s) must be shorter than lease.ttl (5s)"),
        ("retention = 3\n", "retention: expected a table"),
        ("shiny = true\n", "shiny: unknown key"),
    ],
)
def test_bad_values_name_file_key_and_reason(tmp_path, text, message):
    cfg = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_settings(cfg, env={})
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="environment CRONUI_TIMEZONE: timezone: unknown time zone"):
        load_settings(env={"CRONUI_TIMEZONE": "Nowhere/Town"})


def test_default_zone_is_the_systems_own_never_silently_utc(monkeypatch):
    monkeypatch.setenv("TZ", "America/Chicago")
    assert system_timezone() == ("America/Chicago", "TZ environment variable")
    s = load_settings(env={})
    assert (s.timezone, s.timezone_source) == ("America/Chicago", "TZ environment variable")
    monkeypatch.setenv("TZ", "UTC+3")  # a POSIX offset is not a zone: fall through to the system's
    found = system_timezone()
    assert found is None or found[0] != "UTC+3"
