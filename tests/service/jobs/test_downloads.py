"""Download names: the photo's own name with the result's extension."""

from __future__ import annotations

import pytest

from clearcutout.service.jobs.downloads import _unique, download_name


@pytest.mark.parametrize(
    ("original", "extension", "expected"),
    [
        ("dog.jpg", "png", "dog.png"),
        ("holiday photo.HEIC", "webp", "holiday photo.webp"),
        ("my.dog.jpeg", "jpg", "my.dog.jpg"),
        ("no-extension", "png", "no-extension.png"),
        ("C:\\Users\\mo\\Pictures\\cat.png", "png", "cat.png"),  # old browsers send paths
        ("../../etc/passwd", "png", "passwd.png"),
        ('what?"*<>|.jpg', "png", "what.png"),
        ("Straße.jpg", "png", "Straße.png"),
        (".hidden", "png", "hidden.png"),  # no hidden file
        ("...", "png", "cutout.png"),
        ("", "png", "cutout.png"),
        (None, "zip", "cutout.zip"),
    ],
)
def test_download_name_keeps_the_photos_name(
    original: str | None, extension: str, expected: str
) -> None:
    assert download_name(original, extension) == expected


def test_names_in_one_archive_are_unique_case_insensitively() -> None:
    taken: set[str] = set()
    names = [_unique(name, taken) for name in ("dog.png", "Dog.png", "dog.png", "cat.png")]
    assert names == ["dog.png", "Dog (2).png", "dog (3).png", "cat.png"]
