"""Emails as the outside world receives them: the raw bytes at a real SMTP server
(aiosmtpd) and in the outbox file, never the headers as a mail library decodes them.

RFC 2369 / RFC 8058: ``List-Unsubscribe: <https://…>`` must stand in the message as a
literal URL in angle brackets, or mail clients show no unsubscribe button. Outbox files
are read with ``cat``: links must not be cut by quoted-printable soft line breaks.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from clearcutout.config import Settings
from clearcutout.crypto import Keyring
from clearcutout.service import accounts
from clearcutout.service.context import unit_of_work
from clearcutout.service.infra.mail import outbox_dir
from clearcutout.service.privacy import emailprefs
from tests.conftest import fast_settings, running_smtp_server
from tests.support.database import migrated_engine

# Long enough that the header line passes 78 characters, as real addresses do.
BASE_URL = "https://cutouts.photo-studio.example"
UNSUBSCRIBE_HEADER = re.compile(
    rb"\nList-Unsubscribe: <(https://cutouts\.photo-studio\.example/unsubscribe\?token=[\w.-]+)>\r?\n"
)
POST_HEADER = re.compile(rb"\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r?\n")
# German body text, so the message is not plain ASCII.
GERMAN_FOOTER = "Du erhältst diese E-Mail, weil du sie bestellt hast."


def announce_to_a_german_reader(tmp_path: Path, **overrides: object) -> Settings:
    """A verified German-speaking account receives a service announcement (optional, so
    it carries the unsubscribe link and headers)."""
    settings = fast_settings(
        tmp_path / "data", base_url=BASE_URL, default_language="de", **overrides
    )
    engine = migrated_engine(settings)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    keyring = Keyring.from_settings(settings)
    with unit_of_work(factory, settings, keyring) as ctx:
        accounts.create_user_as_operator(
            ctx, email="jorg@example.org", name="Jörg Müller", password="paper lanterns 2025"
        )
    with unit_of_work(factory, settings, keyring) as ctx:
        sent = emailprefs.announce(
            ctx, category="service_updates", subject="New models", paragraphs=["ISNet is here."]
        )
    engine.dispose()
    assert sent == 1
    return settings


def unsubscribe_url_in(raw: bytes) -> bytes:
    """The URL of the literal, unfolded ``List-Unsubscribe`` header of a raw message."""
    head = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]
    assert b"=?" not in head.split(b"List-Unsubscribe:", 1)[1].splitlines()[0], head
    assert POST_HEADER.search(head), head
    found = UNSUBSCRIBE_HEADER.search(head)
    assert found, head.decode("ascii", "replace")
    return found.group(1)


def test_smtp_delivery_keeps_the_unsubscribe_header_literal_and_links_whole(
    tmp_path: Path,
) -> None:
    with running_smtp_server() as server:
        announce_to_a_german_reader(tmp_path, smtp=server.settings())
        server.wait_for(1)
    [raw] = server.raw
    url = unsubscribe_url_in(raw)
    # 8-bit UTF-8 bodies (announced with BODY=8BITMIME): the link stands whole on its own
    # line in the text part and in the HTML, and German reads as German.
    assert "BODY=8BITMIME" in server.mail_options[0]
    assert b"Content-Transfer-Encoding: 8bit" in raw
    assert b"\r\n" + url + b"\r\n" in raw
    assert b'href="' + url + b'"' in raw
    assert GERMAN_FOOTER.encode() in raw
    assert b"quoted-printable" not in raw  # so no soft line break anywhere


def test_a_server_without_8bitmime_gets_seven_bit_mail_with_the_same_literal_header(
    tmp_path: Path,
) -> None:
    with running_smtp_server(eight_bit_mime=False) as server:
        announce_to_a_german_reader(tmp_path, smtp=server.settings())
        [message] = server.wait_for(1)
    [raw] = server.raw
    assert raw.isascii()
    assert not any(option.startswith("BODY=") for option in server.mail_options[0])
    url = unsubscribe_url_in(raw)
    text = message.get_body(("plain",))
    assert text is not None and text["Content-Transfer-Encoding"] == "quoted-printable"
    assert url.decode() in text.get_content() and GERMAN_FOOTER in text.get_content()


def test_outbox_files_are_readable_as_they_are(tmp_path: Path) -> None:
    settings = announce_to_a_german_reader(tmp_path)
    [path] = sorted(outbox_dir(settings).glob("*.eml"))
    raw = path.read_bytes()
    url = unsubscribe_url_in(raw)
    shown = raw.decode("utf-8")  # what `cat` prints on a UTF-8 terminal
    assert "\n" + url.decode() + "\n" in shown
    assert GERMAN_FOOTER in shown and "Hallo Jörg Müller," in shown
    assert "quoted-printable" not in shown and "=C3=" not in shown
    assert all(len(line) <= 998 for line in raw.splitlines())
