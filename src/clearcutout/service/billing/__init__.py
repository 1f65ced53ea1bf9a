"""Billing: plans, the credits ledger, per-plan rate limits and payments through Stripe.

    plans       the configured plans and what each allows (``billing.plans``)
    credits     the append-only credits ledger: grants, charges, refunds, balances
    ratelimit   per-plan sliding windows shared by the UI and both APIs (database/Redis)
    payments    the one adapter to Stripe: customers, Checkout, the portal, cancelling
    webhooks    signed Stripe events, each applied once, in any order
    emails      receipts and plan changes (billing category: always sent)
    account     the billing page's view, the data export's part, account deletion

Off by default (``billing.enabled = false``): unlimited use, no billing pages. Card data
never reaches us (privacy policy, "Payments"): we store Stripe's customer and
subscription ids, and invoice ids with their amounts.
"""
