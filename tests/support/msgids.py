"""Finds every user-facing English string (gettext msgid) in the web and service code.

Templates: ``_("…")`` calls. Python: ``_()`` calls, the first argument of ``…Error(…)``
constructors, the ``subject``/``paragraphs``/``action_label`` of emails, and the
module-level message tables (``NOTICES``, ``TOO_MANY``, ``WRONG_CREDENTIALS``).
"""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import clearcutout

PACKAGE = Path(clearcutout.__file__).parent
_TEMPLATE_CALL = re.compile(r"""_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*\)""")
_NAMED_CONSTANTS = {
    "NOTICES",
    # Error sentences per code (web/error_messages.py).
    "ERROR_MESSAGES",
    "FALLBACK",
    "MALFORMED",
    "TOO_MANY",
    "WRONG_CREDENTIALS",
    "title",
    "titles",
    # Privacy controls.
    "BAD_LINK",
    "CATEGORY_LABELS",
    "KINDS",
    "PROCESSING",
    "NOT_FOUND",
    "COOKIE_PURPOSES",
    "DELETION_PARAGRAPHS",
}
# Keyword arguments that carry user-facing text: emails everywhere, and in the
# integrations module the cookie purposes (elsewhere ``purpose=`` is a code, e.g. fetch's).
_EMAIL_KEYWORDS = {"subject", "action_label", "paragraphs"}
_INTEGRATION_KEYWORDS = _EMAIL_KEYWORDS | {"purpose", "legal_basis"}


def _strings(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [s for element in node.elts for s in _strings(element)]
    if isinstance(node, ast.Dict):
        return [s for value in node.values if value is not None for s in _strings(value)]
    return []


def python_msgids(path: Path) -> set[str]:
    found: set[str] = set()
    keywords = _INTEGRATION_KEYWORDS if path.name == "integrations.py" else _EMAIL_KEYWORDS
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", "")
            is_ours = name.endswith("Error") and not hasattr(builtins, name)
            if (name in {"_", "gettext"} or is_ours) and node.args:
                found.update(_strings(node.args[0]))
            for keyword in node.keywords:
                if keyword.arg in keywords:
                    found.update(_strings(keyword.value))
        elif (
            isinstance(node, ast.Assign)
            and any(getattr(t, "id", None) in _NAMED_CONSTANTS for t in node.targets)
        ) or (
            isinstance(node, ast.AnnAssign)
            and getattr(node.target, "id", None) in _NAMED_CONSTANTS
            and node.value is not None
        ):
            assert node.value is not None
            found.update(_strings(node.value))
    return found


def template_msgids(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return {double or single for double, single in _TEMPLATE_CALL.findall(text)}


def all_msgids() -> set[str]:
    ids: set[str] = set()
    for path in (PACKAGE / "web").rglob("*.html"):
        ids |= template_msgids(path)
    for path in (PACKAGE / "service" / "infra" / "templates").rglob("*"):
        ids |= template_msgids(path)
    for folder in ("web", "service"):
        for path in (PACKAGE / folder).rglob("*.py"):
            ids |= python_msgids(path)
    # The error tree's titles: error pages show them translated.
    for path in (PACKAGE / "errors").glob("*.py"):
        ids |= python_msgids(path)
    # Values chosen from data rather than literals in code.
    ids |= {"Light", "Dark", "System", "European Union", "United States", "Error"}
    return {msgid for msgid in ids if msgid.strip() and any(c.isalpha() for c in msgid)}
