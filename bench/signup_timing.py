"""``python -m bench.signup_timing``: sign-up time for a new and for a taken address.

The answer must not tell them apart; this prints the medians with the default (RFC 9106)
Argon2 parameters on a fresh SQLite database, outbox mail (no SMTP).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from clearcutout.config import Settings
from clearcutout.crypto import Keyring
from clearcutout.db import create_db_engine, upgrade
from clearcutout.service import accounts
from clearcutout.service.accounts.signup import SignUp
from clearcutout.service.context import unit_of_work
from clearcutout.service.privacy.policy import current_policy


def main(rounds: int = 7) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        engine = create_db_engine(settings.effective_database_url)
        upgrade(engine)
        factory = sessionmaker(bind=engine, expire_on_commit=False)
        keyring = Keyring.from_settings(settings)

        def sign_up(email: str, ip: str) -> float:
            form = SignUp(
                email=email,
                name="Bench Person",
                password="analytical engine 1843",
                region="eu",
                accepted_policy_version=current_policy().version,
                at_least_minimum_age=True,
                lang="en",
            )
            started = time.perf_counter()
            with unit_of_work(factory, settings, keyring) as ctx:
                accounts.sign_up(ctx, form, client_ip=ip)
            return time.perf_counter() - started

        sign_up("taken@example.org", "192.0.2.1")
        new = [sign_up(f"new{i}@example.org", f"192.0.2.{10 + i}") for i in range(rounds)]
        taken = [sign_up("taken@example.org", f"192.0.2.{100 + i}") for i in range(rounds)]
        engine.dispose()
    print(f"new address:   median {statistics.median(new) * 1000:.0f} ms  {sorted(new)}")
    print(f"taken address: median {statistics.median(taken) * 1000:.0f} ms  {sorted(taken)}")


if __name__ == "__main__":
    main()
