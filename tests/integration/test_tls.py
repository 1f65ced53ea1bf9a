"""`clearcutout serve --tls-cert --tls-key`: TLS 1.3 only, with HSTS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import fast_settings
from tests.support.app_server import running_app
from tests.support.database import migrate


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def handshake(port: int, cert: Path, version: ssl.TLSVersion) -> str:
    context = ssl.create_default_context(cafile=str(cert))
    context.minimum_version = version
    context.maximum_version = version
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return str(tls.version())


def test_tls_1_2_is_refused_and_tls_1_3_is_served_with_hsts(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path / "data")
    migrate(settings)
    cert, key = self_signed(tmp_path)
    with running_app(settings, tls_cert=cert, tls_key=key) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        assert handshake(port, cert, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
        with pytest.raises(ssl.SSLError):
            handshake(port, cert, ssl.TLSVersion.TLSv1_2)
        response = httpx.get(
            f"{base_url}/login", verify=ssl.create_default_context(cafile=str(cert))
        )
        assert response.status_code == 200
        assert response.headers["strict-transport-security"].startswith("max-age=")
        csrf_cookie = response.headers["set-cookie"]
        assert csrf_cookie.startswith("csrf-token=") and "Secure" in csrf_cookie
