"""Staff accountability: roles and TOTP, a hash-chained access log the application role
may only append to, incidents with per-user breach notices, monitoring alerts.

Revision ID: r0040
Revises: 0020
Create Date: 2026-12-01
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from clearcutout.crypto import chain_hash

revision = "0040"
down_revision = "0031"
branch_labels = None
depends_on = None

#: The PostgreSQL role the application's login role is made a member of (README,
#: "Staff accountability"): every table read/write, but only SELECT and INSERT on the
#: access log, so even a compromised application cannot rewrite history.
APP_ROLE = "clearcutout_app"


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("staff_role", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("staff_number", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("totp_secret_enc", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("totp_enabled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("totp_recovery_hashes", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_users_staff_number"), ["staff_number"])
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("second_factor_at", sa.DateTime(timezone=True), nullable=True)
        )

    # Existing staff become support staff, numbered in the order they joined.
    bind = op.get_bind()
    staff_ids = bind.execute(
        sa.text("SELECT id FROM users WHERE is_staff ORDER BY created_at, id")
    ).scalars()
    for number, user_id in enumerate(list(staff_ids), start=1):
        bind.execute(
            sa.text("UPDATE users SET staff_role = 'support', staff_number = :n WHERE id = :id"),
            {"n": number, "id": user_id},
        )

    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("actor_role", sa.String(length=16), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("actor_staff_number", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("source", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("prev_hash", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("entry_hash", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.alter_column("subject_user_id", existing_type=sa.String(length=32), nullable=True)

    # Chain the entries written before the log was tamper-evident, oldest first.
    rows = bind.execute(
        sa.text(
            "SELECT id, actor_user_id, subject_user_id, action, reason, created_at "
            "FROM access_log ORDER BY created_at, id"
        )
    ).all()
    prev = ""
    for seq, row in enumerate(rows, start=1):
        fields: dict[str, str | int | None] = {
            "id": row.id,
            "seq": seq,
            "actor_user_id": row.actor_user_id,
            "actor_role": "support",
            "actor_staff_number": None,
            "subject_user_id": row.subject_user_id,
            "action": row.action,
            "reason": row.reason,
            "source": "",
            "created_at": _iso(row.created_at)
            if isinstance(row.created_at, datetime)
            else _iso(datetime.fromisoformat(str(row.created_at))),
        }
        digest = chain_hash(prev, fields)
        bind.execute(
            sa.text(
                "UPDATE access_log SET seq = :seq, actor_role = 'support', prev_hash = :prev, "
                "entry_hash = :hash WHERE id = :id"
            ),
            {"seq": seq, "prev": prev, "hash": digest, "id": row.id},
        )
        prev = digest
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_access_log_seq"), ["seq"])

    op.create_table(
        "incidents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("selection", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    op.create_table(
        "incident_recipients",
        sa.Column("incident_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_recipients_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("incident_id", "user_id", name=op.f("pk_incident_recipients")),
    )
    op.create_table(
        "audit_alerts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("actor_user_id", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_alerts")),
    )
    op.create_index("ix_audit_alerts_created", "audit_alerts", ["created_at"], unique=False)

    if bind.dialect.name == "postgresql":
        _postgres_grants()


def _postgres_grants() -> None:
    """The application role may read and write every table but only append to the log.

    Roles are per cluster: create ``clearcutout_app`` once (tolerating a concurrent
    creator, or a migration role without CREATEROLE that an administrator prepared it
    for). The owner's own UPDATE/DELETE/TRUNCATE rights on the log are revoked too, so a
    deployment that connects as the owning role is append-only as well (a superuser
    is never bound by grants, and ``audit verify`` catches what it changes).
    """
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                BEGIN
                    CREATE ROLE {APP_ROLE} NOLOGIN;
                EXCEPTION WHEN duplicate_object OR unique_violation
                    OR insufficient_privilege THEN NULL;
                END;
            END IF;
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                EXECUTE format('GRANT USAGE ON SCHEMA %I TO {APP_ROLE}', current_schema());
                EXECUTE format(
                    'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I '
                    'TO {APP_ROLE}', current_schema());
                EXECUTE format(
                    'ALTER DEFAULT PRIVILEGES IN SCHEMA %I '
                    'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}',
                    current_schema());
                REVOKE UPDATE, DELETE, TRUNCATE ON access_log FROM {APP_ROLE};
            END IF;
        END
        $$;
        """  # noqa: S608 (a constant role name, no input)
    )
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON access_log FROM PUBLIC")
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON access_log FROM CURRENT_USER")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("GRANT UPDATE, DELETE, TRUNCATE ON access_log TO CURRENT_USER")
    op.drop_index("ix_audit_alerts_created", table_name="audit_alerts")
    op.drop_table("audit_alerts")
    op.drop_table("incident_recipients")
    op.drop_table("incidents")
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_access_log_seq"), type_="unique")
        for column in ("entry_hash", "prev_hash", "source", "actor_staff_number"):
            batch_op.drop_column(column)
        batch_op.drop_column("actor_role")
        batch_op.drop_column("seq")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_column("second_factor_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_staff_number"), type_="unique")
        for column in (
            "locked_at",
            "totp_recovery_hashes",
            "totp_enabled_at",
            "totp_secret_enc",
            "staff_number",
            "staff_role",
        ):
            batch_op.drop_column(column)
