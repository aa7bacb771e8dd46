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
import pika.spec

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
        exchange = f"{self._namespace}.events"
        self._publishing_channel().publish(
            [(exchange, m.routing_key, m.body, _properties(m)) for m in messages]
        )

    def _publishing_channel(self) -> _ConfirmedPublisher:
        if self._publisher is None or not self._publisher.is_open:
            channel = self._connect().channel()
            _declare_exchanges(channel, self._namespace)
            self._publisher = _ConfirmedPublisher(channel)
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
            # Retries and parked copies first, all confirmed; only then the originals are acked.
            copies = []
            for delivery, outcome in zip(deliveries, outcomes, strict=True):
                if outcome.verdict is Verdict.RETRY:
                    extra = {ATTEMPTS_HEADER: delivery.previous_failures + 1}
                    copies.append(("", names.retry(outcome.delay_ms), delivery.message, extra))
                elif outcome.verdict is Verdict.PARK:
                    extra = {PARKED_REASON_HEADER: outcome.reason[:1000]}
                    copies.append(("", names.parked, delivery.message, extra))
            if copies:
                publisher.publish(
                    [
                        (ex, key, message.body, _properties(message, extra))
                        for ex, key, message, extra in copies
                    ]
                )
            # Every delivery of the batch gets its outcome, and the channel has no older unacked
            # delivery: one multiple-ack covers the batch.
            channel.basic_ack(batch[-1][0].delivery_tag, multiple=True)

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
            while True:
                # In chunks: publish a chunk to the main queue, wait for its confirms, then ack it
                # off the parked queue (a failure in between leaves it parked, maybe also queued).
                chunk: list[tuple[int, Message]] = []
                while len(chunk) < 500 and (got := channel.basic_get(names.parked, auto_ack=False))[0]:
                    message = _delivery(*got).message
                    if wanted is None or message.message_id in wanted:
                        chunk.append((got[0].delivery_tag, message))
                if not chunk:
                    break
                publisher.publish([("", names.main, m.body, _properties(_fresh(m))) for _tag, m in chunk])
                for tag, _message in chunk:
                    channel.basic_ack(tag)
                replayed += len(chunk)
        finally:
            channel.close()  # unwanted messages go back to the parked queue
        return replayed


class PublishNotConfirmed(pika.exceptions.AMQPChannelError):
    """The broker refused (nack), returned or did not confirm in time a published message. A
    channel error: the caller starts again on a new channel."""


class _ConfirmedPublisher:
    """A channel in confirm mode that publishes a whole batch, then waits once for every confirm.

    (pika's BlockingChannel in confirm mode waits for each message in turn, a round trip per
    message, which caps a relay at about a thousand events a second. This drives the underlying
    asynchronous channel and waits with BlockingChannel's own I/O loop instead.)
    """

    def __init__(self, channel, *, confirm_timeout: float = 30.0):
        self._channel = channel
        self._impl = channel._impl
        self._timeout = confirm_timeout
        self._last_tag = 0
        self._unconfirmed: set[int] = set()
        self._nacked = 0
        self._returned: list[str] = []
        selected: list[object] = []
        self._impl.confirm_delivery(ack_nack_callback=self._on_confirm, callback=selected.append)
        self._impl.add_on_return_callback(self._on_return)
        channel._flush_output(lambda: bool(selected))

    @property
    def is_open(self) -> bool:
        return self._channel.is_open

    def publish(self, items: Sequence[tuple[str, str, bytes, pika.BasicProperties]]) -> None:
        """Publish each (exchange, routing key, body, properties) with `mandatory`; return once the
        broker has confirmed them all, raise if it refused, returned or ignored any."""
        if not items:
            return
        self._nacked, self._returned = 0, []
        for exchange, routing_key, body, properties in items:
            self._impl.basic_publish(exchange, routing_key, body, properties, mandatory=True)
            self._last_tag += 1
            self._unconfirmed.add(self._last_tag)
        deadline = time.monotonic() + self._timeout
        connection = self._channel.connection
        wake_up = connection.call_later(self._timeout, lambda: None)  # so the wait can time out
        try:
            self._channel._flush_output(lambda: not self._unconfirmed or time.monotonic() >= deadline)
        finally:
            connection.remove_timeout(wake_up)
        if self._unconfirmed:
            raise PublishNotConfirmed(f"{len(self._unconfirmed)} messages not confirmed in {self._timeout} s")
        if self._nacked:
            raise PublishNotConfirmed(f"the broker refused {self._nacked} messages")
        if self._returned:
            raise PublishNotConfirmed(f"{len(self._returned)} messages returned: {self._returned[0]}")

    def _on_confirm(self, frame) -> None:
        method = frame.method
        if method.multiple:
            done = {tag for tag in self._unconfirmed if tag <= method.delivery_tag}
        else:
            done = {method.delivery_tag} & self._unconfirmed
        self._unconfirmed -= done
        if isinstance(method, pika.spec.Basic.Nack):
            self._nacked += len(done)

    def _on_return(self, _channel, method, _properties, _body) -> None:
        self._returned.append(f"{method.reply_code} {method.reply_text} ({method.routing_key})")


def _fresh(message: Message) -> Message:
    """The message without the broker's and our bookkeeping headers: a fresh start."""
    headers = {k: v for k, v in message.headers.items() if not k.startswith("x-")}
    return Message(message.routing_key, message.body, message.message_id, headers)


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
