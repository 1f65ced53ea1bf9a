"""The ``file://`` backend: one file per object under a root directory.

Objects are written to a temporary file in the target directory, fsynced, then renamed
over the target, so a reader sees the old object or the new one, never a torn write, and
a crash leaves at most a dot-file that is never listed as a key. Directories are created
0700 and files 0600: other local users cannot even learn which keys exist. Directories
left empty by a delete are removed, so no trace of a deleted key's path remains.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from clearcutout.errors import InvalidObjectKeyError, ObjectNotFoundError, StorageError
from clearcutout.storage.base import validate_key, validate_prefix

__all__ = ["FileObjectStore", "make_private_dirs"]

logger = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
# Temporary files start with "." (a key segment never does) and end with this suffix.
_TMP_PREFIX = ".tmp-"
_TMP_SUFFIX = ".partial"
# A concurrent delete may prune a directory between our mkdir and our temp file.
_PUT_ATTEMPTS = 5


def make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and missing parents 0700 whatever the umask is.

    Also used for the data directory and the SQLite database's folder (privacy policy,
    "Security Measures": other local users cannot read, or even list, what we keep).
    Folders that already exist keep their mode: they may not be ours.
    """
    missing: list[Path] = []
    current = directory
    while not current.is_dir() and current.parent != current:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:
            if not path.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(path)) from None
            continue  # made by a concurrent caller: its mode is already set
        # mkdir's mode passes through the umask; chmod makes it exactly 0700.
        path.chmod(DIR_MODE)


class FileObjectStore:
    """Objects as files under ``root``; the default backend of the embedded setup."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()

    def __repr__(self) -> str:
        return f"FileObjectStore({str(self.root)!r})"

    def describe(self) -> str:
        return f"file://{self.root}"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    # -- writing -------------------------------------------------------------------

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        payload = memoryview(data)
        for attempt in range(_PUT_ATTEMPTS):
            try:
                self._make_dirs(path.parent)
                self._write_atomically(path, payload)
                return
            except FileNotFoundError:
                # A concurrent delete pruned a parent directory: make it again.
                if attempt == _PUT_ATTEMPTS - 1:
                    raise StorageError(
                        "could not write an object: its directory kept disappearing"
                    ) from None
            except (IsADirectoryError, NotADirectoryError) as exc:
                raise InvalidObjectKeyError(
                    f"object key {key!r} clashes with another key in {self.describe()}: "
                    "the file store cannot hold both 'a' and 'a/b'"
                ) from exc
            except OSError as exc:
                raise StorageError(f"could not write an object: {exc.strerror}") from exc

    def _make_dirs(self, directory: Path) -> None:
        make_private_dirs(directory)

    def _write_atomically(self, path: Path, payload: memoryview) -> None:
        fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=_TMP_SUFFIX, dir=path.parent)
        tmp_path = Path(tmp_name)
        try:
            # mkstemp creates the file 0600; say so explicitly for readers of this code.
            os.fchmod(fd, FILE_MODE)
            with os.fdopen(fd, "wb", closefd=True) as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            tmp_path.replace(path)
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise
        self._fsync_dir(path.parent)

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        """Make the rename itself durable (POSIX: fsync the containing directory)."""
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    # -- reading -------------------------------------------------------------------

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            # O_NOFOLLOW: a symlink planted in the store never leads a read outside it.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFoundError(f"no object under key {key!r}") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ObjectNotFoundError(f"no object under key {key!r}") from None
            raise StorageError(f"could not read an object: {exc.strerror}") from exc
        try:
            with os.fdopen(fd, "rb", closefd=True) as handle:
                return handle.read()
        except IsADirectoryError:
            raise ObjectNotFoundError(f"no object under key {key!r}") from None
        except OSError as exc:
            raise StorageError(f"could not read an object: {exc.strerror}") from exc

    def exists(self, key: str) -> bool:
        path = self._path(key)
        try:
            return path.is_file() and not path.is_symlink()
        except OSError as exc:
            raise StorageError(f"could not inspect the store: {exc.strerror}") from exc

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        validate_prefix(prefix)
        directory_part, _, name_prefix = prefix.rpartition("/")
        base = self.root.joinpath(*directory_part.split("/")) if directory_part else self.root
        key_base = f"{directory_part}/" if directory_part else ""
        return self._walk(base, key_base, name_prefix)

    def _walk(self, directory: Path, key_base: str, name_prefix: str) -> Iterator[str]:
        """Keys under ``directory`` in S3's order: a directory ``d`` sorts as ``d/``."""
        try:
            with os.scandir(directory) as scan:
                entries = [
                    entry
                    for entry in scan
                    if entry.name.startswith(name_prefix) and not entry.name.startswith(".")
                ]
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise StorageError(f"could not list the store: {exc.strerror}") from exc
        sortable: list[tuple[str, os.DirEntry[str], bool]] = []
        for entry in entries:
            is_dir = entry.is_dir(follow_symlinks=False)
            if is_dir or entry.is_file(follow_symlinks=False):
                sortable.append((entry.name + "/" if is_dir else entry.name, entry, is_dir))
        for _, entry, is_dir in sorted(sortable, key=lambda item: item[0]):
            if is_dir:
                yield from self._walk(Path(entry.path), f"{key_base}{entry.name}/", "")
            else:
                yield key_base + entry.name

    def iter_objects(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        for key in self.iter_keys(prefix):
            try:
                modified = self._path(key).stat().st_mtime
            except FileNotFoundError:
                continue  # deleted meanwhile
            except OSError as exc:
                raise StorageError(f"could not inspect the store: {exc.strerror}") from exc
            yield key, datetime.fromtimestamp(modified, UTC)

    def _partials(self, directory: Path) -> Iterator[Path]:
        """The half-written files (``.tmp-*.partial``) under ``directory``, at any depth.

        Listing skips them (they are no objects), so sweeps and erasure look for them
        here: a writer killed mid-write leaves one behind.
        """
        try:
            for folder, _dirs, files in os.walk(directory):
                for name in files:
                    if name.startswith(_TMP_PREFIX) and name.endswith(_TMP_SUFFIX):
                        yield Path(folder, name)
        except OSError as exc:
            raise StorageError(f"could not list the store: {exc.strerror}") from exc

    def sweep_partials(self, older_than: datetime) -> int:
        removed = 0
        limit = older_than.timestamp()
        for path in list(self._partials(self.root)):
            try:
                if path.stat().st_mtime < limit:
                    path.unlink()
                    removed += 1
                    self._prune(path.parent)
            except FileNotFoundError:
                continue  # renamed into place or removed meanwhile
            except OSError as exc:
                raise StorageError(f"could not delete a partial file: {exc.strerror}") from exc
        return removed

    # -- deleting ------------------------------------------------------------------

    def delete(self, key: str) -> None:
        path = self._path(key)
        self._unlink(path)
        self._prune(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        # An empty prefix would wipe the whole store: refuse it, a caller bug is likelier.
        validate_prefix(prefix, allow_empty=False)
        deleted = 0
        parents: set[Path] = set()
        for key in list(self.iter_keys(prefix)):
            path = self.root.joinpath(*key.split("/"))
            if self._unlink(path):
                deleted += 1
            parents.add(path.parent)
        # Half-written files of a killed writer under the prefix: the person's data too.
        partials = 0
        directory_part = prefix.rpartition("/")[0]
        base = self.root.joinpath(*directory_part.split("/")) if directory_part else self.root
        for path in list(self._partials(base)):
            folder = path.parent.relative_to(self.root).as_posix()
            if (folder + "/").startswith(prefix) and self._unlink(path):
                partials += 1  # not an object: not counted as one
                parents.add(path.parent)
        # Deepest first, so a parent is pruned after its emptied children.
        for directory in sorted(parents, key=lambda p: len(p.parts), reverse=True):
            self._prune(directory)
        logger.info(
            "storage.delete_prefix store=%s deleted=%d partials=%d",
            self.describe(),
            deleted,
            partials,
        )
        return deleted

    def _unlink(self, path: Path) -> bool:
        """Remove one object file; False when it was already gone."""
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return False
        except IsADirectoryError:
            return False
        except OSError as exc:
            raise StorageError(f"could not delete an object: {exc.strerror}") from exc
        return True

    def _prune(self, directory: Path) -> None:
        """Remove empty directories from ``directory`` up to (not including) the root."""
        current = directory
        while current != self.root and self.root in current.parents:
            try:
                current.rmdir()
            except OSError:
                return  # not empty (or already gone, or in use): stop here
            current = current.parent
