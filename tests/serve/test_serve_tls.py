"""HTTPS with --tls-cert/--tls-key, on a certificate made for the test: the key and the images
travel encrypted, plain HTTP on that port gets no answer, and a bad pair is one line, exit 2."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from helpers.server import ServerProcess


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem"


def test_https_serves_with_the_key_and_plain_http_gets_nothing(
        explain_model: Path, image_set: list[Path], certificate: tuple[Path, Path],
        tmp_path: Path) -> None:
    cert, key = certificate
    with ServerProcess(explain_model, "--tls-cert", str(cert), "--tls-key", str(key),
                       log=tmp_path / "log", wait=False,
                       env={"ANIME_DETECTOR_API_KEY": "s3cret-key"}) as running:
        url = running.url.replace("http://", "https://")
        trusted = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 60
        while True:
            assert running.proc.poll() is None, running.log_text()
            try:
                if httpx.get(url + "/readyz", verify=trusted).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, running.log_text()
            time.sleep(0.1)
        files = [("file", ("a.png", image_set[0].read_bytes()))]
        answer = httpx.post(url + "/v1/predict", files=files, verify=trusted,
                            headers={"Authorization": "Bearer s3cret-key"})
        assert answer.status_code == 200 and answer.json()["results"][0]["label"]
        with pytest.raises(httpx.ConnectError):  # a client that does not trust it
            httpx.get(url + "/readyz")
        host, port = running.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as plain:
            plain.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                data = plain.recv(4096)
            except (ConnectionResetError, TimeoutError):
                data = b""
            assert not data.startswith(b"HTTP/1.1 200")  # nothing served in clear
        assert f"serving {explain_model} on {url}" in running.log_text()


@pytest.mark.parametrize(("which", "error"), [
    ("cert-only", "--tls-cert and --tls-key go together"),
    ("swapped", "not a PEM certificate with its private key"),
    ("missing", "missing.pem: no such file"),
])
def test_a_bad_certificate_or_key_is_one_line_and_exit_2(
        explain_model: Path, certificate: tuple[Path, Path], tmp_path: Path, which: str,
        error: str) -> None:
    cert, key = certificate
    args = {"cert-only": ["--tls-cert", str(cert)],
            "swapped": ["--tls-cert", str(key), "--tls-key", str(cert)],
            "missing": ["--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", str(key)]}
    result = subprocess.run([sys.executable, "-m", "anime_detector", "serve",
                             str(explain_model), "--port", "0", *args[which]],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert error in result.stderr
