"""Every code a Lua script returns has a name in ``Reply``, and the prelude is shared."""

from __future__ import annotations

import re

import pytest

from optuna_redis._scripts import NAMES
from optuna_redis._scripts import Reply
from optuna_redis._scripts import load_sources

# `return 1`, `return -2`, `return {-1}`, `return {0, i, stored}`, `return {1, number}`.
CODE = re.compile(r"^\s*return \{?(-?\d+)\b", re.M)


@pytest.mark.parametrize("name", NAMES)
def test_every_returned_code_is_named(name: str) -> None:
    source = load_sources()[name]
    codes = {int(c) for c in CODE.findall(source)}
    for code in codes:
        assert Reply(code).value == code  # ValueError if a code has no name


def test_the_finished_state_test_is_written_once() -> None:
    sources = load_sources()
    for name, source in sources.items():
        assert source.count("state == '1' or state == '2' or state == '3'") == 1, name
    users = [n for n, s in sources.items() if "is_finished(" in s.split("end\n", 1)[1]]
    assert sorted(users) == ["append_trial", "set_trial_param", "set_trial_state"]
