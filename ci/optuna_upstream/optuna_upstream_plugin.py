"""pytest plugin: run Optuna's own test suite against ``optuna_redis.RedisStorage``.

Loaded with ``-p optuna_upstream_plugin`` (this folder on ``PYTHONPATH``) from the root of an
extracted Optuna sdist; ``ci/optuna_upstream_tests.sh`` does all of that. Before any test
module is imported it:

* adds the storage mode ``redis_ours`` to ``optuna.testing.storages.STORAGE_MODES`` and
  ``STORAGE_MODES_HEARTBEAT`` (edited in place: the test modules import the list objects), and
  replaces ``StorageSupplier`` with a subclass that builds, for that mode,
  ``RedisStorage(url, prefix=<fresh>, **heartbeat_kwargs)`` and deletes the keys of that prefix
  (and only those) on exit;
* re-targets to ``redis_ours`` the few tests that hard-code SQLite
  (``StorageSupplier("sqlite")``, ``RDBStorage("sqlite:///...")``,
  ``assert isinstance(storage, RDBStorage)``) but otherwise use only the public storage API
  (``RETARGETED``);
* points ``tests/storages_tests/test_with_server.py`` (a suite meant for a live database
  server, normally skipped without ``TEST_DB_URL``) at a ``RedisStorage`` shared by the test
  and the worker processes it forks;
* deselects everything else, unless ``OPTUNA_UPSTREAM_ALL=1``.

Environment:
    OPTUNA_REDIS_TEST_URL   the Redis to write to (required; the script provides one).
    OPTUNA_UPSTREAM_MODES   comma-separated upstream modes kept next to ``redis_ours`` in
                            ``STORAGE_MODES`` (default ``inmemory``: cross-storage copy tests).
    OPTUNA_UPSTREAM_ALL     ``1``: keep every collected test, not only those using our mode.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
import importlib.util
import os
from pathlib import Path
import sys
import types
from typing import Any
import uuid

import pytest

MODE = "redis_ours"
HEARTBEAT_KWARGS = frozenset(
    {"heartbeat_interval", "grace_period", "heartbeat_stale_trial_callback"}
)

# Tests that hard-code SQLite (StorageSupplier("sqlite") or RDBStorage("sqlite:///...")) yet
# use only the public storage API: during these, StorageSupplier("sqlite") and RDBStorage(...)
# build a RedisStorage instead, and isinstance(storage, RDBStorage) in their module accepts it.
# (Tests that also use RDBStorage internals or its URL are not here.)
RETARGETED = frozenset(
    {
        "tests/storages_tests/test_callbacks.py::test_retry_history_with_success",
        "tests/storages_tests/test_callbacks.py::test_retry_history_with_failures",
        "tests/storages_tests/test_callbacks.py::test_retry_history_with_more_than_max_retry",
        "tests/storages_tests/test_heartbeat.py::test_fail_stale_trials[None]",
        "tests/storages_tests/test_heartbeat.py::test_fail_stale_trials[2]",
        "tests/storages_tests/test_heartbeat.py::test_get_stale_trial_ids",
        "tests/study_tests/test_study.py::test_tell_from_another_process",
        "tests/study_tests/test_study_summary.py::test_study_summary_eq_ne",
        "tests/study_tests/test_study_summary.py::test_study_summary_lt_le",
    }
)
WITH_SERVER_MODULE = "tests/storages_tests/test_with_server.py"

# Test modules that import an optional dependency at module level: not collected without it.
MODULE_REQUIRES = {
    "tests/study_tests/test_dataframe.py": "pandas",
}

_URL = os.environ.get("OPTUNA_REDIS_TEST_URL", "")
# Every key this run writes starts with RUN_ROOT; a session-end sweep deletes leftovers.
RUN_ROOT = f"optuna-upstream-{uuid.uuid4().hex[:10]}"

# "retarget": the running test is in RETARGETED; "test_prefix": the running test's own key
# prefix (every prefix used by the test's retargeted or with_server storages starts with it).
# "built": RedisStorages the running test constructed (each selected test must build one).
_state: dict[str, Any] = {"retarget": False, "test_prefix": None, "built": 0}
_notes: list[str] = []
_outcomes: dict[str, Counter[str]] = {}


def _fresh_prefix() -> str:
    return f"{RUN_ROOT}-{uuid.uuid4().hex[:12]}"


def _delete_keys(pattern: str) -> int:
    import redis

    client = redis.Redis.from_url(_URL)
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += client.unlink(*batch)
                batch = []
        if batch:
            deleted += client.unlink(*batch)
    finally:
        client.close()
    return deleted


def _new_storage(prefix: str, **kwargs: Any) -> Any:
    from optuna_redis import RedisStorage

    _state["built"] += 1
    return RedisStorage(_URL, prefix=prefix, **kwargs)


# ---------------------------------------------------------------- patching optuna.testing


def _install_fakeredis_stub() -> None:
    # optuna.testing.storages imports fakeredis at module level, for its "journal_redis" mode
    # only. Without fakeredis installed, a stub lets the module import; that mode then fails.
    if importlib.util.find_spec("fakeredis") is not None:
        return
    stub = types.ModuleType("fakeredis")

    def _missing(name: str) -> Any:
        raise ModuleNotFoundError(f"fakeredis is not installed (needed for fakeredis.{name})")

    stub.__getattr__ = _missing  # type: ignore[method-assign]
    sys.modules["fakeredis"] = stub
    _notes.append("fakeredis not installed: stubbed; upstream mode 'journal_redis' unusable")


def _patch_optuna_testing() -> None:
    _install_fakeredis_stub()
    from optuna.testing import storages

    base = storages.StorageSupplier

    class RedisStorageSupplier(base):  # type: ignore[misc, valid-type]
        """StorageSupplier that also knows the mode ``redis_ours``."""

        _redis_prefix: str | None = None

        def __enter__(self) -> Any:
            mode = self.storage_specifier
            if mode == "sqlite" and _state["retarget"]:
                mode = MODE
            if mode != MODE:
                return super().__enter__()
            unknown = set(self.extra_args) - HEARTBEAT_KWARGS
            if unknown:
                raise TypeError(f"{MODE} does not accept {sorted(unknown)}")
            prefix = _fresh_prefix()
            try:
                self.storage = _new_storage(prefix, **self.extra_args)
            except BaseException:
                _delete_keys(f"{prefix}:*")
                raise
            self._redis_prefix = prefix
            return self.storage

        def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
            prefix = self._redis_prefix
            if prefix is None:
                return super().__exit__(exc_type, exc_val, exc_tb)
            try:
                self.storage.remove_session()
            finally:
                self._redis_prefix = None
                _delete_keys(f"{prefix}:*")

    extra = [m.strip() for m in os.environ.get("OPTUNA_UPSTREAM_MODES", "inmemory").split(",")]
    extra = [m for m in extra if m and m != MODE]
    unknown_modes = set(extra) - set(storages.STORAGE_MODES)
    if unknown_modes:
        raise pytest.UsageError(f"OPTUNA_UPSTREAM_MODES: unknown modes {sorted(unknown_modes)}")
    storages.STORAGE_MODES[:] = [MODE, *extra]
    heartbeat_extra = [m for m in extra if m in storages.STORAGE_MODES_HEARTBEAT]
    storages.STORAGE_MODES_HEARTBEAT[:] = [MODE, *heartbeat_extra]
    storages.StorageSupplier = RedisStorageSupplier


@contextmanager
def _with_server_get_storage() -> Iterator[Any]:
    """Stands in for test_with_server.get_storage: one prefix per test, shared with forks."""
    prefix = _state["test_prefix"]
    assert prefix is not None, "get_storage() called outside a test"
    storage = _new_storage(prefix)
    try:
        yield storage
    finally:
        storage.remove_session()


class _RDBStorageShimMeta(type):
    """Metaclass of the stand-in for ``RDBStorage`` in the modules of retargeted tests."""

    def __instancecheck__(cls, obj: Any) -> bool:
        from optuna.storages import RDBStorage

        from optuna_redis import RedisStorage

        return isinstance(obj, RDBStorage) or (
            _state["retarget"] and isinstance(obj, RedisStorage)
        )

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        from optuna.storages import RDBStorage

        if not _state["retarget"]:
            return RDBStorage(*args, **kwargs)
        # RDBStorage(url) of a retargeted test: a fresh RedisStorage, cleaned up with the test.
        return _new_storage(f"{_state['test_prefix']}-{uuid.uuid4().hex[:8]}")


class _RDBStorageShim(metaclass=_RDBStorageShimMeta):
    pass


# ---------------------------------------------------------------- pytest hooks


def pytest_configure(config: pytest.Config) -> None:
    if not _URL:
        raise pytest.UsageError("optuna_upstream_plugin needs OPTUNA_REDIS_TEST_URL")
    _patch_optuna_testing()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    rel = collection_path.relative_to(config.rootpath).as_posix()
    module = MODULE_REQUIRES.get(rel)
    if module is not None and importlib.util.find_spec(module) is None:
        _notes.append(f"{rel}: not collected, optional dependency {module!r} is not installed")
        return True
    return None


def _category(item: pytest.Item) -> str | None:
    """How an item exercises RedisStorage, or None if it does not."""
    if item.nodeid in RETARGETED:
        return "retargeted"
    if item.nodeid.startswith(WITH_SERVER_MODULE + "::"):
        return "with_server"
    callspec = getattr(item, "callspec", None)
    if callspec is not None and any(
        isinstance(v, str) and v == MODE for v in callspec.params.values()
    ):
        return "parametrized"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    patched_modules = set()
    for item in items:
        category = _category(item)
        module = getattr(item, "module", None)
        if category not in ("with_server", "retargeted") or module in patched_modules:
            continue
        patched_modules.add(module)
        if category == "with_server":
            module.get_storage = _with_server_get_storage
        elif hasattr(module, "RDBStorage"):
            module.RDBStorage = _RDBStorageShim
    if os.environ.get("OPTUNA_UPSTREAM_ALL") == "1":
        return
    keep = [item for item in items if _category(item) is not None]
    dropped = [item for item in items if _category(item) is None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    category = _category(item)
    prefix = _fresh_prefix() if category in ("with_server", "retargeted") else None
    _state["retarget"] = category == "retargeted"
    _state["test_prefix"] = prefix
    _state["built"] = 0
    try:
        return (yield)
    finally:
        if category is not None and _state["built"] == 0 and _ran(item.nodeid):
            _notes.append(f"{item.nodeid} did not construct any RedisStorage")
        _state["retarget"] = False
        _state["test_prefix"] = None
        if prefix is not None:
            _delete_keys(f"{prefix}*")


def _ran(nodeid: str) -> bool:
    outcomes = _outcomes.get(nodeid, Counter())
    return not outcomes["skipped"]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    outcomes = _outcomes.setdefault(report.nodeid, Counter())
    if report.failed:
        outcomes["failed"] += 1
    elif report.skipped:
        outcomes["skipped"] += 1
    elif report.when == "call":
        outcomes["passed"] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    tr = terminalreporter
    per_category: dict[str, Counter[str]] = {}
    for item in getattr(tr.config, "_optuna_upstream_items", []):
        outcomes = _outcomes.get(item.nodeid, Counter())
        if outcomes["failed"]:
            outcome = "failed"
        elif outcomes["skipped"]:
            outcome = "skipped"
        elif outcomes["passed"]:
            outcome = "passed"
        else:
            outcome = "not run"
        per_category.setdefault(_category(item) or "other", Counter())[outcome] += 1
    tr.section("optuna upstream tests on RedisStorage")
    total: Counter[str] = Counter()
    for category in ("parametrized", "retargeted", "with_server", "other"):
        counts = per_category.get(category)
        if counts:
            total += counts
            tr.write_line(f"{category:>13}: {_format_counts(counts)}")
    tr.write_line(f"{'total':>13}: {_format_counts(total)}")
    for note in _notes:
        tr.write_line(f"note: {note}")


def _format_counts(counts: Counter[str]) -> str:
    n = sum(counts.values())
    parts = ", ".join(f"{counts[k]} {k}" for k in ("passed", "failed", "skipped", "not run"))
    return f"{n} tests ({parts})"


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    session.config._optuna_upstream_items = list(session.items)  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    if _URL:
        leftover = _delete_keys(f"{RUN_ROOT}-*")
        if leftover:
            print(f"optuna_upstream_plugin: deleted {leftover} leftover keys of {RUN_ROOT}")
