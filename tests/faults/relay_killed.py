"""A relay that dies (SIGKILL) right after the broker confirmed its batch, before marking it sent.

Run by `test_relay_killed.py` with the test's settings in the environment. Prints the ids the
broker confirmed, then kills its own process; exits 3 if there was nothing to relay.
"""

from __future__ import annotations

import os
import signal
import sys

import faultkit

from club_shared.bus import Relay, Transport


class DieAfterConfirm(Transport):
    def __init__(self, inner: Transport):
        self.inner = inner

    def publish(self, messages):
        self.inner.publish(messages)  # returns once the broker has confirmed every message
        print("\n".join(m.message_id for m in messages), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # before Relay commits `sent_at`

    def declare(self, topology):
        self.inner.declare(topology)

    def consume(self, *args, **kwargs):
        return self.inner.consume(*args, **kwargs)

    def parked(self, names):
        return self.inner.parked(names)

    def replay(self, names, message_ids=None):
        return self.inner.replay(names, message_ids)

    def close(self):
        self.inner.close()


def main() -> int:
    runtime = faultkit.runtime_from_env()
    Relay(runtime.db, runtime.tables, DieAfterConfirm(runtime.transport("relay"))).relay_once()
    print("nothing to relay", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main())
