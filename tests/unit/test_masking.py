"""Which values every face masks: credentials told by name and by shape, the secret parts of texts, and
ordinary values (paths, versions, host names, slugs, ids) left alone."""

from __future__ import annotations

import pytest

from cronui.masking import mask_channel, mask_entry, mask_text, mask_webhook, unmasked
from cronui.secrets import MASK

PAT = "ghp_" + "Q7r8A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("DATABASE_URL", "postgres://app:hunter2@db/app", f"postgres://app:{MASK}@db/app"),
        ("MYSQL_PWD", "hunter2", MASK),
        ("GITHUB_PAT", PAT, MASK),
        ("DB_PASS", "x1", MASK),
        ("Authorization", "Bearer abc", MASK),
        ("X_ID", PAT, MASK),
        ("X_ID", "github_pat_" + "11AAAAAAA0aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", MASK),
        ("SLACK", "xoxb-123456789012-abcdefABCDEF", MASK),
        ("LLM", "sk-proj-abcdefghijklmnopqrstuvwxyz0123", MASK),
        ("AWS_ID", "AKIAIOSFODNN7EXAMPLE", MASK),
        ("S3", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", MASK),
        ("J", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", MASK),
        ("HEXKEY", "6f1ed002ab5595859014ebf0951522d9", MASK),
        ("REF_TOKEN", "${env:MY_TOKEN}", "${env:MY_TOKEN}"),
        ("PWD", "/home/me", "/home/me"),
        ("GIT_AUTHOR_NAME", "Jane", "Jane"),
        ("AWS_REGION", "eu-west-1", "eu-west-1"),
        ("HOST", "api.eu-west-1.amazonaws.com", "api.eu-west-1.amazonaws.com"),
        ("PYTHONPATH", "/usr/local/lib/python3.11/site-packages", "/usr/local/lib/python3.11/site-packages"),
        ("REQUEST", "550e8400-e29b-41d4-a716-446655440000", "550e8400-e29b-41d4-a716-446655440000"),
        ("SERVICE", "my-very-long-service-name-2024", "my-very-long-service-name-2024"),
        ("LANG", "en_US.UTF-8", "en_US.UTF-8"),
        ("MODEL", "Llama-3.1-8B-Instruct-Q4_K_M", "Llama-3.1-8B-Instruct-Q4_K_M"),
    ],
)
def test_an_env_or_header_value(name: str, value: str, shown: str) -> None:
    assert mask_entry(name, value) == shown


def test_the_secret_parts_of_a_text_are_masked_and_the_rest_kept() -> None:
    command = (
        f"MYSQL_PWD=hunter2 curl -H 'Authorization: Bearer abc123def' https://u:p4ss@x.example/a?token=zz&q=1 {PAT}"
    )
    assert mask_text(command) == (
        f"MYSQL_PWD={MASK} curl -H 'Authorization: Bearer {MASK}' https://u:{MASK}@x.example/a?token={MASK}&q=1 {MASK}"
    )
    for plain in (
        "restic backup ~",
        "pg_dump -Fc db > /b/db-$(date +%F).dump",
        "git clone https://x:${env:GH}@github.com/a",
    ):
        assert mask_text(plain) == plain
    assert mask_webhook("https://hooks.slack.com/services/T0/B0/abc") == f"https://hooks.slack.com/{MASK}"


def test_a_masked_value_sent_back_keeps_the_stored_one() -> None:
    stored = "postgres://app:hunter2@db/app"
    shown = mask_entry("DATABASE_URL", stored)
    assert unmasked(shown, stored, lambda v: mask_entry("DATABASE_URL", v)) == stored
    assert unmasked("postgres://app:new@db/app", stored, lambda v: mask_entry("DATABASE_URL", v)) != stored


@pytest.mark.parametrize(
    ("channel", "shown"),
    [
        ("tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-1001234567", f"tgram://{MASK}/{MASK}"),
        (
            "mailto://ops:hunter2pass@smtp.example.com?to=me@example.com",
            f"mailto://ops:{MASK}@smtp.example.com?to=me@example.com",
        ),
        ("mailto://me@example.com", "mailto://me@example.com"),
        ("ntfy://alice:pa55word@ntfy.sh/backups", f"ntfy://alice:{MASK}@ntfy.sh/{MASK}"),
        ("pagerduty://integrationKEY123@apiKEY456/", f"pagerduty://{MASK}@{MASK}/"),
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", f"slack://{MASK}/{MASK}/{MASK}"),
        ("discord://123456789012/abcDEFtoken", f"discord://{MASK}/{MASK}"),
        ("json://user:pass@127.0.0.1:8080/hook", f"json://user:{MASK}@127.0.0.1:8080/{MASK}"),
        ("json://localhost:8000?token=abc", f"json://localhost:8000?token={MASK}"),
        ("tgram://${env:TG_TOKEN}/${env:TG_CHAT}", "tgram://${env:TG_TOKEN}/${env:TG_CHAT}"),
        ("json://bot:${env:HOOK_TOKEN}@127.0.0.1:99", "json://bot:${env:HOOK_TOKEN}@127.0.0.1:99"),
        ("https://hooks.slack.com/services/T0/B0/abc", f"https://hooks.slack.com/{MASK}"),
        (
            "https://hooks.slack.com/services/T0/B0/abc, tgram://123:AAHdqTcvCH1vGWJxfSeof/1",
            f"https://hooks.slack.com/{MASK}, tgram://{MASK}/{MASK}",
        ),
    ],
)
def test_a_channel_url_keeps_its_scheme_and_host_and_hides_its_secrets(channel: str, shown: str) -> None:
    assert mask_webhook(channel) == shown
    if "," not in channel:
        assert mask_channel(channel) == shown
    assert unmasked(shown, channel, mask_webhook) == channel  # a shown value sent back keeps the stored one
