"""Credits under contention: many threads charging one account at once.

    python -m bench.billing [--threads 20] [--charges 500] [--database-url URL]

One account gets exactly ``charges`` purchased credits; ``threads`` threads then each
charge 1 credit until refused, every charge its own unit of work (as a request would).
Prints charges per second, and checks that exactly ``charges`` succeeded and the ledger
adds up to zero. The embedded SQLite default in a
throw-away data directory unless a database URL is given (its schema must be migrated).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from clearcutout.config import BillingSettings, PlanSettings, Settings
from clearcutout.db import create_db_engine, upgrade
from clearcutout.db.models import CreditEntry
from clearcutout.errors import InsufficientCreditsError
from clearcutout.service import accounts
from clearcutout.service.billing import credits
from clearcutout.service.runtime import Runtime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.billing", description=__doc__)
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--charges", type=int, default=500)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="clearcutout-billing-") as tmp:
        billing = BillingSettings(
            enabled=True, plans={"free": PlanSettings(label="Free", monthly_credits=0)}
        )
        settings = Settings(
            data_dir=Path(tmp),
            database_url=args.database_url,
            argon2_time_cost=1,
            argon2_memory_kib=1024,
            billing=billing,
        )
        engine = create_db_engine(settings.effective_database_url)
        upgrade(engine)
        engine.dispose()
        with Runtime.from_settings(settings) as runtime:
            with runtime.unit_of_work() as ctx:
                user = accounts.create_user_as_operator(
                    ctx,
                    email=f"meter-{time.time_ns()}@example.org",
                    name="Ada",
                    password="bench password 2025",
                    region="eu",
                )
                credits.grant(ctx, user.id, args.charges, kind="purchase", reference="bench")
            counts = {"ok": 0, "refused": 0}
            lock = threading.Lock()

            def spend() -> None:
                while True:
                    try:
                        with runtime.unit_of_work() as ctx:
                            credits.charge(ctx, user, 1.0, reference="c")
                    except InsufficientCreditsError:
                        with lock:
                            counts["refused"] += 1
                        return
                    with lock:
                        counts["ok"] += 1

            started = time.perf_counter()
            threads = [threading.Thread(target=spend) for _ in range(args.threads)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            seconds = time.perf_counter() - started
            with runtime.unit_of_work() as ctx:
                total = ctx.db.scalar(
                    select(func.sum(CreditEntry.units)).where(CreditEntry.user_id == user.id)
                )
    backend = settings.effective_database_url.split(":", 1)[0]
    print(
        f"{backend}: {args.threads} threads, {counts['ok']} charges in {seconds:.2f} s "
        f"({counts['ok'] / seconds:.0f}/s), {counts['refused']} refused, ledger sum {total}"
    )
    assert counts["ok"] == args.charges and total == 0


if __name__ == "__main__":
    main()
