"""Plans from configuration (``billing.plans``) and what they allow.

With billing off (``billing.enabled = false``, the embedded default) there are no plans
to speak of: every account may process images without limit, no billing page exists,
and the remove.bg API keeps its own ``removebg.rate_limit_per_minute``.
"""

from __future__ import annotations

from dataclasses import dataclass

from clearcutout.config import PlanSettings, Settings

__all__ = ["Plan", "enabled", "plan", "plan_for_price", "plans"]


@dataclass(frozen=True)
class Plan:
    """A configured plan under its name."""

    name: str
    settings: PlanSettings

    @property
    def label(self) -> str:
        return self.settings.label

    @property
    def monthly_units(self) -> int:
        return round(self.settings.monthly_credits * 100)

    @property
    def rate_limit_per_minute(self) -> int:
        return self.settings.rate_limit_per_minute


def enabled(settings: Settings) -> bool:
    """Whether credits, plan limits and the billing pages are on."""
    return settings.billing.enabled


def plans(settings: Settings) -> list[Plan]:
    """Every configured plan, in configuration order."""
    return [Plan(name, value) for name, value in settings.billing.plans.items()]


def plan(settings: Settings, name: str | None) -> Plan:
    """The plan called ``name``; the default plan for an unknown or retired name (an
    operator may remove a plan from the configuration while accounts still name it)."""
    configured = settings.billing.plans
    if name and name in configured:
        return Plan(name, configured[name])
    default = settings.billing.default_plan
    return Plan(default, configured[default])


def plan_for_price(settings: Settings, price_id: str | None) -> Plan | None:
    """The plan sold under the Stripe price ``price_id``."""
    for each in plans(settings):
        if price_id and each.settings.stripe_price_id == price_id:
            return each
    return None


def region_allowed(settings: Settings, plan_name: str, region: str) -> bool:
    """Whether the plan's own region list allows ``region`` (always, billing off)."""
    if not enabled(settings):
        return True
    regions = plan(settings, plan_name).settings.regions
    return regions is None or region in regions


def max_megapixels(settings: Settings, plan_name: str) -> float:
    """The largest image the plan accepts (never above the server's own limit)."""
    limit = settings.max_megapixels
    if enabled(settings):
        own = plan(settings, plan_name).settings.max_megapixels
        if own is not None:
            limit = min(limit, own)
    return limit
