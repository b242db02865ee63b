"""Retrying Redis calls through short outages (a restart, a failover), for a bounded time."""

from __future__ import annotations

from collections.abc import Callable
import ssl
import time
from typing import Any
from typing import TypeVar

from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import AuthenticationError
from redis.retry import Retry

from optuna_redis._errors import RedisUnavailableError

T = TypeVar("T")


def BACKOFF() -> ExponentialWithJitterBackoff:  # noqa: N802
    """50 ms doubling to 1 s, with jitter."""
    return ExponentialWithJitterBackoff(base=0.05, cap=1.0)


class Backoff:
    """The pauses between the attempts of one call, ``BACKOFF``'s, for up to ``deadline``
    seconds from ``start`` (``time.monotonic()`` of the first attempt; default: now)."""

    def __init__(self, deadline: float, start: float | None = None) -> None:
        self.deadline = deadline
        self._start = time.monotonic() if start is None else start
        self._backoff = BACKOFF()
        self._failures = 0

    def elapsed(self) -> float:
        return time.monotonic() - self._start

    def pause(self) -> bool:
        """Sleep before the next attempt and return True; or return False at once when
        that attempt would start past the deadline."""
        self._failures += 1
        pause = self._backoff.compute(self._failures)
        if self.elapsed() + pause > self.deadline:
            return False
        time.sleep(pause)
        return True


def cluster_retry(deadline: float) -> Retry:
    """The retries of a ``RedisCluster`` client, which counts attempts itself (with the
    same backoff, about ``deadline`` seconds of them)."""
    return Retry(BACKOFF(), retries=int(deadline) + 5)


class DeadlineRetry(Retry):
    """redis-py's ``Retry``, bounded by time instead of by a number of attempts.

    A call that fails with a connection error or a timeout is retried with exponential
    backoff (50 ms doubling to 1 s, with jitter) until ``deadline`` seconds have passed
    since its first attempt; then ``RedisUnavailableError`` is raised. Wrong credentials
    and TLS failures (a certificate that does not verify) are not retried. Retrying is safe
    for every call of the storage: reads and appends give the same result when run twice,
    and the calls that must not run twice carry a request token (see ``_keys``).
    """

    def __init__(self, deadline: float) -> None:
        # The count is never reached (the deadline ends the retries); it is large rather
        # than -1 for redis-py code that counts attempts from it.
        super().__init__(BACKOFF(), retries=1_000_000)
        self.deadline = deadline
        # time.monotonic() of the last failure retried (or given up on), by any connection.
        self.last_failure: float | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> DeadlineRetry:
        # redis-py gives each connection a deep copy of its retry; one shared object lets
        # the storage know when any of its connections last saw Redis go away.
        return self

    def call_with_retry(
        self,
        do: Callable[[], T],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        self._backoff.reset()
        start = time.monotonic()
        failures = 0
        while True:
            try:
                return do()
            except self._supported_errors as error:
                if isinstance(error, AuthenticationError) or _is_tls_failure(error):
                    raise  # configuration errors no retry can fix
                if is_retryable is not None and not is_retryable(error):
                    raise
                failures += 1
                self.last_failure = time.monotonic()
                if with_failure_count:
                    fail(error, failures)
                else:
                    fail(error)
                waited = time.monotonic() - start
                if waited >= self.deadline:
                    raise RedisUnavailableError(
                        f"Redis did not answer for {waited:.1f} s ({failures} attempts; "
                        f"retry_deadline is {self.deadline:g} s): {error}. The call was not "
                        "applied, or applied whole: nothing is half-written."
                    ) from error
                time.sleep(min(self._backoff.compute(failures), self.deadline - waited))


def _is_tls_failure(error: BaseException) -> bool:
    """Whether a redis-py connection error comes from the TLS layer (an ``ssl.SSLError``
    in its chain of causes)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
