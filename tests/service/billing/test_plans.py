"""Plans from configuration: the default when off, limits per plan when on."""

from __future__ import annotations

from pathlib import Path

from clearcutout.config import BillingSettings, PlanSettings, Settings
from clearcutout.service.billing import plans
from clearcutout.service.privacy import residency
from tests.conftest import fast_settings
from tests.support.billing import LocalStripe, billing_settings
from tests.support.jobs import jobs_app, small_photo


def configured(tmp_path: Path) -> Settings:
    billing = BillingSettings(
        enabled=True,
        plans={
            "free": PlanSettings(label="Free", regions=["eu"], max_megapixels=0.05),
            "pro": PlanSettings(label="Pro", stripe_price_id="price_pro"),
        },
    )
    return fast_settings(tmp_path, billing=billing)


def test_billing_is_off_by_default_and_then_nothing_is_limited(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path)
    assert plans.enabled(settings) is False
    assert plans.region_allowed(settings, "free", "us") is True
    assert plans.max_megapixels(settings, "free") == settings.max_megapixels


def test_plans_come_from_configuration(tmp_path: Path) -> None:
    settings = configured(tmp_path)
    assert [plan.name for plan in plans.plans(settings)] == ["free", "pro"]
    assert plans.plan(settings, "retired").name == "free"  # a removed plan: the default
    found = plans.plan_for_price(settings, "price_pro")
    assert found is not None and found.name == "pro"
    assert plans.plan_for_price(settings, "price_other") is None
    assert [choice.name for choice in residency.offered_regions(settings, "free")] == ["eu"]
    assert [choice.name for choice in residency.offered_regions(settings, "pro")] == ["eu", "us"]
    assert plans.max_megapixels(settings, "free") == 0.05
    assert plans.max_megapixels(settings, "pro") == settings.max_megapixels


def test_an_image_over_the_plans_size_is_refused_and_costs_nothing(
    tmp_path: Path, localstripe: LocalStripe
) -> None:
    settings = billing_settings(tmp_path / "data", localstripe.url)
    limited = dict(settings.billing.plans)
    limited["free"] = limited["free"].model_copy(update={"max_megapixels": 0.05})
    billing = settings.billing.model_copy(update={"plans": limited})
    for app in jobs_app(settings.model_copy(update={"billing": billing})):
        account = app.account()
        refused = app.client.post(
            "/api/v1/jobs",
            headers=account.headers,
            files={"image_file": ("big.jpg", small_photo(320, 214))},
        )
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["code"] == "resolution_too_high"
        fits = app.client.post(
            "/api/v1/jobs",
            headers=account.headers,
            files={"image_file": ("small.jpg", small_photo(200, 150))},
        )
        assert fits.status_code == 202, fits.text  # the one credit was still there
