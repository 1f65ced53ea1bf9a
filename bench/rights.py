"""Privacy operations at volume, on the embedded default (SQLite, ``file://`` storage).

    python -m bench.rights [--jobs 500]

One account uploads N photos (sealed and stored exactly as the app does; the jobs stay
queued, so only originals exist). Then: "Download my data" builds the ZIP of all N, and
a retention sweep runs with the clock moved past expiry. Prints counts and seconds; a
throw-away data directory is used and removed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from clearcutout.config import Settings
from clearcutout.db import create_db_engine, upgrade
from clearcutout.db.models import User, utcnow
from clearcutout.engine import CutoutOptions
from clearcutout.engine.sample import sample_photo
from clearcutout.service import accounts, jobs
from clearcutout.service.infra import objects
from clearcutout.service.privacy import export
from clearcutout.service.runtime import Runtime
from clearcutout.workers.tasks import sweep_retention


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rights", description=__doc__)
    parser.add_argument("--jobs", type=int, default=500, help="photos uploaded (default 500)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="clearcutout-rights-") as tmp:
        settings = Settings(data_dir=Path(tmp), argon2_time_cost=1, argon2_memory_kib=1024)
        engine = create_db_engine(settings.effective_database_url)
        upgrade(engine)
        engine.dispose()
        runtime = Runtime.from_settings(settings)
        photo = sample_photo(320, 214)

        with runtime.unit_of_work() as ctx:
            user_id = accounts.create_user_as_operator(
                ctx, email="bench@example.org", name="Bench", password="a long pass phrase 42"
            ).id
        started = time.perf_counter()
        for _ in range(args.jobs):
            with runtime.unit_of_work() as ctx:
                jobs.submit(ctx, ctx.db.get(User, user_id), photo, CutoutOptions())
        uploaded_s = time.perf_counter() - started

        with runtime.unit_of_work() as ctx:
            started = time.perf_counter()
            archive = export.build_zip(ctx, ctx.db.get(User, user_id))
            export_s = time.perf_counter() - started

        later = utcnow() + timedelta(days=settings.retention_days + 1)
        started = time.perf_counter()
        runtime.clock = lambda: later
        report = sweep_retention(runtime)
        sweep_s = time.perf_counter() - started
        left = list(
            objects.region_store(settings, settings.default_region).iter_keys(
                objects.user_prefix(user_id)
            )
        )
        runtime.close()

    print(f"uploaded {args.jobs} photos ({len(photo)} bytes each) in {uploaded_s:.2f} s")
    print(f"export ZIP of {args.jobs} originals: {len(archive) / 1e6:.1f} MB in {export_s:.2f} s")
    print(
        f"retention sweep: {report.jobs_expired} jobs expired, {report.objects_deleted} "
        f"objects deleted in {report.batches} batches, {sweep_s:.2f} s; "
        f"objects left: {len(left)}"
    )


if __name__ == "__main__":
    main()
