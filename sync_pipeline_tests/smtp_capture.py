"""A local SMTP server (aiosmtpd) on a free port that keeps what it receives, with optional login."""

from __future__ import annotations

import email
import email.policy
import socket
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpCapture:
    def __init__(self, *, username: str | None = None, password: str | None = None) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[str] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                outer.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                outer.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == username
                  and auth_data.password.decode() == password)
            if ok:
                outer.logins.append(username or "")
            return AuthResult(success=ok)

        self.port = free_port()
        kw = {"authenticator": authenticator, "auth_require_tls": False} if username else {}
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kw)

    def __enter__(self) -> SmtpCapture:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
