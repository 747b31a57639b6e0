"""foundation/kafka_security.py: the Kafka TLS/SASL settings as kafka-python, aiokafka and Faust want them."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from typing import Any

import pytest
from faust.auth import SASLCredentials, SSLCredentials
from pydantic import SecretStr

from foundation.kafka_security import (
    aiokafka_options,
    check_kafka_security,
    faust_options,
    kafka_python_options,
)
from foundation.settings import Settings
from tests.foundation.tls import TlsFiles

PASSWORD = "hunter2-never-printed"
TRANSLATIONS: list[Callable[[Settings], dict[str, Any]]] = [kafka_python_options, aiokafka_options, faust_options]


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def ssl_settings(tls: TlsFiles, protocol: str = "SSL", **values: Any) -> Settings:
    return settings(
        kafka_security_protocol=protocol,
        kafka_ssl_cafile=str(tls.ca_cert),
        kafka_ssl_certfile=str(tls.client_cert),
        kafka_ssl_keyfile=str(tls.client_key),
        **values,
    )


def sasl_values(mechanism: str = "SCRAM-SHA-512") -> dict[str, Any]:
    return {"kafka_sasl_mechanism": mechanism, "kafka_sasl_username": "qoe-ingest", "kafka_sasl_password": PASSWORD}


@pytest.mark.parametrize("translate", TRANSLATIONS)
def test_plaintext_default_adds_nothing_so_the_embedded_broker_keeps_working(
    translate: Callable[[Settings], dict[str, Any]],
) -> None:
    assert settings().kafka_security_protocol == "PLAINTEXT"
    assert translate(settings()) == {}


def test_ssl_gives_kafka_python_the_certificate_files(tls_files: TlsFiles) -> None:
    assert kafka_python_options(ssl_settings(tls_files)) == {
        "security_protocol": "SSL",
        "ssl_cafile": str(tls_files.ca_cert),
        "ssl_certfile": str(tls_files.client_cert),
        "ssl_keyfile": str(tls_files.client_key),
    }


def test_ssl_without_a_ca_file_trusts_the_system_cas() -> None:
    assert kafka_python_options(settings(kafka_security_protocol="SSL")) == {"security_protocol": "SSL"}
    context = aiokafka_options(settings(kafka_security_protocol="SSL"))["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_ssl_gives_aiokafka_a_verifying_context_with_our_ca(tls_files: TlsFiles) -> None:
    options = aiokafka_options(ssl_settings(tls_files))
    assert set(options) == {"security_protocol", "ssl_context"}
    assert options["security_protocol"] == "SSL"
    context: ssl.SSLContext = options["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert [cert["subject"] for cert in context.get_ca_certs()] == [((("commonName", "qoe test CA"),),)]


def test_ssl_gives_faust_ssl_credentials(tls_files: TlsFiles) -> None:
    credentials = faust_options(ssl_settings(tls_files))["broker_credentials"]
    assert isinstance(credentials, SSLCredentials)
    assert credentials.protocol.value == "SSL"
    assert credentials.context.verify_mode == ssl.CERT_REQUIRED and credentials.context.check_hostname


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_ssl_gives_every_library_the_mechanism_and_credentials(tls_files: TlsFiles, mechanism: str) -> None:
    configured = ssl_settings(tls_files, "SASL_SSL", **sasl_values(mechanism))

    python = kafka_python_options(configured)
    assert python["security_protocol"] == "SASL_SSL"
    assert (python["sasl_mechanism"], python["sasl_plain_username"]) == (mechanism, "qoe-ingest")
    assert python["sasl_plain_password"] == PASSWORD
    assert python["ssl_cafile"] == str(tls_files.ca_cert)

    aio = aiokafka_options(configured)
    assert (aio["security_protocol"], aio["sasl_mechanism"]) == ("SASL_SSL", mechanism)
    assert (aio["sasl_plain_username"], aio["sasl_plain_password"]) == ("qoe-ingest", PASSWORD)
    assert isinstance(aio["ssl_context"], ssl.SSLContext)

    credentials = faust_options(configured)["broker_credentials"]
    assert isinstance(credentials, SASLCredentials)
    assert (credentials.protocol.value, credentials.mechanism.value) == ("SASL_SSL", mechanism)
    assert (credentials.username, credentials.password) == ("qoe-ingest", PASSWORD)
    assert isinstance(credentials.ssl_context, ssl.SSLContext)


def test_sasl_plaintext_has_no_tls() -> None:
    configured = settings(kafka_security_protocol="SASL_PLAINTEXT", **sasl_values())
    assert "ssl_context" not in aiokafka_options(configured)
    assert not any(key.startswith("ssl_") for key in kafka_python_options(configured))
    credentials = faust_options(configured)["broker_credentials"]
    assert credentials.protocol.value == "SASL_PLAINTEXT" and credentials.ssl_context is None


def test_faust_hands_the_credentials_to_aiokafka(tls_files: TlsFiles) -> None:
    """What Faust's aiokafka driver makes of our credentials: what aiokafka_options gives directly."""
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    configured = ssl_settings(tls_files, "SASL_SSL", **sasl_values())
    handed = dict(credentials_to_aiokafka_auth(faust_options(configured)["broker_credentials"]))
    direct = aiokafka_options(configured)
    assert handed.pop("ssl_context").get_ca_certs() == direct.pop("ssl_context").get_ca_certs()
    assert handed == direct


def test_the_password_is_never_printed(tls_files: TlsFiles, caplog: pytest.LogCaptureFixture) -> None:
    configured = ssl_settings(tls_files, "SASL_SSL", **sasl_values())
    assert isinstance(configured.kafka_sasl_password, SecretStr)
    assert PASSWORD not in repr(configured) and PASSWORD not in str(configured)
    for translate in TRANSLATIONS:
        options = translate(configured)
        assert PASSWORD not in repr(options), translate.__name__
        # kafka-python logs its whole configuration this way (KafkaAdminClient, at DEBUG).
        with caplog.at_level(logging.DEBUG):
            logging.getLogger("kafka.admin.client").debug("Starting KafkaAdminClient with configuration: %s", options)
        assert PASSWORD not in caplog.text, translate.__name__
    assert PASSWORD not in repr(faust_options(configured)["broker_credentials"])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kafka_ssl_cafile": "ca.crt"}, "kafka_ssl_cafile set, but kafka_security_protocol is PLAINTEXT"),
        ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_ssl_cafile": "ca.crt"}, "use SSL or SASL_SSL"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_keyfile": "client.key"}, "needs kafka_ssl_certfile"),
        ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "qoe"}, "needs kafka_sasl_username and"),
        ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_password": PASSWORD}, "needs kafka_sasl_username and"),
        ({"kafka_security_protocol": "SSL", "kafka_sasl_username": "qoe"}, "SASL credentials set"),
        ({"kafka_sasl_username": "qoe", "kafka_sasl_password": PASSWORD}, "SASL credentials set"),
    ],
)
def test_contradictory_settings_are_refused_not_ignored(values: dict[str, Any], message: str) -> None:
    """A CA file that is silently ignored leaves a deployment that believes it uses TLS."""
    configured = settings(**values)
    with pytest.raises(ValueError, match=message):
        check_kafka_security(configured)
    for translate in TRANSLATIONS:
        with pytest.raises(ValueError, match=message):
            translate(configured)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QOE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("QOE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("QOE_KAFKA_SASL_USERNAME", "qoe-worker")
    monkeypatch.setenv("QOE_KAFKA_SASL_PASSWORD", PASSWORD)
    configured = settings()
    options = kafka_python_options(configured)
    assert (options["sasl_mechanism"], options["sasl_plain_username"]) == ("SCRAM-SHA-256", "qoe-worker")
    monkeypatch.setenv("QOE_KAFKA_SECURITY_PROTOCOL", "TLS")
    with pytest.raises(ValueError, match="kafka_security_protocol"):
        settings()
