"""The executor contract."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Executor", "NullExecutor"]


@runtime_checkable
class Executor(Protocol):
    """Runs queued jobs. ``notify`` is called only after the job's row is committed."""

    def start(self) -> None:
        """Begin taking jobs (called once, at app start-up)."""
        ...

    def notify(self, job_id: str) -> None:
        """A job was queued: run it soon (it is in the database; losing this is harmless)."""
        ...

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop taking jobs and wait up to ``timeout_s`` for the running ones."""
        ...


class NullExecutor:
    """Accepts jobs and runs none: an API replica whose jobs run elsewhere."""

    def start(self) -> None:
        return None

    def notify(self, job_id: str) -> None:
        return None

    def stop(self, timeout_s: float = 30.0) -> None:
        return None
