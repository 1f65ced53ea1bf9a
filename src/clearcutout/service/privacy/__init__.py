"""Privacy rights and promises: retention, residency, export, erasure, consent,
policy versions, email preferences and privacy requests (the privacy policy's sections)."""
