"""The staff access log at volume, on the embedded default (SQLite) or a PostgreSQL URL.

    python -m bench.audit [--entries 5000] [--database-url postgresql+psycopg://…]

One support account looks at N accounts' details, each look its own unit of work (as a
request would): the hash-chained append, the monitoring rules and the commit. Then
``audit verify`` walks the whole chain. Prints entries and seconds; a throw-away data
directory (and, for PostgreSQL, a throw-away schema) is used and removed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from clearcutout.config import Settings
from clearcutout.db import create_db_engine, upgrade
from clearcutout.db.models import User
from clearcutout.service import accounts, staff
from clearcutout.service.runtime import Runtime
from clearcutout.service.staff import accesslog, roles


def _run(settings: Settings, entries: int) -> None:
    engine = create_db_engine(settings.effective_database_url)
    upgrade(engine)
    engine.dispose()
    runtime = Runtime.from_settings(settings)
    with runtime.unit_of_work() as ctx:
        helper = accounts.create_user_as_operator(
            ctx, email="help@example.org", name="Help", password="a long pass phrase 42"
        )
        roles.set_role(ctx, actor=None, user=helper, role="support", reason="bench")
        customer = accounts.create_user_as_operator(
            ctx, email="ada@example.org", name="Ada", password="a long pass phrase 42"
        ).id
    started = time.perf_counter()
    for n in range(entries):
        with runtime.unit_of_work() as ctx:
            staff.view_account(
                ctx, ctx.db.get(User, helper.id), user_id=customer, reason=f"ticket {n}"
            )
    appended = time.perf_counter() - started
    started = time.perf_counter()
    with runtime.unit_of_work() as ctx:
        result = accesslog.verify(ctx)
    verified = time.perf_counter() - started
    runtime.close()
    assert result.ok, result
    print(f"backend: {engine.dialect.name}")
    print(
        f"entries appended: {entries} in {appended:.2f} s ({1000 * appended / entries:.2f} ms each)"
    )
    print(f"audit verify: {result.entries} entries in {verified:.2f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__)
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="clearcutout-audit-") as tmp:
        values = {"data_dir": Path(tmp), "argon2_time_cost": 1, "argon2_memory_kib": 1024}
        if not args.database_url:
            _run(Settings(**values), args.entries)  # type: ignore[arg-type]
            return
        schema = f"cc_bench_{uuid.uuid4().hex[:12]}"
        admin = create_engine(args.database_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            url = f"{args.database_url}?options=-csearch_path%3D{schema}"
            _run(Settings(**values, database_url=url), args.entries)  # type: ignore[arg-type]
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()
