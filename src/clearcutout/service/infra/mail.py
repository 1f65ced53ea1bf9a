"""Email: rendering (text + HTML, English and German), the outbox and delivery.

Services queue :class:`OutgoingEmail` on the context's :class:`Outbox`; the boundary
delivers them only after its transaction committed (no mail about a rolled-back change).
Delivery is SMTP when ``smtp.host`` is set, otherwise a ``.eml`` file in
``data_dir/outbox`` (the embedded default), announced in the log by path only.

Links must survive as written. ``List-Unsubscribe`` (RFC 2369, RFC 8058) is written
verbatim: the mail library would RFC 2047-encode a header line over 78 characters, and
mail clients read that header as it stands, so they would find no link. The bodies go as
8-bit UTF-8 without line folding, so an outbox file read with ``cat`` shows whole links;
an SMTP server that does not announce 8BITMIME (RFC 6152) gets quoted-printable instead.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from clearcutout.config import Settings
from clearcutout.errors import MailDeliveryError
from clearcutout.service.infra.i18n import gettext_for
from clearcutout.storage.file import make_private_dirs

log = logging.getLogger(__name__)

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    keep_trailing_newline=True,
)


# Headers whose value is one or more ``<URL>``: folding or encoding them breaks the link.
VERBATIM_HEADERS = frozenset({"List-Unsubscribe", "List-Unsubscribe-Post"})
# RFC 5322 section 2.1.1: a line is at most 998 characters.
_MAX_LINE = 998
# Raw (verbatim) headers are written as stored; every other header is still folded.
_POLICY = policy.default.clone(refold_source="none")


@dataclass(frozen=True)
class OutgoingEmail:
    """A rendered message; ``kind`` names the template for logs (never the recipient)."""

    kind: str
    to: str
    subject: str
    text: str
    html: str
    lang: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Outbox:
    """Messages waiting for the boundary's commit."""

    messages: list[OutgoingEmail] = field(default_factory=list)

    def add(self, message: OutgoingEmail) -> None:
        self.messages.append(message)

    def take(self) -> list[OutgoingEmail]:
        messages, self.messages = self.messages, []
        return messages


def render_email(
    *,
    kind: str,
    lang: str,
    to: str,
    subject: str,
    greeting_name: str | None,
    paragraphs: list[str],
    action_url: str | None = None,
    action_label: str | None = None,
    params: dict[str, str | int] | None = None,
    unsubscribe_url: str | None = None,
    headers: dict[str, str] | None = None,
) -> OutgoingEmail:
    """Render one message from English source strings, translated into ``lang``.

    ``subject``, ``paragraphs`` and ``action_label`` are gettext msgids, filled with
    ``params`` after translation. ``unsubscribe_url`` adds the one-click unsubscribe
    footer of a non-mandatory email (``service.privacy.emailprefs`` also sets the headers).
    """
    translator = gettext_for(lang)
    _ = translator.gettext
    values = params or {}

    def tr(text: str) -> str:
        return _(text) % values if values else _(text)

    context = {
        "lang": lang,
        "_": _,
        "greeting": (_("Hello %(name)s,") % {"name": greeting_name})
        if greeting_name
        else _("Hello,"),
        "paragraphs": [tr(paragraph) for paragraph in paragraphs],
        "action_url": action_url,
        "action_label": tr(action_label) if action_label else None,
        "subject": tr(subject),
        "unsubscribe_url": unsubscribe_url,
    }
    return OutgoingEmail(
        kind=kind,
        to=to,
        subject=tr(subject),
        text=_templates.get_template("email.txt").render(context),
        html=_templates.get_template("email.html").render(context),
        lang=lang,
        headers=dict(headers or {}),
    )


def build_message(
    settings: Settings, outgoing: OutgoingEmail, *, eight_bit: bool = True
) -> EmailMessage:
    """The MIME message; ``eight_bit=False`` for a server without 8BITMIME."""
    message = EmailMessage(policy=_POLICY)
    message["From"] = settings.smtp.from_address
    message["To"] = outgoing.to
    message["Subject"] = outgoing.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="clearcutout.local")
    message["Content-Language"] = outgoing.lang
    for name, value in outgoing.headers.items():
        if name in VERBATIM_HEADERS:
            message.set_raw(name, _verbatim(name, value))
        else:
            message[name] = value
    message.set_content(outgoing.text, cte=_transfer_encoding(outgoing.text, eight_bit))
    message.add_alternative(
        outgoing.html, subtype="html", cte=_transfer_encoding(outgoing.html, eight_bit)
    )
    return message


def _verbatim(name: str, value: str) -> str:
    """``value`` checked to be one printable ASCII line that fits unfolded."""
    if not value.isascii() or not value.isprintable() or len(name) + 2 + len(value) > _MAX_LINE:
        raise ValueError(f"{name} must be one line of printable ASCII (at most {_MAX_LINE}).")
    return value


def _transfer_encoding(text: str, eight_bit: bool) -> str:
    """7bit or 8bit (lines as written) when possible; quoted-printable otherwise."""
    lines_fit = all(len(line.encode()) <= _MAX_LINE for line in text.splitlines())
    if lines_fit and text.isascii():
        return "7bit"
    if lines_fit and eight_bit:
        return "8bit"
    return "quoted-printable"


def deliver(settings: Settings, messages: list[OutgoingEmail]) -> None:
    """Send ``messages`` by SMTP, or write them to the outbox folder."""
    for outgoing in messages:
        if settings.smtp.host:
            _send_smtp(settings, outgoing)
            log.info("mail.sent kind=%s lang=%s", outgoing.kind, outgoing.lang)
        else:
            path = _write_file(settings, build_message(settings, outgoing))
            log.info("mail.written kind=%s lang=%s path=%s", outgoing.kind, outgoing.lang, path)


def _send_smtp(settings: Settings, outgoing: OutgoingEmail) -> None:
    smtp = settings.smtp
    assert smtp.host is not None
    try:
        client: smtplib.SMTP
        if smtp.implicit_tls:
            client = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=smtp.timeout_s, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
        with client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.username and smtp.password:
                client.login(smtp.username, smtp.password.get_secret_value())
            client.ehlo_or_helo_if_needed()
            eight_bit = client.has_extn("8bitmime")
            message = build_message(settings, outgoing, eight_bit=eight_bit)
            options = ["BODY=8BITMIME"] if eight_bit else []
            client.send_message(message, mail_options=options)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailDeliveryError("The email could not be sent; try again later.") from exc


def outbox_dir(settings: Settings) -> Path:
    return settings.data_dir / "outbox"


def _write_file(settings: Settings, message: EmailMessage) -> Path:
    folder = outbox_dir(settings)
    make_private_dirs(folder)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    path = folder / f"{stamp}.eml"
    path.write_bytes(message.as_bytes())
    path.chmod(0o600)
    return path
