"""The platform and licensing hooks build their clients from the connection, including the CA bundle that
their TLS is verified with (extra ``ca_bundle``); the receipt trigger reads the same extra."""

from __future__ import annotations

import json
import ssl

import pytest


def _conn(monkeypatch, name: str, **extra: object) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{name.upper()}", json.dumps({
        "conn_type": "http", "host": "pf.example", "schema": "https", "port": 8443,
        "login": "key", "password": "secret", "extra": {"attempts": 3, **extra}}))


@pytest.fixture
def bundle(tmp_path):
    path = tmp_path / "platform-ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return str(path)


def test_the_hooks_verify_with_the_extras_ca_bundle(monkeypatch, bundle):
    from creditflow_airflow.hooks import CreditPlatformHook, LicensingApiHook

    _conn(monkeypatch, "credit_platform", ca_bundle=bundle)
    _conn(monkeypatch, "licensing_api", ca_bundle=bundle)
    client = CreditPlatformHook().get_conn()
    assert client.base_url == "https://pf.example:8443" and client.policy.attempts == 3
    assert client.verify == bundle and client.session.verify == bundle and client.conn_id == "credit_platform"
    assert LicensingApiHook().get_conn().session.verify == bundle


def test_without_a_bundle_the_default_store_and_no_off_switch(monkeypatch):
    from creditflow_airflow.hooks import CreditPlatformHook

    _conn(monkeypatch, "credit_platform")
    assert CreditPlatformHook().get_conn().session.verify is True
    _conn(monkeypatch, "credit_platform", ca_bundle=False)
    with pytest.raises(ValueError, match="不允许关闭 TLS 证书校验"):
        CreditPlatformHook().get_conn()


def test_the_trigger_reads_the_same_bundle(tmp_path):
    from creditflow_airflow.triggers import tls_verify

    assert tls_verify({}, "credit_platform") == (True, True)
    real = tmp_path / "real.pem"  # a parseable CA: the trigger loads it into an SSL context
    real.write_text(ssl.DER_cert_to_PEM_cert(_any_der()))
    got, context = tls_verify({"ca_bundle": str(real)}, "credit_platform")
    assert got == str(real) and isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(ValueError, match="不存在"):
        tls_verify({"ca_bundle": str(tmp_path / "none.pem")}, "credit_platform")


def _any_der() -> bytes:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)
