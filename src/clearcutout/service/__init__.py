"""Domain services, one package per domain: ``accounts``, ``jobs``, ``removebg``,
``privacy`` and ``staff``, with the infrastructure they share in ``infra`` (mail, URL
fetching, translations, throttling, per-user keys, sealed objects).

Services take a :class:`~clearcutout.service.context.ServiceContext` (database session,
settings, keys, outbox, clock), flush but never commit, and never see an HTTP request:
the request (or task, or CLI command) boundary owns the transaction, opened from the
process's :class:`~clearcutout.service.runtime.Runtime`.
"""
