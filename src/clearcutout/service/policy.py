"""The privacy policy: versions, their text and structure.

Today one version ships as a text file (``policy/privacy-policy-<YYYY-MM-DD>.txt``, the
product spec); the version id is its effective date. Acceptances are stored per user
with that id (``PolicyAcceptance``), so moving the versions into the database with a
summary and a "significant" flag (issue 6) changes only this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

POLICY_DIR = Path(__file__).parent / "policy"
_FILE_RE = re.compile(r"privacy-policy-(\d{4}-\d{2}-\d{2})\.txt")
_UPDATED_RE = re.compile(r"^Last updated:\s*(.+)$")


@dataclass(frozen=True)
class Block:
    """One piece of the policy: ``kind`` is ``h2``, ``h3``, ``p`` or ``ul`` (``items``)."""

    kind: str
    text: str = ""
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyVersion:
    version: str
    effective: date
    title: str
    intro: str
    blocks: tuple[Block, ...]


def _is_heading(line: str) -> bool:
    return len(line) <= 60 and not line.startswith("- ") and line[-1] not in ".:!?"


def parse_policy(text: str, *, version: str) -> PolicyVersion:
    """Structure the plain policy text: title, intro, "Last updated", headings, lists."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    title, intro = lines[0], lines[1]
    effective: date | None = None
    body: list[str] = []
    for line in lines[2:]:
        match = _UPDATED_RE.match(line)
        if match and effective is None:
            effective = datetime.strptime(match.group(1).strip(), "%B %d, %Y").date()
        else:
            body.append(line)
    if effective is None:
        raise ValueError("policy text has no 'Last updated:' line")
    blocks: list[Block] = []
    items: list[str] = []
    for index, line in enumerate(body):
        if line.startswith("- "):
            items.append(line[2:])
            continue
        if items:
            blocks.append(Block(kind="ul", items=tuple(items)))
            items = []
        if _is_heading(line):
            following = body[index + 1] if index + 1 < len(body) else ""
            kind = "h2" if following and _is_heading(following) else "h3"
            blocks.append(Block(kind=kind, text=line))
        else:
            blocks.append(Block(kind="p", text=line))
    if items:
        blocks.append(Block(kind="ul", items=tuple(items)))
    return PolicyVersion(
        version=version, effective=effective, title=title, intro=intro, blocks=tuple(blocks)
    )


@cache
def shipped_versions() -> tuple[PolicyVersion, ...]:
    """Every shipped version, oldest first."""
    versions = []
    for path in sorted(POLICY_DIR.glob("privacy-policy-*.txt")):
        match = _FILE_RE.fullmatch(path.name)
        if match:
            versions.append(parse_policy(path.read_text(encoding="utf-8"), version=match.group(1)))
    return tuple(versions)


def current_policy() -> PolicyVersion:
    """The version in force: what sign-up asks people to accept."""
    return shipped_versions()[-1]
