"""Passwords in URLs, hidden wherever a URL is shown (cronui.redaction)."""

from __future__ import annotations

import logging

import pytest

from cronui.redaction import RedactingFilter, redact_text, redacted


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://cronui:s3cret@db:5432/cronui", "postgresql://cronui:***@db:5432/cronui"),
        ("postgresql://cronui:p@ss@db/cronui?schema=a", "postgresql://cronui:***@db/cronui?schema=a"),  # '@' in it
        ("postgresql://:s3cret@db/x", "postgresql://:***@db/x"),
        ("postgresql://u@db/x?password=s3cret&schema=a", "postgresql://u@db/x?password=***&schema=a"),
        ("postgresql://u@db/x?sslpassword=s3cret&PASSWORD=s3cret", "postgresql://u@db/x?sslpassword=***&PASSWORD=***"),
        ("postgresql://u@h1:5432,h2:bad/x", "postgresql://u@h1:5432,h2:bad/x"),  # nothing to hide
        ("postgresql://u:s3cret@[::1/x", "postgresql://u:***@[::1/x"),  # not a URL urlsplit reads
        ("/var/lib/cronui/cronui.db", "/var/lib/cronui/cronui.db"),
        ("postgresql://cronui:***@db/cronui", "postgresql://cronui:***@db/cronui"),  # already hidden
    ],
)
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert redacted(url) == shown
    assert redact_text(f"error at {url}: refused") == f"error at {shown}: refused"


def test_a_log_line_never_shows_a_url_password() -> None:
    record = logging.LogRecord(
        "cronui",
        logging.WARNING,
        __file__,
        1,
        "delivery to %s failed: %s",
        ("https://bot:tok3n@hooks.example/x", "503"),
        None,
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "delivery to https://bot:***@hooks.example/x failed: 503"
    try:
        raise ValueError("cannot reach postgresql://u:pw123@db/x")
    except ValueError:
        import sys

        failed = logging.LogRecord("cronui", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    RedactingFilter().filter(failed)
    assert "pw123" not in (failed.exc_text or "") and "postgresql://u:***@db/x" in (failed.exc_text or "")
