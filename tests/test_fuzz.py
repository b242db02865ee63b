"""Fuzzing the compiled decoder: only Python exceptions, and always the reference's."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("optuna_redis._codec_c")

SCRIPT = os.path.join(os.path.dirname(__file__), "_fuzz_codec.py")


@pytest.mark.parametrize("seed", [1, 2])
def test_mutated_records_decode_like_the_reference(seed: int) -> None:
    # In a subprocess, so that a crash of the interpreter fails the test, not the run.
    out = subprocess.run(
        [sys.executable, SCRIPT, str(seed), "8"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout}\n{out.stderr[-4000:]}"
    assert "fuzzed" in out.stdout
