"""Fuzz the compiled decoder against the reference one (run as a script by test_fuzz.py).

Random and mutated records go to both codecs; they must agree: the same trial, or a
CorruptRecordError with the same message. Any other exception fails; a crash of the
interpreter shows as the process dying. Usage: python _fuzz_codec.py SEED SECONDS
"""

from __future__ import annotations

import datetime
import random
import sys
import time
import warnings

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.trial import TrialState

from optuna_redis import CorruptRecordError
from optuna_redis import _codec_c
from optuna_redis import _codec_py
from optuna_redis import _record
from optuna_redis._distributions import StudyDistributions


def seed_records(rng: random.Random) -> list[bytes]:
    records = []
    for i in range(20):
        dists = {
            "x": FloatDistribution(-1, 1),
            "lr": FloatDistribution(1e-5, 1, log=True),
            "n": IntDistribution(0, 9, step=3),
            "c": CategoricalDistribution(["a", None, 1.5, True]),
        }
        chosen = {k: d for k, d in dists.items() if rng.random() < 0.8}
        params = {
            "x": rng.uniform(-1, 1),
            "lr": 10 ** rng.uniform(-5, 0),
            "n": rng.choice([0, 3, 6, 9]),
            "c": rng.choice(["a", None, 1.5, True]),
        }
        state = rng.choice(list(TrialState))
        trial = optuna.trial.create_trial(
            state=state,
            values=[rng.uniform(-5, 5)] * rng.randint(1, 3)
            if state == TrialState.COMPLETE
            else None,
            params={k: params[k] for k in chosen},
            distributions=chosen,
            user_attrs={"i": i, "nested": {"a": [1, 2.5, None]}, "s": "é" * rng.randint(0, 3)},
            system_attrs={"big": 2**70} if i % 2 else {},
            intermediate_values={s: rng.random() for s in range(rng.randint(0, 5))},
        )
        trial.datetime_start = datetime.datetime(2026, 1, 2, 3, 4, 5, rng.randint(0, 999999))
        records.append(_record.encode_trial(trial))
        # The same params as entries that refer to the study's registered distributions.
        short = _record.encode_state(state) + b"".join(
            _record.param_entry(name.encode(), chosen[name].to_internal_repr(value), b"")
            for name, value in trial.params.items()
        )
        records.append(short)
    return records


def registered() -> StudyDistributions:
    """A study whose dists hash holds x, n and c (not lr)."""
    dists = StudyDistributions()
    dists.register(
        "fuzz:dists",
        [
            b"x",
            _record.encode_distribution(FloatDistribution(-1, 1)),
            b"n",
            _record.encode_distribution(IntDistribution(0, 9, step=3)),
            b"c",
            _record.encode_distribution(CategoricalDistribution(["a", None, 1.5, True])),
        ],
    )
    return dists


def mutate(rng: random.Random, record: bytes) -> bytes:
    data = bytearray(record)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:  # flip a bit
            i = min(pos, len(data) - 1)
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # insert random bytes
            data[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 2:  # delete a run
            del data[pos : pos + rng.randint(1, 8)]
        elif op == 3 and len(data) > 5:  # overwrite a u32 with an extreme length
            i = min(pos, len(data) - 4)
            data[i : i + 4] = rng.choice([0, 1, 8, 16, 2**31, 2**32 - 1]).to_bytes(4, "little")
        elif op == 4:  # truncate
            del data[pos:]
        else:  # splice in a slice of itself
            a = rng.randrange(len(data) + 1)
            data[pos:pos] = data[a : a + rng.randint(1, 32)]
    return bytes(data)


def outcome(codec, record: bytes):
    try:
        trial = codec.decode_trial("fuzz:key", 7, 7, record, registered())
    except CorruptRecordError as e:
        return ("error", str(e))
    # repr: compares NaN equal to NaN, 1 unequal to 1.0 and True, and dict orders.
    return ("trial", repr(vars(trial)))


def main() -> None:
    seed, seconds = int(sys.argv[1]), float(sys.argv[2])
    # Mutated distributions make Optuna warn (e.g. a range not divisible by its step).
    warnings.simplefilter("ignore")
    rng = random.Random(seed)
    records = seed_records(rng)
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        for _ in range(200):
            if rng.random() < 0.1:
                record = rng.randbytes(rng.randint(0, 64))
            else:
                record = mutate(rng, rng.choice(records))
            expected = outcome(_codec_py, record)
            got = outcome(_codec_c, record)
            if got != expected:
                raise AssertionError(
                    f"codecs disagree on {record!r}:\n  py: {expected}\n  c:  {got}"
                )
            n += 1
    print(f"fuzzed {n} records")


if __name__ == "__main__":
    main()
