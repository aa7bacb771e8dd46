"""The RabbitMQ transport, through pika.

Each instance holds one connection and must stay on one thread (pika's BlockingConnection is not
thread-safe): the relay and the consumer each make their own.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence

import pika
import pika.exceptions

from .transport import (
    ATTEMPTS_HEADER,
    PARKED_REASON_HEADER,
    Delivery,
    Message,
    QueueNames,
    Topology,
    Transport,
    Verdict,
)

log = logging.getLogger(__name__)

#: Errors after which the connection is thrown away and made again.
CONNECTION_ERRORS = (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError, OSError)


class RabbitTransport(Transport):
    def __init__(self, url: str, namespace: str, *, connection_name: str = "club"):
        self._params = pika.URLParameters(url)
        self._params.client_properties = {"connection_name": connection_name}
        self._params.heartbeat = 30
        self._params.blocked_connection_timeout = 30
        self._namespace = namespace
        self._connection: pika.BlockingConnection | None = None
        self._publisher = None

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, messages: Sequence[Message]) -> None:
        """Publish with confirms and `mandatory`; on a dead connection, reconnect once and resend
        the whole batch (consumers are idempotent, so a duplicate is harmless; a loss is not)."""
        try:
            self._publish(messages)
        except CONNECTION_ERRORS:
            self.close()
            self._publish(messages)

    def _publish(self, messages: Sequence[Message]) -> None:
        channel = self._publishing_channel()
        exchange = f"{self._namespace}.events"
        for message in messages:
            channel.basic_publish(
                exchange, message.routing_key, message.body, _properties(message), mandatory=True
            )

    def _publishing_channel(self):
        if self._publisher is None or not self._publisher.is_open:
            channel = self._connect().channel()
            channel.confirm_delivery()
            _declare_exchanges(channel, self._namespace)
            self._publisher = channel
        return self._publisher

    def _connect(self) -> pika.BlockingConnection:
        if self._connection is None or not self._connection.is_open:
            self._connection = pika.BlockingConnection(self._params)
            self._publisher = None
        return self._connection

    def close(self) -> None:
        connection, self._connection, self._publisher = self._connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(CONNECTION_ERRORS):
                connection.close()

    # -- consuming ----------------------------------------------------------------------------

    def declare(self, topology: Topology) -> None:
        channel = self._connect().channel()
        try:
            _declare_consumer(channel, topology)
        finally:
            channel.close()

    def consume(self, topology, handle, stop, *, prefetch):
        backoff = 0.1
        names = topology.names
        try:
            while not stop.is_set():
                try:
                    self._consume_until_stopped(topology, handle, stop, prefetch)
                except CONNECTION_ERRORS as exc:
                    log.warning(
                        "bus connection lost, reconnecting", extra={"error": repr(exc), "queue": names.main}
                    )
                    self.close()
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 5.0)
                else:
                    backoff = 0.1
        finally:
            self.close()

    def _consume_until_stopped(self, topology: Topology, handle, stop, prefetch: int) -> None:
        names = topology.names
        connection = self._connect()
        channel = connection.channel()
        _declare_consumer(channel, topology)
        channel.basic_qos(prefetch_count=prefetch)
        pending: list[tuple] = []
        channel.basic_consume(
            names.main, lambda _ch, method, props, body: pending.append((method, props, body))
        )
        publisher = self._publishing_channel()
        while not stop.is_set():
            connection.process_data_events(time_limit=0.25)
            if not pending:
                continue
            connection.process_data_events(time_limit=0)  # take whatever else has already arrived
            batch, pending[:] = list(pending), []
            deliveries = [_delivery(method, props, body) for method, props, body in batch]
            outcomes = handle(deliveries)
            for (method, _props, _body), delivery, outcome in zip(batch, deliveries, outcomes, strict=True):
                if outcome.verdict is Verdict.RETRY:
                    publisher.basic_publish(
                        "",
                        names.retry(outcome.delay_ms),
                        delivery.message.body,
                        _properties(delivery.message, {ATTEMPTS_HEADER: delivery.previous_failures + 1}),
                        mandatory=True,
                    )
                elif outcome.verdict is Verdict.PARK:
                    publisher.basic_publish(
                        "",
                        names.parked,
                        delivery.message.body,
                        _properties(delivery.message, {PARKED_REASON_HEADER: outcome.reason[:1000]}),
                        mandatory=True,
                    )
                channel.basic_ack(method.delivery_tag)

    # -- parking ------------------------------------------------------------------------------

    def parked(self, names: QueueNames) -> list[Message]:
        channel = self._connect().channel()
        try:
            messages = []
            while (got := channel.basic_get(names.parked, auto_ack=False))[0] is not None:
                messages.append(_delivery(*got).message)
            return messages
        finally:
            channel.close()  # unacknowledged messages go back to the parked queue

    def replay(self, names: QueueNames, message_ids: Sequence[str] | None = None) -> int:
        wanted = set(message_ids) if message_ids else None
        publisher = self._publishing_channel()
        channel = self._connect().channel()
        replayed = 0
        try:
            while (got := channel.basic_get(names.parked, auto_ack=False))[0] is not None:
                method, _props, _body = got
                message = _delivery(*got).message
                if wanted is not None and message.message_id not in wanted:
                    continue
                fresh = {k: v for k, v in message.headers.items() if not k.startswith("x-")}
                publisher.basic_publish(
                    "",
                    names.main,
                    message.body,
                    _properties(Message(message.routing_key, message.body, message.message_id, fresh)),
                    mandatory=True,
                )
                channel.basic_ack(method.delivery_tag)
                replayed += 1
        finally:
            channel.close()
        return replayed


def _properties(message: Message, extra_headers: dict | None = None) -> pika.BasicProperties:
    headers = {**message.headers, "x-club-routing-key": message.routing_key, **(extra_headers or {})}
    return pika.BasicProperties(
        content_type="application/json",
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=message.message_id,
        timestamp=int(time.time()),
        headers=headers,
    )


def _delivery(method, props, body) -> Delivery:
    headers = dict(props.headers or {})
    failures = int(headers.get(ATTEMPTS_HEADER, 0)) + int(headers.get("x-delivery-count", 0))
    routing_key = headers.get("x-club-routing-key", method.routing_key)
    return Delivery(Message(routing_key, body, props.message_id or "", headers), failures)


def _declare_exchanges(channel, namespace: str) -> None:
    unrouted = f"{namespace}.unrouted"
    channel.exchange_declare(unrouted, "fanout", durable=True)
    channel.queue_declare(unrouted, durable=True, arguments={"x-max-length": 100_000})
    channel.queue_bind(unrouted, unrouted)
    channel.exchange_declare(
        f"{namespace}.events", "topic", durable=True, arguments={"alternate-exchange": unrouted}
    )


def _declare_consumer(channel, topology: Topology) -> None:
    names = topology.names
    _declare_exchanges(channel, names.exchange.removesuffix(".events"))
    channel.exchange_declare(names.dead_letter_exchange, "direct", durable=True)
    channel.queue_declare(names.parked, durable=True)
    channel.queue_bind(names.parked, names.dead_letter_exchange, routing_key=names.parked)
    channel.queue_declare(
        names.main,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            # A message whose handler keeps killing the worker is parked instead of looping. The
            # broker dead-letters a message once it has been returned *more* than this many times,
            # so `max_deliveries - 1` parks it after exactly `max_deliveries` deliveries.
            "x-delivery-limit": max(topology.max_deliveries - 1, 0),
            "x-dead-letter-exchange": names.dead_letter_exchange,
            "x-dead-letter-routing-key": names.parked,
        },
    )
    for key in topology.routing_keys:
        channel.queue_bind(names.main, names.exchange, routing_key=key)
    for delay in topology.retry_delays_ms:
        channel.queue_declare(
            names.retry(delay),
            durable=True,
            arguments={
                "x-message-ttl": delay,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": names.main,
            },
        )


def ping(url: str) -> None:
    """Open and close a connection: raises when the broker cannot be reached within 2 s."""
    params = pika.URLParameters(url)
    params.socket_timeout = 2
    params.connection_attempts = 1
    pika.BlockingConnection(params).close()
