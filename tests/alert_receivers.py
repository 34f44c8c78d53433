"""Services that alerts reach in tests: a loopback HTTP server keeping the JSON bodies posted to it (what
apprise's json:// sends), and a real SMTP server (aiosmtpd) keeping the mails apprise's mailto:// sends,
optionally offering a login (over plain SMTP, as a relay on loopback may) and keeping the ones it took."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


class JsonReceiver:
    """A loopback HTTP server keeping the JSON bodies posted to it, and their Authorization headers; it
    answers each `delay_s` after it came (a slow service)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                outer.bodies.append(json.loads(self.rfile.read(size) or b"{}"))
                outer.auth.append(self.headers.get("Authorization"))
                time.sleep(delay_s)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def json_receiver(delay_s: float = 0.0) -> Iterator[JsonReceiver]:
    r = JsonReceiver(delay_s)
    try:
        yield r
    finally:
        r.close()


class _Mailbox:
    def __init__(self, login: tuple[str, str] | None = None) -> None:
        self.mails: list[tuple[str, list[str], Message]] = []
        self.login = login
        self.logins: list[tuple[str, str]] = []  # (user, password) of each login this server accepted

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        self.mails.append((str(envelope.mail_from), list(envelope.rcpt_tos), message_from_bytes(content)))
        return "250 OK"

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        if not isinstance(data, LoginPassword) or self.login is None:
            return AuthResult(success=False, handled=False)
        given = (data.login.decode(), data.password.decode())
        if given != self.login:
            return AuthResult(success=False, handled=False)
        self.logins.append(given)
        return AuthResult(success=True)


@contextmanager
def smtp_server(login: tuple[str, str] | None = None) -> Iterator[tuple[int, _Mailbox]]:
    """A real SMTP server on a free loopback port (no TLS), and the mails it received; with `login` (user,
    password) it offers AUTH PLAIN/LOGIN without TLS, refuses any other login and keeps each it accepted
    (`logins`: one per mail when the sender logged in for each)."""
    box = _Mailbox(login)
    with socket.socket() as probe:  # aiosmtpd connects to its own port once started: it needs a real one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    auth: dict[str, Any] = {}
    if login is not None:
        auth = {"authenticator": box.authenticate, "auth_require_tls": False}
    controller = Controller(box, hostname="127.0.0.1", port=port, **auth)
    controller.start()
    try:
        yield port, box
    finally:
        controller.stop()


def mail_text(mail: Message) -> tuple[str, str]:
    """A received mail's subject and plain-text body, decoded (apprise encodes them as their text needs)."""
    parsed = message_from_bytes(mail.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    part = parsed.get_body(preferencelist=("plain", "html"))
    body = part.get_content() if part is not None else ""
    return str(parsed["Subject"]), str(body)


async def until(check: Any, timeout_s: float = 10.0) -> None:
    """Wait until `check()` is true (a receiver in a thread of its own got what it waits for)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)
