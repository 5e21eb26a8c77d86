"""The platform connection is verified (issue #19 §4): the platform sandbox served over https with a
certificate from its own CA (as the national platform's front end uses a domestic CA). The client and the
deferred receipt wait trust the CA bundle named in the connection (extra ``ca_bundle``) and nothing else: with
that CA a real upload and status round trip works; with another CA, or the default store (which does not hold
the sandbox's CA), the first request fails with the TLS error — once, without retries or waits."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from creditflow.core.platform_client import PlatformClient, PlatformTLSError, RetryPolicy
from creditflow_airflow.triggers import PlatformReceiptsTrigger
from creditflow_sandbox import platform
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from helpers import ServedApp, first_trigger_event

pytestmark = [pytest.mark.integration]


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: Any, issuer: str, issuer_key: Any, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True).add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        ).add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                        critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(path: Path, cert: x509.Certificate) -> str:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, str]:
    """CA A (the platform's), a server certificate for 127.0.0.1/localhost signed by A, and an unrelated CA B."""
    d = tmp_path_factory.mktemp("pki")
    key_a, key_b, key_srv = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    server_key = d / "server.key"
    server_key.write_bytes(key_srv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    return {"ca_a": _pem(d / "ca-a.pem", _cert("沙箱平台 CA A", key_a, "沙箱平台 CA A", key_a, ca=True)),
            "ca_b": _pem(d / "ca-b.pem", _cert("无关 CA B", key_b, "无关 CA B", key_b, ca=True)),
            "cert": _pem(d / "server.pem", _cert("127.0.0.1", key_srv, "沙箱平台 CA A", key_a, ca=False)),
            "key": str(server_key)}


class TLSServedApp(ServedApp):
    """The sandbox served over https with the server certificate signed by CA A."""

    def __init__(self, app: Any, certfile: str, keyfile: str):
        super().__init__(app)
        self.url = f"https://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="critical",
                                                    timeout_keep_alive=2, ssl_certfile=certfile,
                                                    ssl_keyfile=keyfile))
        self.thread = threading.Thread(target=self.server.run, daemon=True)


@pytest.fixture(scope="module")
def pf(pki, tmp_path_factory):
    db = tmp_path_factory.mktemp("pf") / "pf.sqlite"
    with TLSServedApp(platform.create_app(db_url=f"sqlite:///{db}", processing_seconds=0.5),
                      pki["cert"], pki["key"]) as app:
        yield app


def _client(url: str, verify: Any) -> tuple[PlatformClient, list[float]]:
    sleeps: list[float] = []
    client = PlatformClient(url, "creditflow-demo", "demo-secret", RetryPolicy(attempts=6, backoff=0.01, timeout=5),
                            sleep=sleeps.append, verify=verify, conn_id="credit_platform")
    return client, sleeps


def _submit(client: PlatformClient) -> str:
    return str(client.submit_batch("penalty", [{"op": "create", "data": {}}], f"k{time.time_ns()}")["batch_id"])


def test_the_platforms_own_ca_completes_a_round_trip(pf, pki):
    client, sleeps = _client(pf.url, pki["ca_a"])
    batch = _submit(client)
    assert client.batch_status(batch)["batch_id"] == batch
    assert client.stats["retries"] == 0 and sleeps == []


@pytest.mark.parametrize("trust", ["ca_b", "default store"])
def test_another_ca_or_the_default_store_is_refused_at_once(pf, pki, trust):
    verify = pki.get(trust, True)
    client, sleeps = _client(pf.url, verify)
    started = time.monotonic()
    with pytest.raises(PlatformTLSError) as refused:
        _submit(client)
    assert time.monotonic() - started < 3
    assert client.stats == {"requests": 1, "retries": 0, "token_refreshes": 0} and sleeps == []  # one attempt
    message = str(refused.value)
    assert "credit_platform" in message and "证书未通过校验" in message and "demo-secret" not in message
    assert (pki["ca_b"] in message) if trust == "ca_b" else ("系统默认证书库" in message)


def test_verification_cannot_be_switched_off(pf, pki, tmp_path):
    with pytest.raises(ValueError, match="不允许关闭"):
        _client(pf.url, False)
    with pytest.raises(ValueError, match="不存在"):
        _client(pf.url, str(tmp_path / "missing.pem"))


def _connection(monkeypatch, app: ServedApp, **extra: Any) -> None:
    conn = {"conn_type": "http", "host": "127.0.0.1", "port": app.port, "schema": "https",
            "login": "creditflow-demo", "password": "demo-secret", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_CREDIT_PLATFORM", json.dumps(conn))


def test_the_receipt_wait_trusts_the_connections_ca(pf, pki, monkeypatch):
    _connection(monkeypatch, pf, ca_bundle=pki["ca_a"])
    batch = _submit(_client(pf.url, pki["ca_a"])[0])
    event = first_trigger_event(PlatformReceiptsTrigger(kind="penalty", batch_ids=[batch], deadline=time.time() + 30,
                                                 first_pause=0.2))
    assert event["status"] == "done" and event["processing"] == 0


@pytest.mark.parametrize("trust", ["ca_b", "default store"])
def test_the_receipt_wait_refuses_another_ca_at_once(pf, pki, monkeypatch, trust):
    _connection(monkeypatch, pf, **({"ca_bundle": pki[trust]} if trust in pki else {}))
    batch = _submit(_client(pf.url, pki["ca_a"])[0])
    event = first_trigger_event(PlatformReceiptsTrigger(kind="penalty", batch_ids=[batch], deadline=time.time() + 30,
                                                 first_pause=0.2))
    assert event["status"] == "error" and event["polls"] == 1 and event["waited"] < 3
    assert "证书未通过校验" in event["message"] and "credit_platform" in event["message"]
    assert "demo-secret" not in event["message"]
