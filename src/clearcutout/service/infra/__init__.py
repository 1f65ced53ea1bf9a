"""Infrastructure the domains share: mail, URL fetching, translations, throttling,
per-user keys and sealed object storage. Knows no domain."""
