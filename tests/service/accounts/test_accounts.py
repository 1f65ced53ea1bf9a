"""Accounts on SQLite and on the real PostgreSQL, with mail through a real SMTP server."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from clearcutout.db.models import Base, EmailToken, User
from clearcutout.errors import (
    AgeRequirementError,
    AuthenticationError,
    EmailNotVerifiedError,
    InvalidTokenError,
    NotFoundError,
    ThrottledError,
    ValidationError,
)
from clearcutout.service import accounts
from clearcutout.service.accounts import sessions
from clearcutout.service.infra import userkeys
from tests.conftest import SmtpServer, email_text
from tests.support.service import Clock, run, signup_form


@pytest.fixture
def mail(services: Any, smtp_server: SmtpServer) -> SmtpServer:
    services.settings = services.settings.model_copy(update={"smtp": smtp_server.settings()})
    return smtp_server


def link_in(message: Any, path: str) -> str:
    match = re.search(
        rf"http://127\.0\.0\.1:8000{re.escape(path)}\?token=([\w-]+)", email_text(message)
    )
    assert match, email_text(message)
    return match.group(1)


def signed_up_and_verified(services: Any, mail: SmtpServer, **overrides: Any) -> None:
    run(services, lambda ctx: accounts.sign_up(ctx, signup_form(**overrides), client_ip="10.0.0.1"))
    address = overrides.get("email", "ada@example.org")
    token = link_in(mail.to(address)[-1], "/verify-email")
    run(services, lambda ctx: accounts.verify_email(ctx, token))


# Reference data shipped with the app (not about anyone): the policy versions.
REFERENCE_TABLES = {"policy_versions"}


def count_rows(services: Any) -> int:
    """Rows about people (every table but the reference data)."""
    with services.engine.connect() as connection:
        return sum(
            connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
            if table.name not in REFERENCE_TABLES
        )


def test_sign_up_sends_a_verification_link_that_activates_login(
    services: Any, mail: SmtpServer
) -> None:
    run(services, lambda ctx: accounts.sign_up(ctx, signup_form(), client_ip="10.0.0.1"))
    [message] = mail.wait_for(1)
    assert message["To"] == "ada@example.org"
    assert message["Subject"] == "Confirm your email address"
    assert message.get_body(("html",)) is not None

    with pytest.raises(EmailNotVerifiedError):
        run(
            services,
            lambda ctx: accounts.authenticate(
                ctx, email="ada@example.org", password="analytical engine 1843", client_ip=None
            ),
        )
    token = link_in(mail.wait_for(2)[1], "/verify-email")
    run(services, lambda ctx: accounts.verify_email(ctx, token))
    user = run(
        services,
        lambda ctx: accounts.authenticate(
            ctx, email="ADA@example.org ", password="analytical engine 1843", client_ip=None
        ),
    )
    profile = run(services, lambda ctx: accounts.profile(ctx, user))
    assert (profile.email, profile.name, profile.region) == (
        "ada@example.org",
        "Ada Lovelace",
        "eu",
    )
    assert profile.email_verified
    with pytest.raises(InvalidTokenError):
        run(services, lambda ctx: accounts.verify_email(ctx, token))


def test_german_speakers_get_their_verification_email_in_german(
    services: Any, mail: SmtpServer
) -> None:
    run(services, lambda ctx: accounts.sign_up(ctx, signup_form(lang="de"), client_ip=None))
    [message] = mail.wait_for(1)
    assert message["Subject"] == "Bestätige deine E-Mail-Adresse"
    assert "Hallo Ada Lovelace" in email_text(message)


def test_sign_up_under_thirteen_is_refused_and_stores_nothing(
    services: Any, mail: SmtpServer
) -> None:
    with pytest.raises(AgeRequirementError):
        run(
            services,
            lambda ctx: accounts.sign_up(
                ctx, signup_form(at_least_minimum_age=False), client_ip="10.0.0.1"
            ),
        )
    assert count_rows(services) == 0
    assert mail.messages == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"name": "   "}, "name"),
        ({"password": "short"}, "password"),
        ({"password": "qwertyuiop"}, "password"),
        ({"password": "adalovelace!!"}, "password"),
        ({"region": "mars"}, "region"),
        ({"accepted_policy_version": None}, "policy"),
        ({"accepted_policy_version": "2020-01-01"}, "policy"),
        ({"at_least_minimum_age": None}, "age"),
    ],
)
def test_sign_up_rejects_invalid_input_naming_the_field(
    services: Any, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        run(services, lambda ctx: accounts.sign_up(ctx, signup_form(**overrides), client_ip=None))
    assert caught.value.field == field
    assert count_rows(services) == 0


def test_sign_up_with_a_taken_address_answers_the_same_and_tells_the_owner(
    services: Any, mail: SmtpServer
) -> None:
    signed_up_and_verified(services, mail)
    result = run(
        services,
        lambda ctx: accounts.sign_up(
            ctx, signup_form(name="Mallory", password="another secret 99"), client_ip=None
        ),
    )
    assert result is None
    assert mail.to("ada@example.org")[-1]["Subject"] == (
        "Someone tried to sign up with your email address"
    )
    with services.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(User)).scalar_one() == 1


def test_personal_data_is_stored_only_encrypted(services: Any, mail: SmtpServer) -> None:
    signed_up_and_verified(services, mail)
    with services.engine.connect() as connection:
        row = connection.execute(text("select * from users")).mappings().one()
    dump = repr(dict(row)).lower()
    for secret in ("ada@example.org", "ada lovelace", "analytical engine"):
        assert secret not in dump
    assert row["password_hash"].startswith("$argon2id$")


def test_destroying_the_user_key_makes_name_and_email_unreadable(
    services: Any, mail: SmtpServer
) -> None:
    signed_up_and_verified(services, mail)
    user = run(services, lambda ctx: accounts.find_user_by_email(ctx, "ada@example.org"))
    assert user is not None
    run(services, lambda ctx: userkeys.destroy_user_key(ctx, user.id))
    with pytest.raises(NotFoundError):
        run(services, lambda ctx: accounts.profile(ctx, user))


def test_login_failures_are_throttled_alike_for_known_and_unknown_addresses(
    services: Any, mail: SmtpServer
) -> None:
    signed_up_and_verified(services, mail)
    limit = services.settings.throttle.login_per_account
    messages = {}
    for address in ("ada@example.org", "nobody@example.org"):
        for _ in range(limit):
            with pytest.raises(AuthenticationError) as wrong:
                run(
                    services,
                    lambda ctx, a=address: accounts.authenticate(
                        ctx, email=a, password="wrong password", client_ip=None
                    ),
                )
            assert wrong.value.message == accounts.WRONG_CREDENTIALS
        with pytest.raises(ThrottledError) as throttled:
            run(
                services,
                lambda ctx, a=address: accounts.authenticate(
                    ctx, email=a, password="analytical engine 1843", client_ip=None
                ),
            )
        messages[address] = throttled.value.message
    assert messages["ada@example.org"] == messages["nobody@example.org"]
    assert "1 minutes" in messages["nobody@example.org"]  # the first step of the backoff


def test_login_is_throttled_per_client_ip_across_accounts(services: Any) -> None:
    services.settings = services.settings.model_copy(
        update={"throttle": services.settings.throttle.model_copy(update={"login_per_ip": 3})}
    )
    for index in range(3):
        with pytest.raises(AuthenticationError):
            run(
                services,
                lambda ctx, i=index: accounts.authenticate(
                    ctx, email=f"user{i}@example.org", password="x", client_ip="192.0.2.7"
                ),
            )
    with pytest.raises(ThrottledError):
        run(
            services,
            lambda ctx: accounts.authenticate(
                ctx, email="other@example.org", password="x", client_ip="192.0.2.7"
            ),
        )
    # Another client is not affected.
    with pytest.raises(AuthenticationError):
        run(
            services,
            lambda ctx: accounts.authenticate(
                ctx, email="other@example.org", password="x", client_ip="192.0.2.8"
            ),
        )


def test_password_reset_link_works_once_and_ends_all_sessions(
    services: Any, mail: SmtpServer
) -> None:
    signed_up_and_verified(services, mail)
    user = run(services, lambda ctx: accounts.find_user_by_email(ctx, "ada@example.org"))
    session_token = run(services, lambda ctx: sessions.create_session(ctx, user))
    run(
        services,
        lambda ctx: accounts.request_password_reset(ctx, email="ada@example.org", client_ip=None),
    )
    token = link_in(mail.to("ada@example.org")[-1], "/password-reset/confirm")
    run(
        services,
        lambda ctx: accounts.reset_password(
            ctx, token=token, new_password="difference engine 1822"
        ),
    )

    assert run(services, lambda ctx: sessions.resolve_session(ctx, session_token)) is None
    with pytest.raises(InvalidTokenError):
        run(
            services,
            lambda ctx: accounts.reset_password(
                ctx, token=token, new_password="third password here"
            ),
        )
    run(
        services,
        lambda ctx: accounts.authenticate(
            ctx, email="ada@example.org", password="difference engine 1822", client_ip=None
        ),
    )
    with pytest.raises(AuthenticationError):
        run(
            services,
            lambda ctx: accounts.authenticate(
                ctx, email="ada@example.org", password="analytical engine 1843", client_ip=None
            ),
        )


def test_password_reset_for_an_unknown_address_sends_nothing_and_answers_the_same(
    services: Any, mail: SmtpServer
) -> None:
    assert (
        run(
            services,
            lambda ctx: accounts.request_password_reset(
                ctx, email="ghost@example.org", client_ip=None
            ),
        )
        is None
    )
    assert mail.messages == []


def test_reset_link_expires(services: Any, mail: SmtpServer) -> None:
    clock = Clock()
    signed_up_and_verified(services, mail)
    run(
        services,
        lambda ctx: accounts.request_password_reset(ctx, email="ada@example.org", client_ip=None),
        clock,
    )
    token = link_in(mail.to("ada@example.org")[-1], "/password-reset/confirm")
    clock.advance(minutes=services.settings.password_reset_minutes + 1)
    with pytest.raises(InvalidTokenError, match="expired"):
        run(
            services,
            lambda ctx: accounts.reset_password(
                ctx, token=token, new_password="difference engine 1822"
            ),
            clock,
        )


def test_email_change_applies_only_after_the_new_address_confirms(
    services: Any, mail: SmtpServer
) -> None:
    signed_up_and_verified(services, mail)
    user = run(services, lambda ctx: accounts.find_user_by_email(ctx, "ada@example.org"))
    run(
        services,
        lambda ctx: accounts.request_email_change(
            ctx,
            ctx.db.merge(user),
            new_email="ada@newhome.example",
            password="analytical engine 1843",
        ),
    )
    assert (
        run(services, lambda ctx: accounts.find_user_by_email(ctx, "ada@newhome.example")) is None
    )
    token = link_in(mail.to("ada@newhome.example")[-1], "/verify-email")
    run(services, lambda ctx: accounts.verify_email(ctx, token))
    assert (
        run(services, lambda ctx: accounts.find_user_by_email(ctx, "ada@newhome.example"))
        is not None
    )
    assert run(services, lambda ctx: accounts.find_user_by_email(ctx, "ada@example.org")) is None
    assert mail.to("ada@example.org")[-1]["Subject"] == "Your email address was changed"
    with services.engine.connect() as connection:
        stored = connection.execute(select(EmailToken.new_email_enc)).scalars().all()
    assert all(value is None for value in stored)


def test_sessions_end_after_idle_time_and_absolute_lifetime(
    services: Any, mail: SmtpServer
) -> None:
    clock = Clock()
    signed_up_and_verified(services, mail)
    user = run(services, lambda ctx: accounts.find_user_by_email(ctx, "ada@example.org"))
    idle = services.settings.session_idle_minutes

    token = run(services, lambda ctx: sessions.create_session(ctx, user), clock)
    clock.advance(minutes=idle - 1)
    assert run(services, lambda ctx: sessions.resolve_session(ctx, token), clock) is not None
    clock.advance(minutes=idle + 1)
    assert run(services, lambda ctx: sessions.resolve_session(ctx, token), clock) is None

    # Kept active, the session still ends at the absolute lifetime.
    started = clock.now
    token = run(services, lambda ctx: sessions.create_session(ctx, user), clock)
    absolute = timedelta(days=services.settings.session_absolute_days)
    while clock.now + timedelta(minutes=idle - 1) < started + absolute:
        clock.advance(minutes=idle - 1)
        assert run(services, lambda ctx: sessions.resolve_session(ctx, token), clock) is not None
    clock.now = started + absolute
    assert run(services, lambda ctx: sessions.resolve_session(ctx, token), clock) is None


def test_revoke_all_keeps_only_the_current_session(services: Any, mail: SmtpServer) -> None:
    signed_up_and_verified(services, mail)
    user = run(services, lambda ctx: accounts.find_user_by_email(ctx, "ada@example.org"))
    tokens = [run(services, lambda ctx: sessions.create_session(ctx, user)) for _ in range(3)]
    current = run(services, lambda ctx: sessions.resolve_session(ctx, tokens[0]))
    assert current is not None
    run(services, lambda ctx: sessions.revoke_all_sessions(ctx, user, except_id=current[0].id))
    alive = [
        run(services, lambda ctx, t=t: sessions.resolve_session(ctx, t)) is not None for t in tokens
    ]
    assert alive == [True, False, False]


def test_region_change_rewraps_the_key_and_keeps_data_readable(
    services: Any, mail: SmtpServer
) -> None:
    signed_up_and_verified(services, mail)
    user = run(services, lambda ctx: accounts.find_user_by_email(ctx, "ada@example.org"))
    run(services, lambda ctx: accounts.change_region(ctx, ctx.db.merge(user), region="us"))
    user = run(services, lambda ctx: accounts.find_user_by_email(ctx, "ada@example.org"))
    assert user.region == "us"
    assert run(services, lambda ctx: accounts.profile(ctx, user)).name == "Ada Lovelace"


# ------------------------------------------------------------ what ends a reset link


def _reset_link(services: Any, mail: SmtpServer, address: str = "ada@example.org") -> str:
    run(
        services,
        lambda ctx: accounts.request_password_reset(ctx, email=address, client_ip=None),
    )
    return link_in(mail.to(address)[-1], "/password-reset/confirm")


def _reset_with(services: Any, token: str, password: str = "stolen account 2024") -> Any:
    return run(
        services, lambda ctx: accounts.reset_password(ctx, token=token, new_password=password)
    )


def test_using_one_reset_link_ends_its_siblings(services: Any, mail: SmtpServer) -> None:
    signed_up_and_verified(services, mail)
    first = _reset_link(services, mail)
    second = _reset_link(services, mail)
    _reset_with(services, second, "difference engine 1822")
    with pytest.raises(InvalidTokenError):
        _reset_with(services, first)
    run(
        services,
        lambda ctx: accounts.authenticate(
            ctx, email="ada@example.org", password="difference engine 1822", client_ip=None
        ),
    )


def test_changing_the_password_ends_outstanding_reset_links(
    services: Any, mail: SmtpServer
) -> None:
    signed_up_and_verified(services, mail)
    token = _reset_link(services, mail)
    user = run(services, lambda ctx: accounts.find_user_by_email(ctx, "ada@example.org"))
    run(
        services,
        lambda ctx: accounts.change_password(
            ctx,
            ctx.db.merge(user),
            current_password="analytical engine 1843",
            new_password="difference engine 1822",
            keep_session_id=None,
        ),
    )
    with pytest.raises(InvalidTokenError):
        _reset_with(services, token)


def test_changing_the_email_ends_reset_links_sent_to_the_old_address(
    services: Any, mail: SmtpServer
) -> None:
    signed_up_and_verified(services, mail)
    old_link = _reset_link(services, mail)
    user = run(services, lambda ctx: accounts.find_user_by_email(ctx, "ada@example.org"))
    run(
        services,
        lambda ctx: accounts.request_email_change(
            ctx,
            ctx.db.merge(user),
            new_email="ada@newhome.example",
            password="analytical engine 1843",
        ),
    )
    token = link_in(mail.to("ada@newhome.example")[-1], "/verify-email")
    run(services, lambda ctx: accounts.verify_email(ctx, token))
    with pytest.raises(InvalidTokenError):
        _reset_with(services, old_link)
    # The owner's password is untouched, and a link sent to the new address works.
    run(
        services,
        lambda ctx: accounts.authenticate(
            ctx, email="ada@newhome.example", password="analytical engine 1843", client_ip=None
        ),
    )
    _reset_with(services, _reset_link(services, mail, "ada@newhome.example"))


def test_a_password_reset_ends_a_pending_email_change(services: Any, mail: SmtpServer) -> None:
    """Whoever held a session long enough to ask for an email change loses that link when
    the owner recovers the account."""
    signed_up_and_verified(services, mail)
    user = run(services, lambda ctx: accounts.find_user_by_email(ctx, "ada@example.org"))
    run(
        services,
        lambda ctx: accounts.request_email_change(
            ctx,
            ctx.db.merge(user),
            new_email="mallory@example.net",
            password="analytical engine 1843",
        ),
    )
    change = link_in(mail.to("mallory@example.net")[-1], "/verify-email")
    _reset_with(services, _reset_link(services, mail), "difference engine 1822")
    with pytest.raises(InvalidTokenError):
        run(services, lambda ctx: accounts.verify_email(ctx, change))
    with services.engine.connect() as connection:
        stored = connection.execute(select(EmailToken.new_email_enc)).scalars().all()
    assert all(value is None for value in stored)


# ------------------------------------------------------------ login throttling


def _login(
    services: Any, password: str, ip: str, clock: Clock, email: str = "ada@example.org"
) -> Any:
    return run(
        services,
        lambda ctx: accounts.authenticate(ctx, email=email, password=password, client_ip=ip),
        clock,
    )


def test_failed_logins_from_one_address_do_not_lock_the_owner_out_elsewhere(
    services: Any, mail: SmtpServer
) -> None:
    clock = Clock()
    signed_up_and_verified(services, mail)
    for _ in range(services.settings.throttle.login_per_account + 3):
        with pytest.raises((AuthenticationError, ThrottledError)):
            _login(services, "wrong guess", "203.0.113.9", clock)
    # The attacker's address is held back, even with the right password …
    with pytest.raises(ThrottledError):
        _login(services, "analytical engine 1843", "203.0.113.9", clock)
    # … the owner at another address signs in at once.
    assert _login(services, "analytical engine 1843", "198.51.100.4", clock).id


def test_login_backoff_doubles_after_each_further_failure(services: Any, mail: SmtpServer) -> None:
    clock = Clock()
    signed_up_and_verified(services, mail)
    ip = "203.0.113.9"
    base = services.settings.throttle.login_backoff_base_seconds
    for _ in range(services.settings.throttle.login_per_account):
        with pytest.raises(AuthenticationError):
            _login(services, "wrong guess", ip, clock)
    waits = []
    for _ in range(3):
        with pytest.raises(ThrottledError) as held:
            _login(services, "wrong guess", ip, clock)
        waits.append(held.value.retry_after_s)
        clock.advance(seconds=held.value.retry_after_s - 1)
        with pytest.raises(ThrottledError):  # not a second early
            _login(services, "wrong guess", ip, clock)
        clock.advance(seconds=1)
        with pytest.raises(AuthenticationError):  # one more try, wrong again: longer wait
            _login(services, "wrong guess", ip, clock)
    assert waits == [base, 2 * base, 4 * base]
    # A correct login after the wait goes through and clears the count.
    clock.advance(seconds=8 * base)
    assert _login(services, "analytical engine 1843", ip, clock).id
    with pytest.raises(AuthenticationError):
        _login(services, "wrong guess", ip, clock)
