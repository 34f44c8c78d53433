"""Literal credentials in a job, hidden wherever the job is shown (the API, `jobs show --json`, the TUI's job
pane, job-file diffs): told by what a value is as well as by the name it is given.

- an env or header entry is masked whole when its name looks secret (`API_TOKEN`, `MYSQL_PWD`, `GITHUB_PAT`,
  `Authorization`) or its value does (a known token shape: GitHub, GitLab, Slack, OpenAI, Anthropic, AWS,
  Google, Stripe, Hugging Face, npm, a JWT, a private key; or a long high-entropy string);
- in any text (a command, a URL, a body, an env value that is a URL) the secret parts are masked and the
  rest kept: a URL's password (`postgres://app:••••••••@db/app`), query values with secret names
  (`?api_key=••••••••`), known token shapes, `NAME=value` assignments with secret names, and what follows
  `Bearer` / `Basic`;
- a delivery URL (a Slack or Discord webhook) is itself the secret: its path is masked, its host kept.

`${env:NAME}` references are shown as written: they hold no secret (it is resolved at run time). What a
response masked, sent back unchanged on an update, keeps the stored value (`unmasked`)."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from cronui.secrets import MASK, REF

# `PWD` alone is the working folder and `AUTHOR` a person: neither is a credential
SECRET_NAME = re.compile(
    r"auth(?!ors?(?:$|[_-]))|token|secret|pass|[_-]pwd(?:$|[_-])|cookie|credential|private|signature|key|(?:^|[_-])pat$|(?:^|[_-])dsn$",
    re.IGNORECASE,
)
# Shapes of tokens issued by well-known services, found anywhere in a text.
TOKEN_SHAPES = re.compile(
    r"""(?x)
    \b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|glpat-[A-Za-z0-9_-]{20,}   # GitHub, GitLab
      |xox[abposr]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,}                                # Slack
      |sk-[A-Za-z0-9_-]{20,}                                                               # OpenAI, Anthropic
      |(?:AKIA|ASIA)[0-9A-Z]{16}                                                           # AWS access key id
      |AIza[0-9A-Za-z_-]{35}                                                               # Google API key
      |(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}                                         # Stripe
      |hf_[A-Za-z0-9]{30,}|npm_[A-Za-z0-9]{30,}                                            # Hugging Face, npm
      |eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*                          # a JWT
    )
    |-----BEGIN[A-Z ]*PRIVATE\ KEY-----[\s\S]*?(?:-----END[A-Z ]*PRIVATE\ KEY-----|\Z)
    """
)
_URL_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://)([^/?#@\s:]*)(?::([^/?#@\s]*))?@", re.IGNORECASE)
_QUERY_PARAM = re.compile(r"([?&;])([^=&#\s]+)=([^&#\s]*)")
_ASSIGNMENT = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)=('[^']*'|\"[^\"]*\"|[^\s;&|]+)")
_SCHEME_CREDENTIAL = re.compile(r"\b(Bearer|Basic|Token)(\s+)([A-Za-z0-9._~+/=-]{6,})", re.IGNORECASE)
# what a random key looks like: one run of base64 or hex characters, no spaces, dots or colons
_OPAQUE = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/=_-]{20,}(?![A-Za-z0-9+/=_-])")
_RUN = re.compile(r"(?<![A-Za-z0-9+=_-])[A-Za-z0-9+=_-]{20,}(?![A-Za-z0-9+=_-])")  # in a text: between slashes too
_HEX = re.compile(r"[0-9a-fA-F]{32,}")
_URL_PATH = re.compile(r"^([a-z][a-z0-9+.-]*://[^/?#]+)(.*)$", re.IGNORECASE | re.DOTALL)
ENTROPY_BITS = 3.5  # per character: random base64 keys are above it; words, paths and versions below
HEX_ENTROPY_BITS = 3.0  # hex has 16 symbols (4 bits at most)


def secret_name(name: str) -> bool:
    """Whether an env variable or header named so holds a credential (`*TOKEN*`, `*_PWD`, `*_PAT`, ...)."""
    return bool(SECRET_NAME.search(name))


def high_entropy(value: str) -> bool:
    """A long random-looking string (a key: mixed case and digits, or 32+ hex digits, with high entropy), as
    opposed to a word, a slug, a path, a version or a host name."""
    if not _OPAQUE.fullmatch(value) or value.startswith("/"):
        return False
    if max(len(part) for part in re.split(r"[-_/]", value)) < 16:
        return False  # words joined: a model name (Llama-3.1-8B-Instruct-Q4_K_M), a slug
    if _HEX.fullmatch(value):
        return _bits(value) >= HEX_ENTROPY_BITS
    mixed = any(c.isupper() for c in value) and any(c.islower() for c in value) and any(c.isdigit() for c in value)
    return mixed and _bits(value) >= ENTROPY_BITS


def _bits(value: str) -> float:
    """Shannon entropy per character."""
    return -sum(n / len(value) * math.log2(n / len(value)) for n in Counter(value).values())


def looks_secret(value: str) -> bool:
    """Whether a whole value is a credential by its shape."""
    text = value.strip()
    return bool(TOKEN_SHAPES.fullmatch(text)) or high_entropy(text)


def mask_text(text: str) -> str:
    """`text` with its secret parts masked (see the module's docstring); `${env:NAME}` references kept."""
    if REF.fullmatch(text.strip()):
        return text
    text = TOKEN_SHAPES.sub(MASK, text)
    text = _RUN.sub(lambda m: MASK if high_entropy(m.group(0)) else m.group(0), text)
    text = _URL_USERINFO.sub(_userinfo, text)
    text = _QUERY_PARAM.sub(lambda m: _named(m.group(0), m.group(1) + m.group(2) + "=", m.group(2), m.group(3)), text)
    text = _ASSIGNMENT.sub(lambda m: _named(m.group(0), m.group(1) + "=", m.group(1), m.group(2)), text)
    return _SCHEME_CREDENTIAL.sub(lambda m: m.group(1) + m.group(2) + _kept(m.group(3)), text)


def _kept(value: str) -> str:
    return value if REF.fullmatch(value) or value == MASK else MASK


def _userinfo(m: re.Match[str]) -> str:
    scheme, user, password = m.group(1), m.group(2), m.group(3)
    if password is not None:
        return f"{scheme}{user}:{_kept(password) if password else ''}@"
    return f"{scheme}{_kept(user) if looks_secret(user) else user}@"  # a token as the user (Sentry DSN, git)


def _named(whole: str, head: str, name: str, value: str) -> str:
    """A `name=value` pair: the value masked when the name looks secret or the value does."""
    bare = value.strip("'\"")
    if not bare or REF.fullmatch(bare) or MASK in bare:
        return whole
    return head + MASK if secret_name(name) or looks_secret(bare) else whole


def mask_entry(name: str, value: Any) -> Any:
    """An env variable's or a header's value as shown: masked whole when its name or its value says it is a
    credential; else its secret parts (a URL's password)."""
    if not isinstance(value, str) or REF.fullmatch(value.strip()):
        return value
    if value and (secret_name(name) or looks_secret(value)):
        return MASK
    return mask_text(value)


def mask_webhook(value: Any) -> Any:
    """A delivery or alert target as shown (`deliver_to`, `alert_to`: one channel URL, or several separated
    by spaces or commas, or a list of them), each masked by `mask_channel`."""
    if isinstance(value, list):
        return [mask_webhook(v) for v in value]
    if not isinstance(value, str) or REF.fullmatch(value.strip()):
        return value
    if len(_CHANNEL.findall(value)) > 1:
        return _CHANNEL.sub(lambda m: mask_channel(m.group(0)), value)
    return mask_channel(value)


_CHANNEL = re.compile(r"[^\s,]+")
_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")
# the apprise schemes whose user and password are a login (a host's), not a token in the user's place
_LOGIN_SCHEMES = {"mailto", "mailtos", "json", "jsons", "xml", "xmls", "form", "forms", "ntfy", "ntfys"}


def mask_channel(channel: str) -> str:
    """A channel URL as every output shows it (CLI, API, logs, `cronui alerts`, `jobs show`, diffs).

    An https webhook keeps its host only (a Slack or Discord webhook URL is itself the secret). An apprise
    URL (`tgram://TOKEN/CHAT`, `mailto://user:pass@host`, `pagerduty://KEY@APIKEY`, `slack://A/B/C`,
    `discord://ID/TOKEN`, ...) keeps its scheme, a host that is a host name or address, a port and a login's
    user name; its password, a token in the user's or host's place, each path segment and secret query
    values are masked. `${env:NAME}` references are kept as written wherever they are."""
    refs: list[str] = []

    def hold(m: re.Match[str]) -> str:
        refs.append(m.group(0))
        return f"\x00{len(refs) - 1}\x00"

    held = REF.sub(hold, channel)
    shown = _mask_held(held)
    return _PLACEHOLDER.sub(lambda m: refs[int(m.group(1))], shown)


def _kept_part(part: str) -> bool:
    """A part of a URL shown as it is: empty, or nothing but `${env:NAME}` references."""
    return not _PLACEHOLDER.sub("", part)


def _mask_held(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url if _kept_part(url) else mask_text(url)
    if scheme.lower() in ("http", "https"):
        m = _URL_PATH.match(url)
        if m and m.group(2).strip("/"):
            return f"{mask_text(m.group(1))}/{MASK}"
        return mask_text(url)
    rest, qmark, query = rest.partition("?")
    userinfo, at, hostpath = rest.rpartition("@")
    host, slash, path = hostpath.partition("/")
    out = f"{scheme}://"
    if at:
        user, colon, password = userinfo.partition(":")
        if colon:
            out += f"{_shown_user(user)}:{password if _kept_part(password) else MASK}@"
        elif scheme.lower() in _LOGIN_SCHEMES and not looks_secret(user):
            out += f"{user}@"
        else:
            out += f"{user if _kept_part(user) else MASK}@"
    out += _shown_host(host)
    if slash:
        out += "/" + "/".join(s if _kept_part(s) else MASK for s in path.split("/"))
    if qmark:
        out += "?" + "&".join(_shown_param(p) for p in query.split("&"))
    return out


def _shown_user(user: str) -> str:
    return user if _kept_part(user) or not looks_secret(user) else MASK


_HOST_NAME = re.compile(r"^(?:localhost|\[[0-9a-fA-F:.]+\]|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::\d{1,5})?$")


def _shown_host(host: str) -> str:
    """A host name, an address or a reference as it is (with its port); anything else (a bot token, a
    webhook id, a topic, a key in the host's place) masked."""
    if _kept_part(host) or (_HOST_NAME.match(host) and not looks_secret(host.split(":")[0])):
        return host
    return MASK


def _shown_param(param: str) -> str:
    name, eq, value = param.partition("=")
    if not eq or _kept_part(value):
        return param
    return f"{name}={MASK}" if secret_name(name) or looks_secret(value) else param


_TABLES = ("env", "headers")  # a target's tables of name -> value
_WEBHOOKS = ("to", "alert_to")
_CONTROL_FIELDS = {"method", "conversation", "model", "kind", "format", "mode"}  # choices, never secrets


def masked_target(target: Mapping[str, Any]) -> dict[str, Any]:
    """A target's JSON (`to_dict`) with its literal credentials masked."""
    out: dict[str, Any] = {}
    for key, value in target.items():
        if key in _TABLES and isinstance(value, Mapping):
            out[key] = {k: mask_entry(str(k), v) for k, v in value.items()}
        elif isinstance(value, str) and key not in _CONTROL_FIELDS:
            out[key] = mask_text(value)
        else:
            out[key] = value
    return out


def masked_delivery(delivery: Mapping[str, Any]) -> dict[str, Any]:
    return {k: mask_webhook(v) if k in _WEBHOOKS else v for k, v in delivery.items()}


def unmasked(value: Any, stored: Any, shown: Callable[[Any], Any]) -> Any:
    """A value sent back on an update: the stored one when `value` is what `shown` made of it (a response's
    masked form, sent back unchanged), else `value`."""
    if stored is None or value == stored:
        return value
    return stored if value == shown(stored) else value
