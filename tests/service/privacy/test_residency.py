"""Data residency (privacy policy, "Data Residency & International Transfers"): a user's
objects live only in their region's storage, on ``file://`` and on a real S3 server; a
region move re-seals and moves them (gone from the old storage, readable from the new),
is refused while jobs run, and regions can be limited to plans."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearcutout.config import RegionSettings
from clearcutout.db.models import User, UserKey
from clearcutout.errors import ValidationError
from clearcutout.service.infra import objects
from clearcutout.service.privacy import residency
from tests.service.privacy.conftest import csrf_from, keys_of, sign_in
from tests.support.jobs import JobsApp, job_settings, jobs_app
from tests.support.service import run


def test_a_user_in_eu_never_has_an_object_in_us_storage_even_after_moving(
    backend_app: JobsApp, photo: bytes
) -> None:
    app = backend_app
    ada, bob = app.account(region="eu"), app.account(region="us")
    ada_jobs = [app.submit(ada, photo) for _ in range(2)]
    bob_job = app.submit(bob, photo)
    for job in ada_jobs:
        assert app.wait(ada, job["id"])["region"] == "eu"
    assert app.wait(bob, bob_job["id"])["region"] == "us"

    assert len(keys_of(app, "eu", ada.user_id)) == 4
    assert keys_of(app, "us", ada.user_id) == []
    assert keys_of(app, "eu", bob.user_id) == []
    assert all(key.startswith(objects.user_prefix(ada.user_id)) for key in keys_of(app, "eu"))
    before = {key: objects.region_store(app.settings, "eu").get(key) for key in keys_of(app, "eu")}

    # Ada moves to the US: everything of hers leaves eu storage and opens from us.
    def move(ctx: object) -> residency.RegionMove | None:
        user = ctx.db.get(User, ada.user_id)  # type: ignore[attr-defined]
        return residency.move_to_region(ctx, user, region="us")  # type: ignore[arg-type]

    done = run(app.services, move)
    assert done is not None and done.moved_objects == 4
    assert residency.finish_move(app.settings, done) == 4
    assert keys_of(app, "eu") == []
    moved = keys_of(app, "us", ada.user_id)
    assert moved == sorted(before)
    us_store = objects.region_store(app.settings, "us")
    assert all(us_store.get(key) != before[key] for key in moved)  # sealed again
    for job in ada_jobs:
        status = app.client.get(job["status_url"], headers=ada.headers).json()
        assert status["region"] == "us"
        original = app.client.get(job["original_url"], headers=ada.headers)
        assert original.status_code == 200 and original.content == photo
        assert app.client.get(job["result_url"], headers=ada.headers).status_code == 200

    def key_row(ctx: object) -> tuple[str, str]:
        row = ctx.db.get(UserKey, ada.user_id)  # type: ignore[attr-defined]
        return row.region, row.master_key_id

    region, master_key_id = run(app.services, key_row)
    assert region == "us"
    assert master_key_id == app.services.keyring.master_key_id("us")

    # New work of hers now goes to the US only.
    later = app.submit(ada, photo)
    assert app.wait(ada, later["id"])["region"] == "us"
    assert keys_of(app, "eu") == []


def test_a_region_move_is_refused_with_an_explanation_while_jobs_are_queued(
    tmp_path: Path, photo: bytes
) -> None:
    for app in jobs_app(job_settings(tmp_path / "data", executor="none")):
        account = app.account(region="eu")
        job = app.submit(account, photo)
        client = sign_in(app.client, account)
        page = client.get("/account")
        response = client.post(
            "/account/region", data={"csrf_token": csrf_from(page.text), "region": "us"}
        )
        assert response.status_code == 409
        assert "cannot change while images are being processed" in response.text
        assert len(keys_of(app, "eu", account.user_id)) == 1
        assert keys_of(app, "us") == []
        assert app.client.get(job["status_url"], headers=account.headers).json()["region"] == "eu"


def test_the_account_page_shows_where_the_data_lives_and_moves_it(
    app: JobsApp, photo: bytes
) -> None:
    account = app.account(region="eu")
    job = app.submit(account, photo)
    app.wait(account, job["id"])
    client = sign_in(app.client, account)
    page = client.get("/account")
    assert 'id="data-location-region">European Union<' in page.text
    assert "this server&#39;s disk" in page.text or "this server's disk" in page.text
    moved = client.post(
        "/account/region",
        data={"csrf_token": csrf_from(page.text), "region": "us"},
        follow_redirects=True,
    )
    assert moved.status_code == 200
    assert 'id="data-location-region">United States<' in moved.text
    assert keys_of(app, "eu") == []
    assert len(keys_of(app, "us", account.user_id)) == 2


def test_regions_can_be_limited_to_plans(tmp_path: Path) -> None:
    regions = {
        "eu": RegionSettings(label="European Union"),
        "us": RegionSettings(label="United States"),
        "apac": RegionSettings(label="Asia Pacific", plans=["business"]),
    }
    settings = job_settings(tmp_path / "data", regions=regions)
    assert [c.name for c in residency.offered_regions(settings, "free")] == ["eu", "us"]
    assert [c.name for c in residency.offered_regions(settings, "business")] == [
        "eu",
        "us",
        "apac",
    ]
    assert residency.check_region(settings, "apac", "business") == "apac"
    with pytest.raises(ValidationError, match="not available on your plan"):
        residency.check_region(settings, "apac", "free")
    with pytest.raises(ValidationError, match="offered regions"):
        residency.check_region(settings, "mars", "business")

    for app in jobs_app(settings):
        account = app.account(region="eu")
        client = sign_in(app.client, account)
        page = client.get("/account")
        assert "Asia Pacific" not in page.text
        refused = client.post(
            "/account/region", data={"csrf_token": csrf_from(page.text), "region": "apac"}
        )
        assert refused.status_code == 400
        assert "not available on your plan" in refused.text

        def upgrade(ctx: object, user_id: str = account.user_id) -> None:
            ctx.db.get(User, user_id).plan = "business"  # type: ignore[attr-defined]

        run(app.services, upgrade)
        page = client.get("/account")
        assert "Asia Pacific" in page.text
        ok = client.post(
            "/account/region",
            data={"csrf_token": csrf_from(page.text), "region": "apac"},
            follow_redirects=True,
        )
        assert 'id="data-location-region">Asia Pacific<' in ok.text

        def jobs_region(ctx: object, user_id: str = account.user_id) -> str:
            return ctx.db.get(User, user_id).region  # type: ignore[attr-defined]

        assert run(app.services, jobs_region) == "apac"


def test_sign_up_offers_and_accepts_only_the_regions_of_the_free_plan(tmp_path: Path) -> None:
    regions = {
        "eu": RegionSettings(label="European Union"),
        "apac": RegionSettings(label="Asia Pacific", plans=["business"]),
    }
    for app in jobs_app(job_settings(tmp_path / "data", regions=regions)):
        page = app.client.get("/signup")
        assert "European Union" in page.text
        assert "Asia Pacific" not in page.text
        with pytest.raises(ValidationError, match="not available on your plan"):
            app.account(region="apac")
