"""Settings: defaults, then the TOML config file, then CRONUI_* environment variables, then flags.

Every problem is reported as a ConfigError naming where it came from (file or variable), the key and
the reason, so the CLI can print one line and exit 2.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cronui import bounds, locations
from cronui.alert_options import parse_channels, parse_kinds, parse_rate
from cronui.bounds import Duration, Number, Whole, show
from cronui.controls import has_control
from cronui.model.alerts import AlertDefaults
from cronui.placement import check_labels
from cronui.policy import POLICY_KEYS, Policy
from cronui.schedule import ScheduleError, get_zone, zone_known
from cronui.schedule.calendars import Calendar, parse_calendar


class ConfigError(ValueError):
    """A bad setting; the message names the source, the key and the problem."""


# ---------------------------------------------------------------- value checkers


def _whole(bound: Whole) -> Callable[[Any], int]:
    """A whole number within `bound`, written as a TOML integer or as text (an environment variable)."""

    def check(v: Any) -> int:
        return bound.parse(v) if isinstance(v, str) else bound.check(v)

    return check


def _number(bound: Number | Duration) -> Callable[[Any], float]:
    """A finite number within `bound` (a Duration counts seconds), as a TOML number or as text."""

    def check(v: Any) -> float:
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                raise ValueError(f"expected a number, got {show(v)}") from None
        return float(bound.check(v))

    return check


def _text(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"expected a non-empty string, got {v!r}")
    if has_control(v, allow="\t"):  # a path or URL with a NUL (or a line break) can be neither opened nor shown
        raise ValueError(f"{show(v)} holds a control character")
    return v


def _labels(v: Any) -> list[str]:
    """A list of labels, as a TOML list or as comma-separated text (an environment variable)."""
    items = [part.strip() for part in v.split(",") if part.strip()] if isinstance(v, str) else v
    if not isinstance(items, list):
        raise ValueError(f'expected a list of labels like ["gpu", "eu"], got {show(v)}')
    return check_labels(items)


_HOST_NAME = re.compile(r"\*|[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?|\[?[0-9A-Fa-f:.]+\]?")


def host_names(v: Any) -> list[str]:
    """Host names (or IP addresses, or "*"), as a TOML list or as comma-separated text (an environment variable)."""
    items = [part.strip() for part in v.split(",") if part.strip()] if isinstance(v, str) else v
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError(f'expected a list of host names like ["cron.example.com"], got {show(v)}')
    for item in items:
        if not _HOST_NAME.fullmatch(item):
            raise ValueError(f"expected a host name (e.g. cron.example.com: no scheme, port or path), got {show(item)}")
    return [i.strip("[]").rstrip(".").lower() for i in items]


def _zone(v: Any) -> str:
    name = _text(v)
    try:
        get_zone(name)
    except ScheduleError as e:
        raise ValueError(str(e)) from None
    return name


# ---------------------------------------------------------------- the settings


@dataclass
class Retention:
    days: float = 30.0  # finished runs older than this are pruned
    runs_per_job: int = 1000  # and at most this many runs are kept per job
    event_hours: float = 6.0  # the live event log; finished runs keep their milestones on the run row
    audit_days: float = 90.0  # the audit log of changes to jobs (`cronui audit`)


@dataclass
class Lease:
    ttl: float = 30.0  # seconds a scheduler lease stays valid without renewal
    renew: float = 10.0  # seconds between renewals


@dataclass
class Cluster:
    max_running: int | None = None  # runs at once across every node of a shared database (None: no cap)


@dataclass
class Budget:
    daily_usd: float | None = None  # what all agent runs together may cost per UTC day (None: no limit)


API_MAX_BODY = 1 << 20  # bytes of one API request's body (hooks keep their own, smaller cap)
API_MAX_STREAMS = 32  # live event streams open at once


@dataclass
class Api:
    token: str | None = None  # `cronui serve`'s bearer token (CRONUI_API_TOKEN); may be a ${env:NAME} reference
    # names a request's Host may give besides the listen address (a reverse proxy's public name); "*": any
    allowed_hosts: list[str] = field(default_factory=list)
    max_body: int = API_MAX_BODY
    max_streams: int = API_MAX_STREAMS


@dataclass
class Monitor:
    # requested (GET) by the process holding the scheduler at each lease renewal: an outside monitor's
    # dead-man's switch (engine/monitor.py); may be written with ${env:NAME}
    ping_url: str | None = None
    # sent with each ping as `Authorization: Bearer ...` (another cronui's `/ping/NAME` wants the job's token);
    # may be written with ${env:NAME}
    ping_token: str | None = None


@dataclass
class Metrics:
    # jobs with their own `job` label in `GET /metrics` (by id, oldest first); the others' runs are summed
    # under job="(other)", so that a scrape stays bounded however many jobs there are
    max_jobs: int = 1000
    public: bool = False  # `GET /metrics` without the API token (Host and Origin are still checked)


def _flag(v: Any) -> bool:
    """true or false, as a TOML boolean or as text (an environment variable: true/false, 1/0, yes/no)."""
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
        return v.strip().lower() in ("true", "1", "yes")
    raise ValueError(f"expected true or false, got {show(v)}")


def _ping_url(v: Any) -> str:
    url = _text(v)
    if not url.lower().startswith(("http://", "https://", "${env:")):
        raise ValueError(f"expected an http(s) URL, got {show(url)}")
    return url


@dataclass
class NodeConfig:
    labels: list[str] = field(default_factory=list)  # jobs pinned to one of these (`--node-label`) run here


@dataclass
class Price:
    """USD per million tokens."""

    input: float
    output: float


@dataclass
class Settings:
    db: str = ""
    timezone: str = "UTC"
    timezone_source: str = "default"
    max_concurrent: int = 16
    auto_disable_after: int = 10
    misfire_grace: float = 300.0
    default_timeout: float = 600.0
    kill_grace: float = 5.0  # seconds between SIGTERM and SIGKILL for a timed-out or cancelled job
    output_cap: int = 256 * 1024
    theme: str = "cronui-dark"
    pools: dict[str, int] = field(default_factory=dict)
    prices: dict[str, Price] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    retention: Retention = field(default_factory=Retention)
    lease: Lease = field(default_factory=Lease)
    cluster: Cluster = field(default_factory=Cluster)
    budget: Budget = field(default_factory=Budget)
    api: Api = field(default_factory=Api)
    node: NodeConfig = field(default_factory=NodeConfig)
    alerts: AlertDefaults = field(default_factory=AlertDefaults)  # `[alerts]`: what every job inherits
    monitor: Monitor = field(default_factory=Monitor)
    metrics: Metrics = field(default_factory=Metrics)  # `[metrics]`: what `GET /metrics` shows, and to whom
    policy: Policy = field(default_factory=Policy)  # `[policy]`: what API and MCP callers may create
    calendars: dict[str, Calendar] = field(default_factory=dict)  # `[calendars.NAME]`: days jobs skip or keep to
    config_file: Path | None = None


_SCALARS: dict[str, Callable[[Any], Any]] = {
    "db": _text,
    "timezone": _zone,
    "max_concurrent": _whole(bounds.POOL_SIZE),
    "auto_disable_after": _whole(bounds.AUTO_DISABLE_AFTER),
    "misfire_grace": _number(bounds.DURATION),
    "default_timeout": _number(bounds.POSITIVE_DURATION),
    "kill_grace": _number(bounds.DURATION),
    "output_cap": _whole(bounds.OUTPUT_CAP),
    "theme": _text,
}


def _price(v: Any) -> Price:
    if not isinstance(v, Mapping) or set(v) != {"input", "output"}:
        raise ValueError("expected { input = USD per 1M tokens, output = USD per 1M }")
    price = _number(bounds.PRICE)
    return Price(price(v["input"]), price(v["output"]))


# tables of name = value: (check one value, what the table holds)
_MAPS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "pools": (_whole(bounds.POOL_SIZE), "pool name = limit"),
    "prices": (_price, "model = { input = ..., output = ... }"),
    "keys": (_text, "binding id = key"),
    "calendars": (parse_calendar, 'NAME = { dates = [...], ranges = [[FIRST, LAST]], holidays = "DE" }'),
}
_SECTIONS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "retention": {
        "days": _number(bounds.RETENTION_DAYS),
        "runs_per_job": _whole(bounds.RETENTION_RUNS),
        "event_hours": _number(bounds.EVENT_HOURS),
        "audit_days": _number(bounds.RETENTION_DAYS),
    },
    "lease": {"ttl": _number(bounds.LEASE_TTL), "renew": _number(bounds.LEASE_RENEW)},
    "cluster": {"max_running": _whole(bounds.POOL_SIZE)},
    "budget": {"daily_usd": _number(bounds.DAILY_BUDGET)},
    "api": {
        "token": _text,
        "allowed_hosts": host_names,
        "max_body": _whole(bounds.API_BODY),
        "max_streams": _whole(bounds.EVENT_STREAMS),
    },
    "node": {"labels": _labels},
    # each key's check returns the AlertDefaults fields it sets
    "alerts": {
        "late": lambda v: {"late_s": _alert_span(v)},
        "overrun": lambda v: {"overrun_s": _alert_span(v)},
        "short": lambda v: {"short_s": _alert_span(v)},
        "no_success": lambda v: {"no_success_s": _alert_span(v)},
        "rate": lambda v: dict(zip(("rate_pct", "rate_n"), parse_rate(v), strict=True)),
        "to": lambda v: {"to": parse_channels(v)},
        "on": lambda v: {"on": parse_kinds(v)},
    },
    "monitor": {"ping_url": _ping_url, "ping_token": _text},
    "metrics": {"max_jobs": _whole(bounds.METRICS_JOBS), "public": _flag},
    "policy": POLICY_KEYS,
}


def _alert_span(v: Any) -> float:
    """A duration of `[alerts]`: seconds, or text like 30s, 10m, 2h."""
    from cronui.jobs import parse_duration  # jobs.py reads the config's neighbours; imported when used

    return parse_duration(v, "alerts")


def _apply(settings: Settings, data: Mapping[str, Any], source: str) -> None:
    """Validate a parsed config table (or env mapping) and apply it to settings."""

    def fail(key: str, reason: str) -> ConfigError:
        return ConfigError(f"{source}: {key}: {reason}")

    for key, value in data.items():
        if key in _SCALARS:
            try:
                setattr(settings, key, _SCALARS[key](value))
            except ValueError as e:
                raise fail(key, str(e)) from None
            if key == "timezone":
                settings.timezone_source = source
        elif key in _SECTIONS:
            if not isinstance(value, Mapping):
                raise fail(key, "expected a table")
            target = getattr(settings, key)
            for sub, subval in value.items():
                check = _SECTIONS[key].get(sub)
                if check is None:
                    raise fail(f"{key}.{sub}", f"unknown key (known: {', '.join(_SECTIONS[key])})")
                try:
                    checked = check(subval)
                    if key == "alerts":  # one key may set several fields (rate: percent and runs)
                        for name, item in checked.items():
                            setattr(target, name, item)
                    else:
                        setattr(target, sub, checked)
                except ValueError as e:
                    raise fail(f"{key}.{sub}", str(e)) from None
        elif key in _MAPS:
            check, shape = _MAPS[key]
            if not isinstance(value, Mapping):
                raise fail(key, f"expected a table of {shape}")
            target = getattr(settings, key)
            for name, item in value.items():
                try:
                    target[name] = check(item)
                except ValueError as e:
                    raise fail(f"{key}.{name}", str(e)) from None
        else:
            known = [*_SCALARS, *_SECTIONS, *_MAPS]
            raise fail(key, f"unknown key (known: {', '.join(known)})")


def _env_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """CRONUI_<KEY> for top-level keys, CRONUI_<SECTION>_<KEY> for section keys."""
    out: dict[str, Any] = {}
    for key in _SCALARS:
        val = env.get(f"CRONUI_{key.upper()}")
        if val is not None:
            out[key] = val
    for section, keys in _SECTIONS.items():
        for key in keys:
            val = env.get(f"CRONUI_{section.upper()}_{key.upper()}")
            if val is not None:
                out.setdefault(section, {})[key] = val
    return out


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's table; ValueError says why it cannot be had ("invalid TOML: ...", "cannot read: ...")."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"invalid TOML: {e}") from None
    except UnicodeDecodeError:
        raise ValueError("invalid TOML: it is not UTF-8 text") from None
    except RecursionError:  # tomllib reads nested arrays and inline tables recursively
        raise ValueError("invalid TOML: it nests arrays or tables too deep to read") from None
    except ValueError:  # an integer of more than 4300 digits, which int() refuses to read
        raise ValueError("invalid TOML: a number is too long to read") from None
    except OSError as e:
        raise ValueError(f"cannot read: {e.strerror}") from None


def system_timezone() -> tuple[str, str] | None:
    """The machine's own IANA zone and where it was found, or None if it cannot be told."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and zone_known(tz):
        return tz, "TZ environment variable"
    localtime = Path("/etc/localtime")
    try:
        target = os.readlink(localtime)
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        name = target.split("zoneinfo/", 1)[1]
        if zone_known(name):
            return name, "system (/etc/localtime)"
    try:
        name = Path("/etc/timezone").read_text().strip()
    except OSError:
        name = ""
    if name and zone_known(name):
        return name, "system (/etc/timezone)"
    if not localtime.exists():
        # glibc reads a missing /etc/localtime as UTC: that is then the system's own zone.
        return "UTC", "system (no /etc/localtime: UTC)"
    return None


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings: defaults < config file < environment < overrides (command-line flags)."""
    env = os.environ if env is None else env
    settings = Settings(db=str(locations.default_db_path()))

    explicit = config_path or env.get("CRONUI_CONFIG")
    path = locations.expand(explicit) if explicit else locations.default_config_file()
    if path.exists():
        try:
            data = read_toml(path)
        except ValueError as e:
            raise ConfigError(f"{path}: {e}") from None
        _apply(settings, data, str(path))
        settings.config_file = path
    elif explicit:
        raise ConfigError(f"{path}: config file not found")

    for name, value in _env_settings(env).items():
        if isinstance(value, dict):  # a section's keys, each from its own variable
            for key, item in value.items():
                _apply(settings, {name: {key: item}}, f"environment CRONUI_{name.upper()}_{key.upper()}")
        else:
            _apply(settings, {name: value}, f"environment CRONUI_{name.upper()}")

    if overrides:
        _apply(settings, {k: v for k, v in overrides.items() if v is not None}, "command line")

    if settings.timezone_source == "default":
        found = system_timezone()
        if found is None:
            raise ConfigError(
                "cannot tell this machine's time zone: set `timezone` in the config, CRONUI_TIMEZONE, or pass --tz"
            )
        settings.timezone, settings.timezone_source = found
    if settings.lease.renew >= settings.lease.ttl:
        raise ConfigError(
            f"{settings.config_file or 'settings'}: lease.renew ({settings.lease.renew:g}s) must be shorter "
            f"than lease.ttl ({settings.lease.ttl:g}s)"
        )
    if "://" not in settings.db:
        settings.db = str(locations.expand(settings.db))
    return settings
