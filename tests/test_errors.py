"""The error tree: one home, codes that tell errors apart, and a docstring that draws it.

Every exception class of the project lives in the ``clearcutout.errors`` package under
``ClearCutoutError``; the package docstring draws the whole tree with each class's status
and code. These tests keep the drawing and the code in step.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

import clearcutout
from clearcutout import errors
from clearcutout.errors import ClearCutoutError, ServiceError

PACKAGE = Path(clearcutout.__file__).parent
ERRORS = Path(errors.__file__).parent
# remove.bg answers ``failed_to_read_image`` for an empty and for a damaged image alike.
SHARED_CODES = {"failed_to_read_image": {"EmptyImageError", "TruncatedImageError"}}
_NODE = re.compile(r"^(?P<indent>[│ ]*)(?:[├└]── )?(?P<name>[A-Z]\w+)(?P<rest>.*)$")


def _all_modules() -> None:
    """Import every module of the package, so that any error class anywhere is seen."""
    for module in pkgutil.walk_packages(clearcutout.__path__, "clearcutout."):
        # ``python -m`` entry points run the command when imported.
        if ".db.migrations" not in module.name and not module.name.endswith("__main__"):
            importlib.import_module(module.name)


def _tree_classes() -> list[type[ClearCutoutError]]:
    _all_modules()
    found: dict[str, type[ClearCutoutError]] = {}
    pending: list[type[ClearCutoutError]] = [ClearCutoutError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.__qualname__, cls)
        pending.extend(cls.__subclasses__())
    return list(found.values())


@dataclass
class Drawn:
    """One class as the docstring draws it."""

    name: str
    parent: str | None
    status: int | None
    also_service: bool
    text: str


def _drawing() -> dict[str, Drawn]:
    """The tree in the module docstring: its lines indented by four characters."""
    doc = errors.__doc__ or ""
    lines = [line[4:] for line in doc.splitlines() if line.startswith("    ")]
    drawn: dict[str, Drawn] = {}
    stack: list[str] = []
    last: Drawn | None = None
    for line in lines:
        match = _NODE.match(line)
        if match is None or (line[:1] in "│ " and "──" not in line):
            assert last is not None, f"continuation before any class: {line!r}"
            last.text += " " + line.strip(" │")
            continue
        depth = 0 if "──" not in line else len(match["indent"]) // 4 + 1
        del stack[depth:]
        rest = match["rest"]
        status = re.match(r"\s*\((\d{3})\)", rest)
        last = Drawn(
            name=match["name"],
            parent=stack[-1] if stack else None,
            status=int(status[1]) if status else None,
            also_service="+ ServiceError" in rest,
            text=rest,
        )
        drawn[last.name] = last
        stack.append(last.name)
    return drawn


def test_every_error_class_lives_in_the_one_tree_package() -> None:
    """Defined under ``clearcutout.errors`` and importable from it by name."""
    outside = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _tree_classes()
        if not cls.__module__.startswith(f"{errors.__name__}.")
        or getattr(errors, cls.__name__, None) is not cls
    )
    assert outside == []


def test_no_module_defines_an_exception_class_outside_the_tree() -> None:
    """Also what does not derive from ClearCutoutError (a bare ValueError subclass)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent == ERRORS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(base) for base in node.bases]
                if any(base.endswith(("Error", "Exception")) for base in bases):
                    found.append(f"{path.relative_to(PACKAGE)}: {node.name}")
    assert found == []


def test_a_code_belongs_to_one_class() -> None:
    owners: dict[str, set[str]] = defaultdict(set)
    for cls in _tree_classes():
        if "code" in vars(cls):
            owners[cls.code].add(cls.__name__)
    shared = {code: names for code, names in owners.items() if len(names) > 1}
    assert shared == SHARED_CODES


def test_the_docstring_draws_every_class_with_its_parent_status_and_code() -> None:
    drawn = _drawing()
    classes = {cls.__name__: cls for cls in _tree_classes()}
    assert sorted(drawn) == sorted(classes)
    for name, cls in classes.items():
        entry = drawn[name]
        bases = [base for base in cls.__bases__ if issubclass(base, ClearCutoutError)]
        assert entry.parent == (bases[0].__name__ if bases else None), name
        assert entry.also_service == (ServiceError in bases[1:]), name
        # The status is drawn where a class changes its parent's.
        changed = cls.http_status if not bases or bases[0].http_status != cls.http_status else None
        assert entry.status == changed, f"{name}: drawn ({entry.status}), is ({cls.http_status})"
        if "code" in vars(cls):
            assert re.search(rf"\b{cls.code}\b", entry.text), f"{name}: {cls.code} not drawn"


def _codes_given_in_code() -> set[str]:
    """Codes passed as ``code=``, assigned to ``code``, or kept in a ``…codes`` table."""

    def strings(node: ast.AST | None) -> set[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.IfExp):
            return strings(node.body) | strings(node.orelse)
        if isinstance(node, ast.Dict | ast.Tuple | ast.List):
            children = node.values if isinstance(node, ast.Dict) else node.elts
            return {s for child in children for s in strings(child)}
        return set()

    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "code":
                found |= strings(node.value)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {getattr(target, "id", "") for target in targets}
                if "code" in names or any(n.lower().endswith("codes") for n in names):
                    found |= strings(node.value)
    return found


def test_every_code_the_code_gives_is_documented() -> None:
    doc = errors.__doc__ or ""
    given = _codes_given_in_code()
    assert {"invalid_credentials", "job_not_found", "failed_bg_download"} <= given
    assert sorted(code for code in given if not re.search(rf"\b{code}\b", doc)) == []


@pytest.mark.parametrize("cls", _tree_classes(), ids=lambda cls: cls.__name__)
def test_every_error_has_a_title_and_a_status(cls: type[ClearCutoutError]) -> None:
    assert cls.title and cls.title[0].isupper()
    assert 400 <= cls.http_status <= 599
