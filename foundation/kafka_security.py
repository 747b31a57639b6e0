"""Kafka transport security: the ``kafka_*`` TLS and SASL settings, as each client library wants them.

Three libraries talk to Kafka here and each spells the same thing differently: kafka-python (the
ingest producer, the decision log, the topic admin) takes file paths, aiokafka (the gateway's
score feed) takes an :class:`ssl.SSLContext`, and Faust (the stream worker) takes credentials
objects. One function per library, all reading the same settings, so no client can connect with
a weaker configuration than the others.

``PLAINTEXT`` (the default) adds no option at all, so the embedded Tansu broker and every local
tool keep working unchanged. A setting that only makes sense with another protocol (a CA file
with ``PLAINTEXT``, a SASL user with ``SSL``) is refused rather than ignored: ignoring it would
leave a deployment that believes it uses TLS talking plain text.
"""

from __future__ import annotations

import ssl
from typing import Any

from foundation.settings import Settings

SSL_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})
SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
MASK = "**********"


class RedactedStr(str):
    """A secret handed to a library that needs a plain ``str``.

    kafka-python logs its whole configuration at DEBUG (``KafkaAdminClient``), and a dict prints
    its values with ``repr``: this one prints a mask there, while the library still reads the value.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(MASK)


def check_kafka_security(settings: Settings) -> None:
    """Raises ValueError when the Kafka security settings contradict each other."""
    protocol = settings.kafka_security_protocol
    tls_files = {
        "kafka_ssl_cafile": settings.kafka_ssl_cafile,
        "kafka_ssl_certfile": settings.kafka_ssl_certfile,
        "kafka_ssl_keyfile": settings.kafka_ssl_keyfile,
    }
    if protocol not in SSL_PROTOCOLS and any(tls_files.values()):
        named = ", ".join(name for name, value in tls_files.items() if value)
        raise ValueError(f"{named} set, but kafka_security_protocol is {protocol}: use SSL or SASL_SSL")
    if settings.kafka_ssl_keyfile and not settings.kafka_ssl_certfile:
        raise ValueError("kafka_ssl_keyfile needs kafka_ssl_certfile (the client certificate it belongs to)")
    has_credentials = bool(settings.kafka_sasl_username) or settings.kafka_sasl_password is not None
    if protocol in SASL_PROTOCOLS:
        if not settings.kafka_sasl_username or not _password(settings):
            raise ValueError(f"{protocol} needs kafka_sasl_username and kafka_sasl_password")
    elif has_credentials:
        raise ValueError(f"SASL credentials set, but kafka_security_protocol is {protocol}: use SASL_SSL")


def kafka_python_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for kafka-python's ``KafkaProducer``, ``KafkaConsumer`` and ``KafkaAdminClient``."""
    check_kafka_security(settings)
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in SSL_PROTOCOLS:
        # kafka-python verifies the broker's certificate and host name (TLS 1.2 or later) and falls
        # back to the system's CAs without a CA file.
        for option, value in (
            ("ssl_cafile", settings.kafka_ssl_cafile),
            ("ssl_certfile", settings.kafka_ssl_certfile),
            ("ssl_keyfile", settings.kafka_ssl_keyfile),
        ):
            if value:
                options[option] = value
    if protocol in SASL_PROTOCOLS:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = RedactedStr(_password(settings))
    return options


def kafka_ssl_context(settings: Settings) -> ssl.SSLContext:
    """The client TLS context of aiokafka and Faust: the CA and client certificate of the settings,
    host-name checking and certificate verification on."""
    # Imported here: kafka-python clients (ingest, the topic admin) need no aiokafka.
    from aiokafka.helpers import create_ssl_context

    context: ssl.SSLContext = create_ssl_context(
        cafile=settings.kafka_ssl_cafile or None,
        certfile=settings.kafka_ssl_certfile or None,
        keyfile=settings.kafka_ssl_keyfile or None,
    )
    return context


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka's ``AIOKafkaConsumer`` and ``AIOKafkaProducer``."""
    check_kafka_security(settings)
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in SSL_PROTOCOLS:
        options["ssl_context"] = kafka_ssl_context(settings)
    if protocol in SASL_PROTOCOLS:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = RedactedStr(_password(settings))
    return options


def faust_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``faust.App``: ``broker_credentials`` when the protocol is not PLAINTEXT.

    Faust hands the credentials to aiokafka for its consumer, producer and admin client alike.
    """
    check_kafka_security(settings)
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    # Imported here: ingest and the topic admin use this module too and need no Faust.
    from faust.auth import SASLCredentials, SSLCredentials

    credentials: SSLCredentials | SASLCredentials
    if protocol == "SSL":
        credentials = SSLCredentials(kafka_ssl_context(settings))
    else:
        # A context makes Faust's SASL credentials SASL_SSL; without one they are SASL_PLAINTEXT.
        credentials = SASLCredentials(
            username=settings.kafka_sasl_username,
            password=RedactedStr(_password(settings)),
            ssl_context=kafka_ssl_context(settings) if protocol == "SASL_SSL" else None,
            mechanism=settings.kafka_sasl_mechanism,
        )
    return {"broker_credentials": credentials}


def _password(settings: Settings) -> str:
    secret = settings.kafka_sasl_password
    return secret.get_secret_value() if secret is not None else ""
