"""The in-memory transport: the same interface as RabbitMQ, for the one-process mode and unit tests.

One `MemoryBroker` per process plays the broker; each `MemoryTransport` is a client of it. Nothing
survives the process, which is why production and the integration tests use RabbitMQ.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

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


@lru_cache(maxsize=4096)
def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: `*` is exactly one word, `#` is zero or more words."""
    words, keys = pattern.split("."), routing_key.split(".")

    def match(i: int, j: int) -> bool:
        if i == len(words):
            return j == len(keys)
        if words[i] == "#":
            return any(match(i + 1, k) for k in range(j, len(keys) + 1))
        return j < len(keys) and words[i] in ("*", keys[j]) and match(i + 1, j + 1)

    return match(0, 0)


class MemoryBroker:
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._queues: dict[str, deque[Message]] = defaultdict(deque)
        self._bindings: dict[str, set[str]] = defaultdict(set)  # queue → routing patterns
        self._timers: set[threading.Timer] = set()

    def route(self, message: Message) -> None:
        with self._lock:
            targets = [
                q
                for q, keys in self._bindings.items()
                if any(topic_matches(k, message.routing_key) for k in keys)
            ]
            for queue in targets or ["unrouted"]:
                self._queues[queue].append(message)
            self._lock.notify_all()

    def put(self, queue: str, message: Message) -> None:
        with self._lock:
            self._queues[queue].append(message)
            self._lock.notify_all()

    def put_later(self, queue: str, message: Message, delay_ms: int) -> None:
        timer = threading.Timer(delay_ms / 1000, self._fire, args=(queue, message))
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def _fire(self, queue: str, message: Message) -> None:
        self.put(queue, message)
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive()}

    def bind(self, queue: str, routing_keys: Sequence[str]) -> None:
        with self._lock:
            self._bindings[queue].update(routing_keys)

    def take(self, queue: str, limit: int, timeout: float) -> list[Message]:
        with self._lock:
            if not self._queues[queue]:
                self._lock.wait(timeout)
            items = self._queues[queue]
            return [items.popleft() for _ in range(min(limit, len(items)))]

    def peek(self, queue: str) -> list[Message]:
        with self._lock:
            return list(self._queues[queue])

    def drain(self, queue: str) -> list[Message]:
        with self._lock:
            items = list(self._queues[queue])
            self._queues[queue].clear()
            return items

    def close(self) -> None:
        with self._lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()


class MemoryTransport(Transport):
    def __init__(self, broker: MemoryBroker):
        self.broker = broker

    def publish(self, messages: Sequence[Message]) -> None:
        for message in messages:
            self.broker.route(message)

    def declare(self, topology: Topology) -> None:
        self.broker.bind(topology.names.main, topology.routing_keys)

    def consume(self, topology, handle, stop, *, prefetch):
        self.declare(topology)
        names = topology.names
        while not stop.is_set():
            batch = self.broker.take(names.main, prefetch, timeout=0.25)
            if not batch:
                continue
            deliveries = [Delivery(m, int(m.headers.get(ATTEMPTS_HEADER, 0))) for m in batch]
            for delivery, outcome in zip(deliveries, handle(deliveries), strict=True):
                message = delivery.message
                if outcome.verdict is Verdict.RETRY:
                    headers = {**message.headers, ATTEMPTS_HEADER: delivery.previous_failures + 1}
                    self.broker.put_later(names.main, replace(message, headers=headers), outcome.delay_ms)
                elif outcome.verdict is Verdict.PARK:
                    headers = {**message.headers, PARKED_REASON_HEADER: outcome.reason}
                    self.broker.put(names.parked, replace(message, headers=headers))

    def parked(self, names: QueueNames) -> list[Message]:
        return self.broker.peek(names.parked)

    def replay(self, names: QueueNames, message_ids: Sequence[str] | None = None) -> int:
        replayed = 0
        for message in self.broker.drain(names.parked):
            if message_ids and message.message_id not in message_ids:
                self.broker.put(names.parked, message)
                continue
            fresh = {k: v for k, v in message.headers.items() if not k.startswith("x-")}
            self.broker.put(names.main, replace(message, headers=fresh))
            replayed += 1
        return replayed
