"""The one place numbers and durations are bounded, and how control characters are refused and shown."""

from __future__ import annotations

import json
import math

import pytest

from cronui import bounds
from cronui.bounds import Duration, Number, OutOfBounds, Whole
from cronui.controls import escape_json_text, has_control, neutralise
from cronui.jobs import JobError, parse_duration


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (101, "expected 0 to 100, got 101"),
        (-1, "expected 0 to 100, got -1"),
        (2.0, "expected a whole number, got 2.0"),
        (True, "expected a whole number, got True"),
        ("3", "expected a whole number, got '3'"),
        (10**400, "expected 0 to 100, got a number of more than 30 digits"),
    ],
)
def test_a_whole_number_out_of_bounds_says_what_was_expected(value, problem):
    with pytest.raises(OutOfBounds) as info:
        bounds.RETRIES.check(value)
    assert str(info.value) == problem


def test_whole_numbers_typed_as_text():
    assert Whole(1, 10).parse(" 7 ") == 7
    for text, problem in [
        ("seven", "expected a whole number, got 'seven'"),
        ("1e3", "expected a whole number, got '1e3'"),
        ("9" * 5000, "expected 1 to 10, got '" + "9" * 36 + "..."),  # int() refuses > 4300
        ("11", "expected 1 to 10, got 11"),
    ]:
        with pytest.raises(OutOfBounds) as info:
            Whole(1, 10).parse(text)
        assert str(info.value) == problem


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("nan", "expected a finite number, got nan"),
        ("inf", "expected a finite number, got inf"),
        ("-Infinity", "expected a finite number, got -inf"),
        ("2.5", "expected a number from 0 to 2, got 2.5"),
        ("-0.1", "expected a number from 0 to 2, got -0.1"),
        ("warm", "expected a number, got 'warm'"),
    ],
)
def test_a_temperature_is_finite_and_from_0_to_2(text, problem):
    with pytest.raises(OutOfBounds) as info:
        bounds.TEMPERATURE.parse(text)
    assert str(info.value) == problem
    assert bounds.TEMPERATURE.parse("0.7") == 0.7


def test_a_number_above_its_low_end_refuses_the_low_end_itself():
    with pytest.raises(OutOfBounds, match="expected a number above 0, up to 36600, got 0"):
        bounds.RETENTION_DAYS.check(0)
    assert Number(0, 1, above=True).check(0.5) == 0.5


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("9" * 400, "expected at most 366d, got '" + "9" * 36 + "..."),
        ("400d", "expected at most 366d, got '400d'"),
        (1e306, "expected at most 366d, got 1e+306s"),
        (math.inf, "expected at most 366d, got inf"),
        (math.nan, "expected a finite duration, got nan"),
        (10**400, "expected at most 366d, got a number of more than 30 digits"),
        (-5, "must not be negative"),
        ("1e306", "expected a duration like 30s, 10m or 2h, got '1e306'"),
        ([1], "expected a duration like 30s, 10m or 2h, got [1]"),
    ],
)
def test_a_duration_is_finite_and_at_most_366_days(given, problem):
    with pytest.raises(JobError) as info:
        parse_duration(given, "timeout")
    assert (info.value.field, info.value.problem) == ("timeout", problem)


def test_durations_within_bounds_and_the_positive_ones():
    assert parse_duration("366d", "x") == bounds.MAX_DURATION_S
    assert parse_duration("0", "x") == 0
    assert parse_duration(" 1.5s ", "x") == 1.5
    with pytest.raises(JobError, match="timeout: must be more than 0 seconds"):
        parse_duration("0s", "timeout", bounds.POSITIVE_DURATION)
    assert Duration(hi=60).check(60) == 60
    with pytest.raises(OutOfBounds, match="expected at most 1m, got 61s"):
        Duration(hi=60).check(61)


def test_neutralise_shows_control_characters_and_keeps_newlines_and_tabs():
    raw = "\x1b]0;pwned\x07\x1b[31mred\x1b[0m\tok\r\nnext\rover\x7f\x9b2J\x00"
    shown = neutralise(raw)
    assert shown == "^[]0;pwned^G^[[31mred^[[0m\tok\nnext^Mover^?\\x9b2J^@"
    assert not has_control(shown, allow="\n")
    assert neutralise(shown) == shown  # once is enough: shown text has nothing left to neutralise


def test_has_control_allows_what_it_is_told():
    assert has_control("a\nb") and not has_control("a\nb", allow="\n")
    assert not has_control("tab\there") and has_control("x\r") and has_control("x\u0085")


def test_json_text_escapes_c1_controls_and_stays_the_same_value():
    value = {"out": "a\u009b31mb\u2028c", "esc": "\x1b[0m"}
    text = escape_json_text(json.dumps(value, ensure_ascii=False))
    assert not any(0x80 <= ord(c) <= 0x9F or c in "\u2028\u2029\x1b" for c in text)
    assert json.loads(text) == value
