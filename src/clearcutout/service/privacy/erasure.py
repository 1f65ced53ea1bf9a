"""What an account deletion removes beyond the account rows (issue 6, point 4).

Called by ``service.rights.delete_account`` before it destroys the user's key:

* every stored object under ``users/<id>/`` in **every** region's storage (not only the
  current one, so a copy left behind by an interrupted region move goes too);
* the rows that reference the person: jobs, data exports, and – when the person asked
  for the deletion – the staff access-log entries about them (ids only; nothing remains
  to audit once everything is gone). A deletion staff decided (a child's account) keeps
  them: they are the record of who deleted the account and why.

Then the key is destroyed (crypto-shredding): an object copied before the deletion, a
backup, or an object a late worker wrote, can no longer be opened by anyone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete

from clearcutout.db.models import AccessLogEntry, DataExport, Job
from clearcutout.service.context import ServiceContext
from clearcutout.service.infra import objects

log = logging.getLogger(__name__)

__all__ = ["Erased", "erase_stored_data"]


@dataclass(frozen=True)
class Erased:
    objects: int


def erase_stored_data(ctx: ServiceContext, user_id: str, *, keep_access_log: bool) -> Erased:
    """Delete the person's objects in every region and the rows that point at them."""
    deleted = 0
    for region in ctx.settings.regions:
        deleted += objects.region_store(ctx.settings, region).delete_prefix(
            objects.user_prefix(user_id)
        )
    for table in (Job, DataExport):
        ctx.db.execute(
            delete(table).where(table.user_id == user_id),
            execution_options={"synchronize_session": False},
        )
    if not keep_access_log:
        ctx.db.execute(
            delete(AccessLogEntry).where(AccessLogEntry.subject_user_id == user_id),
            execution_options={"synchronize_session": False},
        )
    log.info("account.objects_erased user_id=%s objects=%d", user_id, deleted)
    return Erased(objects=deleted)
