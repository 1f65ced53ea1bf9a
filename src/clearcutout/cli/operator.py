"""Operator commands of the web service, added to the ``clearcutout`` command by
:func:`register`.

    clearcutout serve [--host H] [--port P] [--tls-cert C --tls-key K]
    clearcutout db upgrade
    clearcutout users create EMAIL --name NAME [--password-stdin]
    clearcutout users list
    clearcutout apikeys create EMAIL [--label L] [--scope images --scope account]
    clearcutout users grant-staff EMAIL / revoke-staff EMAIL
    clearcutout staff grant EMAIL support|admin / staff revoke EMAIL
    clearcutout audit verify
    clearcutout incident record --title T --detected ISO [--description D]
        (--email E ... | [--region R] [--plan P] [--from ISO] [--to ISO])
    clearcutout incident list / incident notify [ID]
    clearcutout policy publish FILE --effective DATE --summary TEXT [--significant]
        [--summary-translation de=TEXT]
    clearcutout mail announce --category service_updates|marketing --subject S --body-file F
    clearcutout retention sweep
    clearcutout storage init
    clearcutout storage reconcile

Errors print one line and exit with status 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer
from rich.table import Table

from clearcutout.cli.console import one_line_errors, stderr, stdout
from clearcutout.cli.serve import serve
from clearcutout.config import get_settings

if TYPE_CHECKING:
    from clearcutout.service.context import ServiceContext

# The service layer (SQLAlchemy, Alembic, the web app) is imported inside each command:
# `clearcutout remove` registers these commands too, and importing it all up front cost
# every cutout run 0.7 s and ~50 MiB of memory.


@contextmanager
def _unit_of_work() -> Iterator[ServiceContext]:
    """The one place the CLI opens the database: a checked engine and one unit of work."""
    from clearcutout.service.runtime import Runtime

    with Runtime.from_settings(get_settings()) as runtime, runtime.unit_of_work() as ctx:
        yield ctx


def db_upgrade() -> None:
    """Create or migrate the database to this version's schema."""
    from clearcutout.db import create_db_engine, upgrade

    settings = get_settings()
    engine = create_db_engine(settings.effective_database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    stdout.print("Database is up to date.")


def users_create(
    email: Annotated[str, typer.Argument(help="Email address of the new account.")],
    name: Annotated[str, typer.Option("--name", help="The person's name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    region: Annotated[str | None, typer.Option(help="Data region (default: settings).")] = None,
) -> None:
    """Create a verified account."""
    from clearcutout.service import accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _unit_of_work() as ctx:
        user = accounts.create_user_as_operator(
            ctx, email=email, name=name, password=password, region=region
        )
        user_id = user.id
    stdout.print(f"Created account {user_id}.")


def users_list() -> None:
    """List the accounts (decrypted for the operator)."""
    from clearcutout.service import accounts

    with _unit_of_work() as ctx:
        profiles = accounts.list_users(ctx)
    columns = ("id", "email", "name", "region", "verified", "created")
    rows = [
        (
            profile.id,
            profile.email,
            profile.name,
            profile.region,
            "yes" if profile.email_verified else "no",
            profile.created_at.strftime("%Y-%m-%d %H:%M"),
        )
        for profile in profiles
    ]
    if not stdout.is_terminal:
        # Piped: tab-separated lines for scripts, never wrapped.
        for row in (columns, *rows):
            stdout.print("\t".join(row), highlight=False, soft_wrap=True, markup=False)
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*row)
    stdout.print(table)


def apikeys_create(
    email: Annotated[str, typer.Argument(help="Email address of the key's owner.")],
    label: Annotated[str, typer.Option(help="A name to tell keys apart.")] = "cli",
    scope: Annotated[
        list[str] | None, typer.Option(help="images and/or account (default: both).")
    ] = None,
) -> None:
    """Create an API key and print it once."""
    from clearcutout.service import accounts
    from clearcutout.service.accounts import apikeys

    with _unit_of_work() as ctx:
        user = accounts.get_user_by_email(ctx, email)
        _info, raw = apikeys.create_api_key(
            ctx, user, label=label, scopes=scope or list(apikeys.SCOPES)
        )
    # Only the key on stdout, so scripts can capture it.
    stdout.print(raw, highlight=False, soft_wrap=True)


def users_grant_staff(
    email: Annotated[str, typer.Argument(help="Email address of the account.")],
) -> None:
    """Give an account the staff role (privacy requests, account look-up; all logged)."""
    user_id = _set_staff(email, is_staff=True)
    stdout.print(f"Account {user_id} is now staff.")


def users_revoke_staff(
    email: Annotated[str, typer.Argument(help="Email address of the account.")],
) -> None:
    """Take the staff role away."""
    user_id = _set_staff(email, is_staff=False)
    stdout.print(f"Account {user_id} is no longer staff.")


def _set_staff(email: str, *, is_staff: bool) -> str:
    from clearcutout.service import staff

    with _unit_of_work() as ctx:
        user = staff.set_staff(ctx, email=email, is_staff=is_staff)
        return user.id


def _set_role(email: str, role: str | None) -> tuple[str, int | None]:
    """Set (or, with ``None``, take away) a staff role as the operator's logged change;
    the account's id and staff number."""
    from clearcutout.service.accounts import get_user_by_email
    from clearcutout.service.staff import roles

    with _unit_of_work() as ctx:
        user = roles.set_role(
            ctx,
            actor=None,
            user=get_user_by_email(ctx, email),
            role=role,
            reason="operator command",
            source="cli",
        )
        return user.id, user.staff_number


def staff_grant(
    email: Annotated[str, typer.Argument(help="Email address of the account.")],
    role: Annotated[str, typer.Argument(help="support or admin.")],
) -> None:
    """Grant a staff role (logged in the access log as the operator's change)."""
    user_id, number = _set_role(email, role)
    stdout.print(f"Account {user_id} is now {role} #{number}.")


def staff_revoke(
    email: Annotated[str, typer.Argument(help="Email address of the account.")],
) -> None:
    """Take any staff role away (and its second factor)."""
    user_id, _ = _set_role(email, None)
    stdout.print(f"Account {user_id} is no longer staff.")


def audit_verify() -> None:
    """Check the access log's hash chain; name the first broken entry (exit 1)."""
    from clearcutout.service.staff import accesslog

    with _unit_of_work() as ctx:
        result = accesslog.verify(ctx)
    if result.ok:
        stdout.print(f"Access log intact: {result.entries} entries.")
        return
    stderr.print(
        f"Access log broken at entry #{result.broken_seq} (id {result.broken_id}): "
        f"{result.problem}. {result.entries} entries before it are intact."
    )
    raise typer.Exit(1)


def _when(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("use ISO 8601, e.g. 2026-11-30T14:00", param_hint=name) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def incident_record(
    title: Annotated[str, typer.Option(help="What happened, in one line.")],
    detected: Annotated[str, typer.Option(help="When it was detected (ISO 8601, UTC).")],
    description: Annotated[str, typer.Option(help="What users are told.")] = "",
    email: Annotated[
        list[str] | None, typer.Option(help="An affected account (repeat for more).")
    ] = None,
    region: Annotated[str | None, typer.Option(help="Affected users' region.")] = None,
    plan: Annotated[str | None, typer.Option(help="Affected users' plan.")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Window start: users with an image since.")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Window end (exclusive).")] = None,
) -> None:
    """Record a breach, then send each affected user the notice (72-hour deadline)."""
    from clearcutout.service.runtime import Runtime
    from clearcutout.service.staff import incidents
    from clearcutout.workers.tasks import send_breach_notices

    detected_at = _when(detected, "--detected")
    assert detected_at is not None
    selection = incidents.Selection(
        emails=tuple(email or ()),
        region=region,
        plan=plan,
        start=_when(start, "--from"),
        end=_when(end, "--to"),
    )
    with Runtime.from_settings(get_settings()) as runtime:
        with runtime.unit_of_work() as ctx:
            incident = incidents.record_incident(
                ctx,
                None,
                title=title,
                description=description,
                detected_at=detected_at,
                selection=selection,
            )
            incident_id, deadline = incident.id, incident.deadline_at
        sent, failed = send_breach_notices(runtime, incident_id)
    stdout.print(f"Incident {incident_id}: deadline {deadline:%Y-%m-%d %H:%M} UTC.")
    stdout.print(f"Notices sent: {sent}; failed (retried by the periodic tasks): {failed}")


def incident_list() -> None:
    """Every incident with its deadline, notices delivered, time left or OVERDUE."""
    from clearcutout.service.staff import incidents

    with _unit_of_work() as ctx:
        rows = incidents.list_incidents(ctx)
    table = Table("id", "title", "detected", "deadline", "notified", "status")
    for row in rows:
        hours = int(row.time_left.total_seconds() // 3600)
        status = "OVERDUE" if row.overdue else ("done" if row.complete else f"{hours} h left")
        table.add_row(
            row.id,
            row.title,
            f"{row.detected_at:%Y-%m-%d %H:%M}",
            f"{row.deadline_at:%Y-%m-%d %H:%M}",
            f"{row.delivered}/{row.affected}",
            status,
        )
    stdout.print(table)


def incident_notify(
    incident_id: Annotated[str | None, typer.Argument(help="One incident (default: all).")] = None,
) -> None:
    """Send the breach notices still pending."""
    from clearcutout.service.runtime import Runtime
    from clearcutout.workers.tasks import send_breach_notices

    with Runtime.from_settings(get_settings()) as runtime:
        sent, failed = send_breach_notices(runtime, incident_id)
    stdout.print(f"Notices sent: {sent}; failed: {failed}")
    if failed:
        raise typer.Exit(1)


def _translations(values: list[str] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values or []:
        lang, sep, text = value.partition("=")
        if not sep or not lang.strip() or not text.strip():
            raise typer.BadParameter("use LANG=TEXT, e.g. de='Neue Abschnitte …'")
        found[lang.strip()] = text.strip()
    return found


def policy_publish(
    file: Annotated[
        Path, typer.Argument(help="The policy as plain text.", exists=True, dir_okay=False)
    ],
    effective: Annotated[str, typer.Option(help="Effective date, YYYY-MM-DD.")],
    summary: Annotated[str, typer.Option(help="Summary of the changes (English).")],
    significant: Annotated[
        bool,
        typer.Option(help="Email every user the summary and ask them to accept at login."),
    ] = False,
    summary_translation: Annotated[
        list[str] | None, typer.Option(help="The summary in another language: LANG=TEXT.")
    ] = None,
) -> None:
    """Publish a new version of the privacy policy."""
    from clearcutout.service.privacy import policy

    try:
        effective_date = date.fromisoformat(effective)
    except ValueError:
        raise typer.BadParameter("use YYYY-MM-DD", param_hint="--effective") from None
    translations = _translations(summary_translation)
    with _unit_of_work() as ctx:
        published = policy.publish(
            ctx,
            text=file.read_text(encoding="utf-8"),
            effective=effective_date,
            summary=summary,
            significant=significant,
            summary_translations=translations,
        )
        notified = len(ctx.outbox.messages)
        version = published.version
    kind = "significant" if significant else "minor"
    stdout.print(f"Published policy version {version} ({kind}); {notified} users notified.")


def mail_announce(
    category: Annotated[str, typer.Option(help="service_updates or marketing.")],
    subject: Annotated[str, typer.Option(help="Subject line.")],
    body_file: Annotated[
        Path, typer.Option(help="Plain text; paragraphs separated by blank lines.", exists=True)
    ],
) -> None:
    """Email an announcement to everyone subscribed to an optional category."""
    from clearcutout.service.privacy import emailprefs

    paragraphs = [
        " ".join(block.split())
        for block in body_file.read_text(encoding="utf-8").split("\n\n")
        if block.strip()
    ]
    with _unit_of_work() as ctx:
        count = emailprefs.announce(ctx, category=category, subject=subject, paragraphs=paragraphs)
    stdout.print(f"Sent to {count} subscribers.")


def retention_sweep() -> None:
    """Delete now every image whose retention period has passed; print the counts."""
    from clearcutout.service.runtime import Runtime
    from clearcutout.workers.tasks import sweep_retention

    with Runtime.from_settings(get_settings()) as runtime:
        report = sweep_retention(runtime)
    stdout.print(f"Jobs expired: {report.jobs_expired}")
    stdout.print(f"Objects deleted: {report.objects_deleted}")
    stdout.print(f"Data exports deleted: {report.exports_deleted}")
    if report.failures:
        stderr.print(f"Failures (retried by the next sweep): {report.failures}")
        raise typer.Exit(1)


def storage_init() -> None:
    """Create the S3 buckets and install their expiry rule (second line of defence)."""
    from clearcutout.service.privacy.retention import install_expiry_rules

    rules = install_expiry_rules(get_settings())
    if not rules:
        stdout.print("No s3:// region: nothing to set up (file:// storage needs none).")
    for rule in rules:
        stdout.print(f"{rule.region}: {rule.store} expires objects after {rule.days} days")


def storage_reconcile() -> None:
    """Delete stored objects no job knows about (older than an hour) and half-written
    files; print the counts."""
    from clearcutout.service.runtime import Runtime
    from clearcutout.workers.tasks import reconcile_storage

    with Runtime.from_settings(get_settings()) as runtime:
        report = reconcile_storage(runtime)
    stdout.print(f"Objects checked: {report.objects_checked}")
    stdout.print(f"Objects without a job deleted: {report.objects_deleted}")
    stdout.print(f"Half-written files deleted: {report.partials_deleted}")


#: The command groups: name, help, and each command's name and function.
_GROUPS: Final[tuple[tuple[str, str, dict[str, Callable[..., None]]], ...]] = (
    ("db", "Database commands.", {"upgrade": db_upgrade}),
    (
        "users",
        "Manage accounts.",
        {
            "create": users_create,
            "list": users_list,
            "grant-staff": users_grant_staff,
            "revoke-staff": users_revoke_staff,
        },
    ),
    ("apikeys", "Manage API keys.", {"create": apikeys_create}),
    ("staff", "Staff roles.", {"grant": staff_grant, "revoke": staff_revoke}),
    ("audit", "The staff access log.", {"verify": audit_verify}),
    (
        "incident",
        "Breach incidents and notices.",
        {"record": incident_record, "list": incident_list, "notify": incident_notify},
    ),
    ("policy", "Privacy-policy versions.", {"publish": policy_publish}),
    ("mail", "Emails to users.", {"announce": mail_announce}),
    ("retention", "Automatic deletion of images.", {"sweep": retention_sweep}),
    ("storage", "Object storage.", {"init": storage_init, "reconcile": storage_reconcile}),
)


def register(app: typer.Typer) -> None:
    """Add the service commands to the ``clearcutout`` command."""
    app.command("serve")(one_line_errors(serve))
    for group_name, help_text, commands in _GROUPS:
        group = typer.Typer(help=help_text, no_args_is_help=True)
        for name, command in commands.items():
            group.command(name)(one_line_errors(command))
        app.add_typer(group, name=group_name)
