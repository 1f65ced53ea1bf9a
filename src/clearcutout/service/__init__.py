"""Domain services: accounts, sessions, API keys, email, policy, throttling.

Services take a :class:`~clearcutout.service.context.ServiceContext` (database session,
settings, keys, outbox, clock), flush but never commit, and never see an HTTP request:
the request (or task, or CLI command) boundary owns the transaction.
"""
