"""Mail to customers over SMTP (the standard library's smtplib, in a thread): a plain-text and an
HTML part, rendered from templates/mail/ in the customer's language.

Mail is sent from a task of its own (idp/signin/password_reset.py), never while a customer's
request waits. A failure is logged, never shown to the customer.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from idp import i18n
from idp.config import Settings

log = logging.getLogger("idp")
SMTP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str


def mail_templates(settings: Settings) -> Environment:
    env = Environment(
        loader=FileSystemLoader(settings.templates_dir),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=i18n.gettext, ngettext=i18n.ngettext, newstyle=True
    )
    env.globals.update(supplier_name=settings.supplier_name)
    return env


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.templates = mail_templates(settings)

    @property
    def configured(self) -> bool:
        return bool(self.settings.smtp_host)

    def render(self, to: str, template: str, **context: Any) -> Mail:
        """templates/mail/<template>.txt and .html in the current language; the subject is the
        text part's first line."""
        context = {"lang": i18n.current_language(), **context}
        subject, _, text = (
            self.templates.get_template(f"mail/{template}.txt").render(**context).partition("\n")
        )
        html = self.templates.get_template(f"mail/{template}.html").render(**context)
        return Mail(to=to, subject=subject.strip(), text=text.lstrip("\n"), html=html)

    def message(self, mail: Mail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.mail_sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Message-ID"] = make_msgid(domain=self.settings.mail_domain)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        message.set_content(mail.text)
        message.add_alternative(mail.html, subtype="html")
        return message

    async def send(self, mail: Mail) -> bool:
        """Deliver `mail`; False (and an ERROR log line) when the SMTP server could not be
        reached or refused it."""
        try:
            await asyncio.to_thread(self._deliver, self.message(mail))
        except (OSError, smtplib.SMTPException) as exc:
            log.error("mail could not be sent: %s", exc.__class__.__name__)
            return False
        return True

    def _deliver(self, message: EmailMessage) -> None:
        s = self.settings
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.smtp_security == "tls":
            smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=SMTP_TIMEOUT, context=context)
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=SMTP_TIMEOUT)
        with smtp:
            if s.smtp_security == "starttls":
                smtp.starttls(context=context)
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password or "")
            smtp.send_message(message)
