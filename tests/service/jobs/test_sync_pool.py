"""One bounded pool for every synchronous cutout (remove.bg's API and ``store=false``):
when every slot is taken, a request is refused with 503 and ``Retry-After`` instead of
piling images into memory."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from clearcutout.engine import CutoutOptions
from clearcutout.errors import BusyError
from clearcutout.service.jobs import sync
from tests.support.jobs import JobsApp, job_settings, jobs_app, small_photo


@pytest.fixture
def one_slot_app(tmp_path: Path) -> Iterator[JobsApp]:
    settings = job_settings(tmp_path / "data", sync_slot_wait_seconds=0.2)
    settings = settings.model_copy(
        update={"removebg": settings.removebg.model_copy(update={"max_concurrent": 1})}
    )
    yield from jobs_app(settings)


@pytest.fixture
def slot_taken(one_slot_app: JobsApp) -> Iterator[None]:
    """The only slot is held (as by a long cutout in another request)."""
    gate = sync._gate(1)
    assert gate.acquire(timeout=5)
    try:
        yield
    finally:
        gate.release()


def test_process_locally_refuses_when_every_slot_is_busy(
    one_slot_app: JobsApp, slot_taken: None
) -> None:
    with pytest.raises(BusyError) as refused:
        sync.process_locally(
            one_slot_app.settings,
            sync.SyncRequest(
                region="eu", model="u2netp", image=small_photo(64, 48), options=CutoutOptions()
            ),
        )
    assert refused.value.retry_after_s >= 1
    assert refused.value.http_status == 503


def test_store_false_and_removebg_share_the_pool(one_slot_app: JobsApp, slot_taken: None) -> None:
    account = one_slot_app.account()
    photo = small_photo(96, 64)
    ephemeral = one_slot_app.client.post(
        "/api/v1/jobs",
        headers=account.headers,
        files={"image_file": ("p.jpg", photo, "image/jpeg")},
        data={"store": "false"},
    )
    assert ephemeral.status_code == 503, ephemeral.text
    assert int(ephemeral.headers["retry-after"]) >= 1
    assert ephemeral.json()["errors"][0]["code"] == "server_busy"
    removebg = one_slot_app.client.post(
        "/v1.0/removebg",
        headers=account.headers,
        files={"image_file": ("p.jpg", photo, "image/jpeg")},
    )
    assert removebg.status_code == 503, removebg.text
    assert int(removebg.headers["retry-after"]) >= 1


def test_a_freed_slot_serves_the_next_request(one_slot_app: JobsApp) -> None:
    account = one_slot_app.account()
    gate = sync._gate(1)
    assert gate.acquire(timeout=5)
    threading.Timer(0.05, gate.release).start()  # the other request finishes
    response = one_slot_app.client.post(
        "/api/v1/jobs",
        headers=account.headers,
        files={"image_file": ("p.jpg", small_photo(96, 64), "image/jpeg")},
        data={"store": "false"},
    )
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"\x89PNG")
