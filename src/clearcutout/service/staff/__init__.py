"""Staff: roles (``roles``), the second factor (``totp``), reasoned access to a person's
data (``actions``), the tamper-evident access log (``accesslog``), breach incidents
(``incidents``), monitoring alerts (``monitoring``) and the admin area's figures
(``admin``). Callers use the names re-exported here and the submodules."""

from clearcutout.service.staff.actions import (
    NOT_FOUND,
    AccountFacts,
    JobFacts,
    ViewedImage,
    flag_child,
    look_up_account,
    require_staff,
    set_staff,
    view_account,
    view_image,
    view_jobs,
)

__all__ = [
    "NOT_FOUND",
    "AccountFacts",
    "JobFacts",
    "ViewedImage",
    "flag_child",
    "look_up_account",
    "require_staff",
    "set_staff",
    "view_account",
    "view_image",
    "view_jobs",
]
