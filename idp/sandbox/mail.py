"""The sandbox's mail catcher: an SMTP server on this machine (aiosmtpd) that keeps every message
the identity provider sends, for a person at /mail and for tests at /_sandbox/mail. Nothing is
ever delivered anywhere."""

from __future__ import annotations

import email
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

MAX_KEPT = 200


@dataclass
class MailCatcher:
    """Keeps the newest MAX_KEPT messages, as {to, from, subject, text, html, at}."""

    port: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    controller: Controller | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=default)
        assert isinstance(message, EmailMessage)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        self.messages.append(
            {
                "at": time.time(),
                "from": str(message["From"]),
                "to": list(envelope.rcpt_tos),
                "subject": str(message["Subject"]),
                "text": text.get_content() if text else "",
                "html": html.get_content() if html else "",
            }
        )
        del self.messages[:-MAX_KEPT]
        return "250 Message accepted"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
