"""SQLAlchemy models. Personal data is stored only encrypted (``*_enc`` columns).

``*_enc`` columns hold AES-GCM envelopes under the user's key (``clearcutout.crypto``);
``*_index`` columns hold HMAC blind indexes; ``*_hash`` columns hold hashes of secrets
(session tokens, API keys, emailed tokens) so a database dump cannot be replayed.

The tables live in one module per area (``accounts``, ``jobs``, ``privacy``, ``billing``)
on the declarative base of ``base``; importing this package imports them all, so
``Base.metadata`` (what the Alembic environment compares against) holds every table.
"""

from __future__ import annotations

from clearcutout.db.models.accounts import (
    ApiKey,
    AuthSession,
    EmailToken,
    PolicyAcceptance,
    ThrottleEvent,
    User,
    UserKey,
)
from clearcutout.db.models.base import (
    Base,
    new_id,
    utcnow,
)
from clearcutout.db.models.billing import (
    BillingAccount,
    BillingEvent,
    BillingInvoice,
    CreditEntry,
)
from clearcutout.db.models.jobs import (
    IdempotencyKey,
    Job,
    UsageDaily,
    WorkerHeartbeat,
)
from clearcutout.db.models.privacy import (
    AccessLogEntry,
    AuditAlert,
    ConsentEvent,
    DataExport,
    EmailPreference,
    Incident,
    IncidentRecipient,
    PolicyVersionRow,
    PrivacyRequest,
)

__all__ = [
    "AccessLogEntry",
    "ApiKey",
    "AuditAlert",
    "AuthSession",
    "Base",
    "BillingAccount",
    "BillingEvent",
    "BillingInvoice",
    "ConsentEvent",
    "CreditEntry",
    "DataExport",
    "EmailPreference",
    "EmailToken",
    "IdempotencyKey",
    "Incident",
    "IncidentRecipient",
    "Job",
    "PolicyAcceptance",
    "PolicyVersionRow",
    "PrivacyRequest",
    "ThrottleEvent",
    "UsageDaily",
    "User",
    "UserKey",
    "WorkerHeartbeat",
    "new_id",
    "utcnow",
]
