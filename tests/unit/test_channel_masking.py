"""Channels as every output shows them: the credentials inside apprise URLs masked."""

from __future__ import annotations

import pytest

from cronui.engine.channels import shown

TOKEN = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.mark.parametrize(
    ("channel", "kept", "hidden"),
    [
        (f"tgram://123456789:{TOKEN}/-1001234567", "tgram://", [TOKEN, "123456789", "1001234567"]),
        (f"tgram://123456789:{TOKEN}", "tgram://", [TOKEN, "123456789"]),
        ("json://example.com:8080/hook", "json://example.com:8080/", ["hook"]),
        ("mailto://ops:s3cret@mail.example.com?to=a@example.com", "mailto://", ["s3cret"]),
    ],
)
def test_a_channel_is_shown_without_its_credentials(channel: str, kept: str, hidden: list[str]) -> None:
    text = shown(channel)
    assert kept in text
    for secret in hidden:
        assert secret not in text, (secret, text)


def test_a_reference_is_shown_as_written() -> None:
    assert shown("${env:SLACK_HOOK}") == "${env:SLACK_HOOK}"
