"""Chain conditions: `--when 'contains:X'` / `--when 'regex:X'` on a chain edge, checked against what the
run recorded as its output (an agent's reply, a shell command's stdout, an HTTP response's body).

A condition is checked when it is saved (a bad regex is refused there, never found when a run ends) and
when the run's last attempt ends; an edge whose condition does not match is not fired, and the run's
milestones say so (`chain-not-fired`), so nobody has to wonder why a chain did not run.

A pattern is a user's and the text a run's: neither may hold up the scheduler. Patterns are matched with
re2, whose time grows linearly with the text (no backtracking: `(a+)+$` is as quick as `a+$`), so what
needs backtracking (backreferences, lookaround) is refused when the pattern is saved; a pattern whose
compiled program is larger than PATTERN_SIZE_CAP is refused too (re2's time also grows with it); the
text is at most CONDITION_TEXT_CAP (its head and tail); and the engine matches in a worker thread (re2
lets go of the GIL while it searches bytes), never on its loop.
"""

from __future__ import annotations

import functools
import re

import re2  # google-re2

WHEN_KINDS = ("contains", "regex")
WHEN_SYNTAX = "contains:TEXT or regex:PATTERN"
PATTERN_SIZE_CAP = 2000  # instructions of a compiled pattern: a 256 KiB text takes seconds at most
CONDITION_TEXT_CAP = 256 * 1024  # bytes of the output a condition sees: the first and last half of this

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is reported in one line, not logged by re2 to stderr

# what re2 refuses that Python's re reads, by the operator re2 names
_UNSUPPORTED = {
    "(?=": "lookahead (?=...)",
    "(?!": "negative lookahead (?!...)",
    "(?<=": "lookbehind (?<=...)",
    "(?<!": "negative lookbehind (?<!...)",
    "(?>": "an atomic group (?>...)",
    "(?(": "a conditional group (?(1)...)",
    "(?#": "a comment group (?#...)",
    "(?P": "a named backreference (?P=name)",
}


def _unsupported(error: str) -> str:
    """What re2's refusal of a pattern Python's re reads means, as a feature name."""
    operator = error.rpartition(": ")[2]
    if error.startswith("invalid perl operator"):
        if operator in _UNSUPPORTED:
            return _UNSUPPORTED[operator]
        if operator.startswith("(?") and len(operator) == 3:
            return f"the flag {operator}) (re2 knows i, m, s and U)"
    if error.startswith("invalid escape sequence") and operator[1:].isdigit():
        return f"a backreference ({operator})"
    if operator == "\\Z":
        return "\\Z (write \\z for the end of the text)"
    if error.startswith("bad repetition operator") and operator.endswith("+"):
        return f"a possessive quantifier ({operator})"
    if error.startswith("invalid repetition size"):
        return f"a repetition count over 1000 ({operator})"
    return f"something it does not read ({error})"


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> re2._Regexp:
    """The pattern compiled by re2, or ValueError with a one-line reason."""
    try:
        compiled = re2.compile(pattern.encode("utf-8", "surrogatepass"), _OPTIONS)
    except re2.error as e:
        error = e.args[0].decode("utf-8", "replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        try:
            re.compile(pattern)
        except (re.error, RecursionError, OverflowError) as py:
            raise ValueError(f"{pattern!r} is not a valid regular expression ({py})") from None
        raise ValueError(
            f"{pattern!r} uses {_unsupported(error)}, which re2 (the linear-time engine conditions "
            "are matched with) does not support"
        ) from None
    if compiled.programsize > PATTERN_SIZE_CAP:
        raise ValueError(
            f"{pattern!r} is too large to match quickly ({compiled.programsize:,} steps once compiled, at most "
            f"{PATTERN_SIZE_CAP:,}): shorten counted repeats such as .{{0,500}}"
        )
    return compiled


def condition_text(output: str) -> bytes:
    """What of a run's output a condition sees: all of it up to CONDITION_TEXT_CAP bytes (UTF-8), else
    its first and last half of that, joined by a line break."""
    data = output.encode("utf-8", "replace")
    if len(data) <= CONDITION_TEXT_CAP:
        return data
    half = CONDITION_TEXT_CAP // 2
    return data[:half] + b"\n" + data[-half:]


def parse_when(when: object) -> tuple[str, str]:
    """`contains:TEXT` -> ("contains", TEXT); `regex:PATTERN` -> ("regex", PATTERN), the pattern compiled
    once here so a bad one is refused. Raises ValueError with a one-line reason."""
    if not isinstance(when, str):
        raise ValueError(f"expected {WHEN_SYNTAX}, got {when!r}")
    kind, sep, arg = when.partition(":")
    if not sep or kind not in WHEN_KINDS:
        raise ValueError(f"expected {WHEN_SYNTAX}, got {when!r}")
    if not arg:
        raise ValueError(f"{kind}: needs something to look for after the colon")
    if kind == "regex":
        compile_pattern(arg)
    return kind, arg


def when_problem(when: object) -> str | None:
    """What is wrong with a condition, in one line; None when it is one."""
    try:
        parse_when(when)
    except ValueError as e:
        return str(e)
    return None


def matches(when: str, output: str) -> bool:
    """Whether `output` (what `condition_text` keeps of it) meets the condition: contains TEXT
    (case-sensitive), or has a match of PATTERN anywhere (re2's search; `(?i)` makes it ignore case).
    Linear in the text; run it off the event loop when the text can be long (re2 lets go of the GIL)."""
    kind, arg = parse_when(when)
    text = condition_text(output)
    if kind == "contains":
        return arg.encode("utf-8", "replace") in text
    return compile_pattern(arg).search(text) is not None


def describe_miss(when: str) -> str:
    """Why an edge with this condition was not fired, as the run's milestone says it."""
    kind, arg = parse_when(when)
    if kind == "contains":
        return f"the output does not contain {arg!r}"
    return f"the output has no match for /{arg}/"
