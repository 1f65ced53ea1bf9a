"""Privacy controls on SQLite and the real PostgreSQL, with mail through a real SMTP
server: email preferences and one-click unsubscribe, objections and the staff access
log, flagging a child's account, policy versions."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, text

from clearcutout.db.models import (
    AccessLogEntry,
    PrivacyRequest,
    User,
    UserKey,
)
from clearcutout.errors import InvalidTokenError, NotFoundError, ValidationError
from clearcutout.service import accounts, staff
from clearcutout.service.accounts import sessions
from clearcutout.service.privacy import consent, emailprefs, policy
from clearcutout.service.privacy import requests as privacy_requests
from tests.conftest import SmtpServer, email_text
from tests.support.service import Clock, run, signup_form

PASSWORD = "analytical engine 1843"


@pytest.fixture
def mail(services: Any, smtp_server: SmtpServer) -> SmtpServer:
    services.settings = services.settings.model_copy(update={"smtp": smtp_server.settings()})
    return smtp_server


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_user(services: Any, mail: SmtpServer, clock: Clock, **overrides: Any) -> User:
    """Sign up through the form path and verify from the received mail."""
    address = overrides.get("email", "ada@example.org")
    before = len(mail.to(address))
    run(
        services,
        lambda ctx: accounts.sign_up(ctx, signup_form(**overrides), client_ip=None),
        clock,
    )
    message = mail.wait_for(len(mail.messages))[-1]
    assert len(mail.to(address)) == before + 1
    token = re.search(r"/verify-email\?token=([\w-]+)", email_text(message))
    assert token, email_text(message)
    return run(services, lambda ctx: accounts.verify_email(ctx, token.group(1)), clock)


def reload(services: Any, user_id: str) -> User | None:
    return run(services, lambda ctx: ctx.db.get(User, user_id))


# ----------------------------------------------------------------------------- emails


def test_optional_email_defaults_are_service_updates_on_and_marketing_off(
    services: Any, mail: SmtpServer, clock: Clock
) -> None:
    user = make_user(services, mail, clock)
    prefs = run(services, lambda ctx: emailprefs.preferences(ctx, user))
    assert prefs == {"service_updates": True, "marketing": False}
    assert run(services, lambda ctx: emailprefs.wants(ctx, user, "account")) is True
    assert run(services, lambda ctx: emailprefs.wants(ctx, user, "billing")) is True


def test_mandatory_categories_cannot_be_turned_off(
    services: Any, mail: SmtpServer, clock: Clock
) -> None:
    user = make_user(services, mail, clock)
    for category in ("account", "billing"):
        with pytest.raises(ValidationError):
            run(
                services,
                lambda ctx, c=category: emailprefs.set_preferences(
                    ctx, user, {c: False}, source="test"
                ),
            )


def test_preference_changes_are_kept_as_history_with_who_when_and_where(
    services: Any, mail: SmtpServer, clock: Clock
) -> None:
    user = make_user(services, mail, clock)
    clock.advance(days=1)
    run(
        services,
        lambda ctx: emailprefs.set_preferences(
            ctx, user, {"marketing": True, "service_updates": True}, source="privacy_page"
        ),
        clock,
    )
    clock.advance(days=1)
    run(
        services,
        lambda ctx: emailprefs.set_preferences(
            ctx, user, {"marketing": False}, source="privacy_page", actor="staff:abc"
        ),
        clock,
    )
    history = run(services, lambda ctx: consent.history(ctx, user))
    assert [(e.kind, e.subject, e.value, e.source, e.actor) for e in history] == [
        ("policy", policy.current_policy().version, "accepted", "signup", "self"),
        ("email_preference", "marketing", "subscribed", "privacy_page", "self"),
        ("email_preference", "marketing", "unsubscribed", "privacy_page", "staff:abc"),
    ]
    assert history[1].at == history[0].at + timedelta(days=1)


def test_announcements_carry_rfc8058_headers_and_a_working_unsubscribe_link(
    services: Any, mail: SmtpServer, clock: Clock
) -> None:
    ada = make_user(services, mail, clock)
    make_user(services, mail, clock, email="grace@example.org", name="Grace Hopper")
    sent_before = len(mail.messages)

    count = run(
        services,
        lambda ctx: emailprefs.announce(
            ctx, category="service_updates", subject="New models", paragraphs=["ISNet is here."]
        ),
    )
    assert count == 2
    messages = mail.wait_for(sent_before + 2)[sent_before:]
    [to_ada] = [m for m in messages if m["To"] == "ada@example.org"]
    header = to_ada["List-Unsubscribe"]
    assert to_ada["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.fullmatch(r"<(http://127\.0\.0\.1:8000/unsubscribe\?token=[\w.-]+)>", header)
    assert url, header
    assert url.group(1) in email_text(to_ada)
    html = to_ada.get_body(("html",))
    assert html is not None and url.group(1) in html.get_content()
    # Each recipient gets their own link.
    [to_grace] = [m for m in messages if m["To"] == "grace@example.org"]
    assert to_grace["List-Unsubscribe"] != header

    token = parse_qs(urlsplit(url.group(1)).query)["token"][0]
    found = run(services, lambda ctx: emailprefs.unsubscribe(ctx, token, source="unsubscribe_link"))
    assert found.user.id == ada.id and found.category == "service_updates"
    assert run(services, lambda ctx: emailprefs.preferences(ctx, ada))["service_updates"] is False

    again = run(
        services,
        lambda ctx: emailprefs.announce(
            ctx, category="service_updates", subject="More", paragraphs=["Hello."]
        ),
    )
    assert again == 1
    assert [m["To"] for m in mail.wait_for(sent_before + 3)[sent_before + 2 :]] == [
        "grace@example.org"
    ]


def test_marketing_is_only_sent_to_people_who_opted_in(
    services: Any, mail: SmtpServer, clock: Clock
) -> None:
    ada = make_user(services, mail, clock)
    make_user(services, mail, clock, email="grace@example.org", name="Grace Hopper")
    run(
        services,
        lambda ctx: emailprefs.set_preferences(ctx, ada, {"marketing": True}, source="test"),
    )
    before = len(mail.messages)
    count = run(
        services,
        lambda ctx: emailprefs.announce(
            ctx, category="marketing", subject="Offer", paragraphs=["Half price."]
        ),
    )
    assert count == 1
    [message] = mail.wait_for(before + 1)[before:]
    assert message["To"] == "ada@example.org"
    assert "List-Unsubscribe" in message


def test_a_forged_or_altered_unsubscribe_token_is_refused(
    services: Any, mail: SmtpServer, clock: Clock
) -> None:
    user = make_user(services, mail, clock)
    good = run(
        services,
        lambda ctx: emailprefs.unsubscribe_token(ctx, user_id=user.id, category="marketing"),
    )
    payload, mac = good.split(".")
    other_payload = emailprefs._b64(f"{user.id}:service_updates".encode())
    for token in ("", "garbage", f"{payload}.{mac[:-2]}xx", f"{other_payload}.{mac}"):
        with pytest.raises(InvalidTokenError):
            run(services, lambda ctx, t=token: emailprefs.unsubscribe(ctx, t, source="test"))
    assert run(services, lambda ctx: emailprefs.preferences(ctx, user))["service_updates"]


# ----------------------------------------------------------------------------- requests


def test_an_objection_is_stored_encrypted_acknowledged_and_listed_for_staff_with_its_age(
    services: Any, mail: SmtpServer, clock: Clock
) -> None:
    ada = make_user(services, mail, clock)
    boss = make_user(services, mail, clock, email="dpo@example.org", name="Data Officer")
    run(services, lambda ctx: staff.set_staff(ctx, email="dpo@example.org", is_staff=True))
    boss = reload(services, boss.id)
    assert boss is not None and boss.is_staff
    before = len(mail.messages)

    secret = "Please stop analysing my visits, I am Ada from Marylebone"
    info = run(
        services,
        lambda ctx: privacy_requests.submit(
            ctx, ada, kind="objection", processing="analytics", message=secret
        ),
        clock,
    )
    [ack] = mail.wait_for(before + 1)[before:]
    assert ack["To"] == "ada@example.org"
    assert ack["Subject"] == "We received your privacy request"
    assert info.id[:8] in email_text(ack)
    assert "List-Unsubscribe" not in ack  # account category: always sent, no opt-out

    with services.engine.connect() as connection:
        raw = connection.execute(
            select(PrivacyRequest.message_enc).where(PrivacyRequest.id == info.id)
        ).scalar_one()
    assert b"Marylebone" not in raw

    clock.advance(days=3, hours=5)
    listed = run(services, lambda ctx: privacy_requests.list_for_staff(ctx, boss), clock)
    assert [(r.id, r.kind, r.processing) for r in listed] == [(info.id, "objection", "analytics")]
    assert listed[0].age == timedelta(days=3, hours=5)
    assert listed[0].message is None

    with pytest.raises(NotFoundError):
        run(services, lambda ctx: privacy_requests.list_for_staff(ctx, ada))
    with pytest.raises(NotFoundError):
        run(services, lambda ctx: privacy_requests.open_for_staff(ctx, ada, info.id))

    opened = run(services, lambda ctx: privacy_requests.open_for_staff(ctx, boss, info.id), clock)
    assert opened.request.message == secret
    assert opened.requester_email == "ada@example.org"
    with services.engine.connect() as connection:
        # The role grant is in the log too (``service.staff.roles``); here: the access.
        rows = connection.execute(
            select(AccessLogEntry).where(AccessLogEntry.action != "role_change")
        ).all()
    assert [(r.actor_user_id, r.subject_user_id, r.action) for r in rows] == [
        (boss.id, ada.id, "read_privacy_request")
    ]
    assert info.id in rows[0].reason and rows[0].created_at == clock.now

    run(services, lambda ctx: privacy_requests.close(ctx, boss, info.id))
    assert run(services, lambda ctx: privacy_requests.list_for_staff(ctx, boss)) == []
    [own] = run(services, lambda ctx: privacy_requests.list_own(ctx, ada))
    assert own.status == "closed" and own.message == secret


@pytest.mark.parametrize(
    ("kind", "processing", "message", "field"),
    [
        ("complaint", None, "x", "kind"),
        ("objection", None, "", "processing"),
        ("objection", "selling_data", "", "processing"),
        ("question", None, "   ", "message"),
        ("question", None, "x" * 5001, "message"),
    ],
)
def test_invalid_requests_are_refused_naming_the_field(
    services: Any,
    mail: SmtpServer,
    clock: Clock,
    kind: str,
    processing: str | None,
    message: str,
    field: str,
) -> None:
    ada = make_user(services, mail, clock)
    with pytest.raises(ValidationError) as caught:
        run(
            services,
            lambda ctx: privacy_requests.submit(
                ctx, ada, kind=kind, processing=processing, message=message
            ),
        )
    assert caught.value.field == field
    with services.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(PrivacyRequest)).scalar() == 0


# ----------------------------------------------------------------------------- children


def test_staff_flagging_a_childs_account_deletes_it_and_informs_the_owner(
    services: Any, mail: SmtpServer, clock: Clock
) -> None:
    child = make_user(services, mail, clock, email="kid@example.org", name="Kid")
    boss = make_user(services, mail, clock, email="dpo@example.org", name="Data Officer")
    run(services, lambda ctx: staff.set_staff(ctx, email="dpo@example.org", is_staff=True))
    boss = reload(services, boss.id)
    assert boss is not None
    token = run(services, lambda ctx: sessions.create_session(ctx, child, client_label="t"))
    run(
        services,
        lambda ctx: privacy_requests.submit(
            ctx, child, kind="question", processing=None, message="hi"
        ),
    )
    run(
        services,
        lambda ctx: emailprefs.set_preferences(ctx, child, {"marketing": True}, source="t"),
    )
    before = len(mail.messages)

    with pytest.raises(NotFoundError):  # not staff: the function does not exist for them
        run(services, lambda ctx: staff.flag_child(ctx, child, user_id=boss.id, reason="x"))
    with pytest.raises(ValidationError):  # a reason is required
        run(services, lambda ctx: staff.flag_child(ctx, boss, user_id=child.id, reason=" "))

    run(
        services,
        lambda ctx: staff.flag_child(
            ctx, boss, user_id=child.id, reason="parent wrote on 2025-01-06"
        ),
        clock,
    )

    assert reload(services, child.id) is None
    assert run(services, lambda ctx: sessions.resolve_session(ctx, token)) is None
    with services.engine.connect() as connection:
        for table in (
            "user_keys",
            "auth_sessions",
            "email_preferences",
            "consent_events",
            "privacy_requests",
            "policy_acceptances",
            "email_tokens",
        ):
            count = connection.execute(
                text(f"select count(*) from {table} where user_id = :id"), {"id": child.id}
            ).scalar()
            assert count == 0, table
        assert (
            connection.execute(
                select(func.count()).select_from(UserKey).where(UserKey.user_id == child.id)
            ).scalar()
            == 0
        )
        [entry] = connection.execute(
            select(AccessLogEntry).where(AccessLogEntry.action != "role_change")
        ).all()
    assert (entry.actor_user_id, entry.subject_user_id, entry.action) == (
        boss.id,
        child.id,
        "flag_child_delete",
    )
    [confirmation] = mail.wait_for(before + 1)[before:]
    assert confirmation["To"] == "kid@example.org"
    assert confirmation["Subject"] == "Your ClearCutout account has been deleted"
    assert "child under 13" in email_text(confirmation)
    # The staff member's own account is untouched.
    assert reload(services, boss.id) is not None


# ----------------------------------------------------------------------------- policy


def test_the_shipped_policy_is_the_seeded_current_version(services: Any) -> None:
    current = run(services, lambda ctx: policy.current_version(ctx))
    assert current.version == "2024-12-24" and current.effective == date(2024, 12, 24)
    assert current.title.startswith("Your privacy is")
    assert current.blocks == policy.current_policy().blocks


NEW_TEXT = """Your privacy is our priority
We changed how we handle support chats.
Last updated: January 6, 2025
Support
We keep support chats for 90 days.
"""


def test_publishing_a_significant_change_emails_everyone_in_their_language_and_asks_at_login(
    services: Any, mail: SmtpServer, clock: Clock
) -> None:
    ada = make_user(services, mail, clock)
    hans = make_user(services, mail, clock, email="hans@example.org", name="Hans", lang="de")
    before = len(mail.messages)
    assert run(services, lambda ctx: policy.pending_acceptance(ctx, ada), clock) is None

    run(
        services,
        lambda ctx: policy.publish(
            ctx,
            text=NEW_TEXT,
            effective=clock.now.date(),
            summary="Support chats are kept for 90 days.",
            significant=True,
            summary_translations={"de": "Support-Chats werden 90 Tage aufbewahrt."},
        ),
        clock,
    )
    messages = mail.wait_for(before + 2)[before:]
    [english] = [m for m in messages if m["To"] == "ada@example.org"]
    [german] = [m for m in messages if m["To"] == "hans@example.org"]
    assert english["Subject"] == "Our privacy policy is changing"
    assert "Support chats are kept for 90 days." in email_text(english)
    assert german["Subject"] == "Unsere Datenschutzerklärung ändert sich"
    assert "Support-Chats werden 90 Tage aufbewahrt." in email_text(german)
    assert "List-Unsubscribe" not in english  # account category: always sent

    versions = run(services, lambda ctx: policy.versions(ctx), clock)
    assert [v.version for v in versions] == ["2025-01-06", "2024-12-24"]
    assert versions[0].significant and versions[0].summary == "Support chats are kept for 90 days."

    pending = run(services, lambda ctx: policy.pending_acceptance(ctx, hans), clock)
    assert pending is not None and pending.version == "2025-01-06"
    clock.advance(minutes=5)
    run(
        services,
        lambda ctx: policy.accept(ctx, hans, version_id="2025-01-06", source="login_prompt"),
        clock,
    )
    assert run(services, lambda ctx: policy.pending_acceptance(ctx, hans), clock) is None
    assert run(services, lambda ctx: policy.pending_acceptance(ctx, ada), clock) is not None
    last = run(services, lambda ctx: consent.history(ctx, hans))[-1]
    assert (last.kind, last.subject, last.value, last.source, last.at) == (
        "policy",
        "2025-01-06",
        "accepted",
        "login_prompt",
        clock.now,
    )


def test_a_minor_change_is_published_quietly_and_history_cannot_be_rewritten(
    services: Any, mail: SmtpServer, clock: Clock
) -> None:
    ada = make_user(services, mail, clock)
    before = len(mail.messages)
    run(
        services,
        lambda ctx: policy.publish(
            ctx, text=NEW_TEXT, effective=clock.now.date(), summary="Typos.", significant=False
        ),
        clock,
    )
    assert len(mail.messages) == before
    assert run(services, lambda ctx: policy.pending_acceptance(ctx, ada), clock) is None
    assert run(services, lambda ctx: policy.current_version(ctx), clock).version == "2025-01-06"
    for effective in (clock.now.date(), date(2024, 12, 30)):
        with pytest.raises(ValidationError):
            run(
                services,
                lambda ctx, e=effective: policy.publish(
                    ctx, text=NEW_TEXT, effective=e, summary="Again.", significant=False
                ),
                clock,
            )
    with pytest.raises(NotFoundError):
        run(services, lambda ctx: policy.get_version(ctx, "2031-01-01"), clock)


def test_an_account_without_any_acceptance_is_asked_at_login(services: Any, clock: Clock) -> None:
    user = run(
        services,
        lambda ctx: accounts.create_user_as_operator(
            ctx, email="op@example.org", name="Op", password=PASSWORD
        ),
        clock,
    )
    pending = run(services, lambda ctx: policy.pending_acceptance(ctx, user), clock)
    assert pending is not None and pending.version == "2024-12-24"


# ----------------------------------------------------------------------------- referral


@pytest.mark.parametrize(("code", "stored"), [("partner-42", "partner-42"), ("<x>", None)])
def test_the_referral_code_is_recorded_at_sign_up(
    services: Any, mail: SmtpServer, clock: Clock, code: str, stored: str | None
) -> None:
    user = make_user(services, mail, clock, referral_code=code)
    assert user.referral_code == stored
