"""Helpers and fixtures shared across test folders.

``database`` (migrated databases from a template), ``jobs`` and ``removebg`` (the app with
users and API keys), ``engine`` (the tests' model and sample inputs), ``photos`` (the
sample photo at any size), ``service`` (a unit of work as a boundary runs it) and real
servers: ``seaweedfs`` (S3), ``image_server`` (HTTP), ``app_server`` (the app under
Uvicorn). Fixture modules are registered in ``tests/conftest.py``.
"""
