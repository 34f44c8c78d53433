"""Control characters: refused in what a person types into a job, neutralised in what cronui shows.

A job's output, its error text and a stored name can hold escape sequences. Written raw to a terminal
they change its colours, title or clipboard, move the cursor to hide or fake lines, or (on some
terminals) answer back with typed input. Every place the CLI shows such text goes through `neutralise`,
which keeps newlines and tabs and writes any other control character visibly, the way `cat -v` does:
ESC becomes `^[`, a lone carriage return `^M`, DEL `^?`, and a C1 control (U+0080-U+009F) `\\x9b`.
`cronui runs logs --raw` still writes the bytes as they were.
"""

from __future__ import annotations

import re

# C0 but tab and newline, DEL, C1
_SHOWN_RE = re.compile(r"\r\n|[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# the same, with newline: what a one-line value (a name, a header) must not hold
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _visible(m: re.Match[str]) -> str:
    c = m.group()
    if c == "\r\n":
        return "\n"  # a CRLF line end is a line end
    code = ord(c)
    if code < 0x20:
        return "^" + chr(code + 0x40)
    if code == 0x7F:
        return "^?"
    return f"\\x{code:02x}"


def neutralise(text: str) -> str:
    """`text` safe to write to a terminal: control characters but newline and tab shown visibly."""
    return _SHOWN_RE.sub(_visible, text)


def has_control(text: str, allow: str = "") -> bool:
    """Whether `text` holds a control character (C0 but tab, DEL, C1) other than those in `allow`."""
    return any(c not in allow for c in _CONTROL_RE.findall(text))


_C1_RE = re.compile(r"[\x80-\x9f\u2028\u2029]")


def escape_json_text(text: str) -> str:
    """JSON text (from `json.dumps(..., ensure_ascii=False)`) with C1 controls and line separators written as
    \\u escapes: the same JSON value, but nothing a terminal acts on (json escapes C0 itself)."""
    if text.isascii():  # nothing to escape, told without scanning a long text character by character
        return text
    return _C1_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
