"""Infrastructure the domains share: mail, URL fetching, translations, throttling,
per-user keys, sealed object storage and records built from rows. Knows no domain."""
