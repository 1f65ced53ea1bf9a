"""Staff: the role (``actions``) and the access log of every look at a person's data
(``accesslog``). Callers use the names re-exported here and the ``accesslog`` module."""

from clearcutout.service.staff.actions import (
    NOT_FOUND,
    AccountFacts,
    flag_child,
    look_up_account,
    require_staff,
    set_staff,
)

__all__ = [
    "NOT_FOUND",
    "AccountFacts",
    "flag_child",
    "look_up_account",
    "require_staff",
    "set_staff",
]
