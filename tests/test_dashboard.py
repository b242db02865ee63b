"""``optuna-redis dashboard``: optuna-dashboard's HTTP API and pages on our storage, the
one-line error without the extra, and the round trips of one dashboard refresh."""

from __future__ import annotations

from collections.abc import Iterator
import json
import os
from pathlib import Path
import re
import shutil
import subprocess
import sys
import threading
from typing import Any
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import make_server

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.study import StudyDirection
from optuna.trial import TrialState
import pytest

from _round_trips import RoundTrips
from optuna_redis import RedisStorage

optuna_dashboard = pytest.importorskip("optuna_dashboard")

ARTIFACTS = Path(os.environ.get("OPTUNA_REDIS_ARTIFACTS", "test-artifacts"))
CHROMIUM_LOCK = Path("/tmp/optuna-redis-chromium-install.lock")


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class Dashboard:
    """The dashboard's WSGI app on ``storage``, served on a free port in a thread."""

    def __init__(self, storage: RedisStorage) -> None:
        self.app = optuna_dashboard.wsgi(storage)
        self.server = make_server("127.0.0.1", 0, self.app, handler_class=_Quiet)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def request(self, method: str, path: str, body: object = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get_json(self, path: str) -> dict:
        status, body = self.request("GET", path)
        assert status == 200, (path, body[:300])
        return json.loads(body)

    def forget_trials(self) -> None:
        """Drop the dashboard's own trial cache (a TTL of 2-10 s), as its expiry would."""
        self.app._inmemory_cache._trials_last_fetched_at.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def dashboard(storage: RedisStorage) -> Iterator[Dashboard]:
    d = Dashboard(storage)
    yield d
    d.close()


def _fill(storage: RedisStorage) -> tuple[int, int]:
    """A single-objective study of 6 trials and a two-objective one of 4; their ids."""
    single = optuna.create_study(storage=storage, study_name="dash-single")
    single.set_user_attr("owner", "alice")
    for i in range(5):
        trial = single.ask({"x": FloatDistribution(-5, 5), "c": CategoricalDistribution("ab")})
        trial.report(float(10 - i), step=0)
        trial.report(float(5 - i), step=1)
        trial.set_user_attr("i", i)
        single.tell(trial, (trial.params["x"] - 1) ** 2)
    single.tell(single.ask(), state=TrialState.FAIL)
    multi = optuna.create_study(
        storage=storage, study_name="dash-multi", directions=["minimize", "maximize"]
    )
    for i in range(4):
        multi.add_trial(
            optuna.trial.create_trial(
                params={"y": float(i)},
                distributions={"y": FloatDistribution(0, 10)},
                values=[float(i), float(i * i)],
            )
        )
    return single._study_id, multi._study_id


def test_api_returns_what_the_storage_holds(
    storage: RedisStorage, dashboard: Dashboard, redis_url: str, prefix: str
) -> None:
    single_id, multi_id = _fill(storage)
    studies = {s["study_name"]: s for s in dashboard.get_json("/api/studies")["study_summaries"]}
    assert set(studies) == {"dash-single", "dash-multi"}
    assert studies["dash-single"]["study_id"] == single_id
    assert studies["dash-multi"]["directions"] == ["minimize", "maximize"]

    detail = dashboard.get_json(f"/api/studies/{single_id}")
    held = storage.get_all_trials(single_id)
    assert [t["number"] for t in detail["trials"]] == [t.number for t in held]
    assert [t["state"] for t in detail["trials"]] == [t.state.name.capitalize() for t in held]
    done = [t for t in detail["trials"] if t["state"] == "Complete"]
    assert [t["values"] for t in done] == [t.values for t in held if t.values]
    assert [v["value"] for v in done[0]["intermediate_values"]] == [10.0, 5.0]
    assert {a["key"]: a["value"] for a in done[2]["user_attrs"]} == {"i": "2"}
    assert detail["user_attrs"] == [{"key": "owner", "value": "alice"}]
    best = storage.get_best_trial(single_id)
    assert [t["number"] for t in detail["best_trials"]] == [best.number]

    multi = dashboard.get_json(f"/api/studies/{multi_id}")
    assert [t["values"] for t in multi["trials"]] == [[i, i * i] for i in range(4)]
    # Every trial of (i, i*i) with min/max is on the Pareto front but none dominates another.
    assert sorted(t["number"] for t in multi["best_trials"]) == [0, 1, 2, 3]

    status, csv = dashboard.request("GET", f"/csv/{single_id}")
    assert status == 200
    lines = csv.decode().strip().splitlines()
    assert len(lines) == 1 + len(held)
    assert lines[0].startswith("Number,State,Value")
    assert lines[1].split(",")[:3] == ["0", "COMPLETE", str(held[0].value)]

    importances = dashboard.get_json(f"/api/studies/{single_id}/param_importances")
    names = {i["name"] for i in importances["param_importances"][0]}
    assert names == {"x", "c"}


def test_notes_and_attrs_saved_through_the_dashboard_reach_another_storage(
    storage: RedisStorage, dashboard: Dashboard, redis_url: str, prefix: str
) -> None:
    single_id, _ = _fill(storage)
    other = RedisStorage(redis_url, prefix=prefix)
    other.get_all_trials(single_id)  # fills its cache first: it must see the change anyway
    trial_id = storage.get_all_trials(single_id)[0]._trial_id

    status, _ = dashboard.request(
        "PUT", f"/api/studies/{single_id}/note", {"version": 1, "body": "study note"}
    )
    assert status == 204
    status, _ = dashboard.request(
        "PUT", f"/api/studies/{single_id}/{trial_id}/note", {"version": 1, "body": "trial note"}
    )
    assert status == 204
    running = storage.create_new_trial(single_id)
    status, body = dashboard.request(
        "POST", f"/api/trials/{running}/user-attrs", {"user_attrs": {"seen": "yes"}}
    )
    assert status == 204, body
    status, body = dashboard.request(
        "POST", f"/api/trials/{running}/tell", {"state": "Complete", "values": [0.5]}
    )
    assert status == 204, body

    from optuna_dashboard._note import get_note_from_system_attrs

    system_attrs = other.get_study_system_attrs(single_id)
    assert get_note_from_system_attrs(system_attrs, None)["body"] == "study note"
    assert get_note_from_system_attrs(system_attrs, trial_id)["body"] == "trial note"
    told = other.get_trial(running)
    assert told.user_attrs == {"seen": "yes"}
    assert told.state == TrialState.COMPLETE and told.values == [0.5]
    assert [t.state for t in other.get_all_trials(single_id)][-1] == TrialState.COMPLETE
    other.remove_session()


def test_a_refresh_is_the_warm_sync_not_a_reload(
    storage: RedisStorage,
    dashboard: Dashboard,
    redis_url: str,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "refresh")
    for i in range(200):
        storage.create_new_trial(
            study_id,
            optuna.trial.create_trial(
                params={"x": i / 200}, distributions={"x": FloatDistribution(0, 1)}, value=i
            ),
        )
    dashboard.get_json(f"/api/studies/{study_id}")  # the first load fills the caches
    count = RoundTrips(monkeypatch)

    per_call: dict[str, int] = {}
    for name in ("get_all_studies", "get_all_trials", "get_best_trial"):
        method = getattr(storage, name)

        def counted(*args, _method=method, _name=name, **kwargs):  # noqa: ANN002, ANN003, ANN202
            before = count.sent
            result = _method(*args, **kwargs)
            per_call[_name] = per_call.get(_name, 0) + count.sent - before
            return result

        monkeypatch.setattr(storage, name, counted)

    def refresh() -> dict:
        per_call.clear()
        dashboard.forget_trials()
        return dashboard.get_json(f"/api/studies/{study_id}?after=200")

    # The studies list (get_study reads all studies: the ids, then their records in one
    # pipeline), the trials' warm sync (one script, not a reload), the best trial (one).
    expected = {"get_all_studies": 2, "get_all_trials": 1, "get_best_trial": 1}
    assert count.of(refresh) == 4
    assert per_call == expected
    other = RedisStorage(redis_url, prefix=prefix)
    for _ in range(3):
        trial_id = other.create_new_trial(study_id)
        other.set_trial_state_values(trial_id, TrialState.COMPLETE, [-1.0])
    detail: dict = {}
    assert count.of(lambda: detail.update(refresh())) == 4
    assert per_call == expected
    assert [t["number"] for t in detail["trials"]] == [200, 201, 202]
    assert [t["number"] for t in detail["best_trials"]] == [200]
    other.remove_session()


def test_without_the_extra_the_command_says_what_to_install(tmp_path: Path) -> None:
    hide = tmp_path / "sitecustomize.py"
    hide.write_text("import sys\nsys.modules['optuna_dashboard'] = None\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run(
        [sys.executable, "-m", "optuna_redis", "dashboard", "redis://127.0.0.1:1/0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "optuna-redis: error: optuna-dashboard is not installed; "
        "run: pip install 'optuna-redis[dashboard]'"
    ]


def _chromium() -> str:
    """The chromium binary; installed with apt-get once (under a lock) when root."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("chromium is missing and apt-get cannot run here (not root)")
    import fcntl

    with open(CHROMIUM_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if shutil.which("chromium") is None:
            done = subprocess.run(
                ["apt-get", "install", "-y", "chromium"], capture_output=True, timeout=900
            )
            if done.returncode != 0:
                subprocess.run(["apt-get", "update"], capture_output=True, timeout=600)
                subprocess.run(
                    ["apt-get", "install", "-y", "chromium"], capture_output=True, timeout=900
                )
    found = shutil.which("chromium")
    if not found:
        pytest.skip("apt-get install chromium failed")
    return found


def _browse(chromium: str, url: str, *extra: str) -> str:
    result = subprocess.run(
        [
            chromium,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            "--virtual-time-budget=15000",
            *extra,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_chromium_shows_the_study_list_and_a_study_page(
    redis_url: str, prefix: str, record_property: Any
) -> None:
    # Its own storage, not the per-codec fixture: the browser run is slow and the codec
    # makes no difference to what the page shows.
    storage = RedisStorage(redis_url, prefix=prefix)
    dashboard = Dashboard(storage)
    request_addfinalizer = dashboard.close
    chromium = _chromium()
    single_id, _ = _fill(storage)
    listing = _browse(chromium, dashboard.url + "/dashboard/", "--dump-dom")
    assert "dash-single" in listing and "dash-multi" in listing
    page = _browse(chromium, f"{dashboard.url}/dashboard/studies/{single_id}", "--dump-dom")
    assert "dash-single" in page
    # The study's trial list page shows each of its trials, "Trial 0" to "Trial n-1".
    trial_list = _browse(
        chromium, f"{dashboard.url}/dashboard/studies/{single_id}/trials", "--dump-dom"
    )
    shown = {int(n) for n in re.findall(r"Trial (\d+)\b", re.sub(r"<[^>]+>", " ", trial_list))}
    assert shown == {t.number for t in storage.get_all_trials(single_id)} != set()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = (ARTIFACTS / "dashboard-study.png").resolve()
    _browse(chromium, f"{dashboard.url}/dashboard/studies/{single_id}", f"--screenshot={shot}")
    assert shot.stat().st_size > 0
    listing_shot = (ARTIFACTS / "dashboard-studies.png").resolve()
    _browse(chromium, dashboard.url + "/dashboard/", f"--screenshot={listing_shot}")
    assert listing_shot.stat().st_size > 0
    # Listed at the end of the run, under "kept test artifacts" (conftest).
    record_property("artifact", f"dashboard screenshot (study page): {shot}")
    record_property("artifact", f"dashboard screenshot (study list): {listing_shot}")
    request_addfinalizer()
