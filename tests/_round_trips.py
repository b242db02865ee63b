"""Counting a client's round trips in a test: each send on a redis-py connection is one
round trip (a pipeline sends once)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis.connection


class RoundTrips:
    """Counts what the client sends: each send is one round trip (a pipeline sends once)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent = 0
        original = redis.connection.AbstractConnection.send_packed_command

        def counting(conn, command, check_health=True):  # noqa: ANN001
            self.sent += 1
            return original(conn, command, check_health)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)

    def of(self, action: Callable[[], object]) -> int:
        before = self.sent
        action()
        return self.sent - before
