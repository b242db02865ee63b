"""What the standard library's JSON (the ``J`` attribute form) cannot store faithfully.

Attribute values go through orjson when they can. The rest (NaN, ±inf, integers beyond
64 bits, strings with surrogate code points, nesting deeper than orjson's limit) fall
back to ``json``, which has two faults that would break a round trip, so both codecs
refuse such values at write time with this check:

- nesting: ``json.loads`` recurses once per level, and its limit is the interpreter's
  recursion limit counted from the caller's stack, so a deep value written from a
  shallow stack may be unreadable from a deeper one (and the trial with it). Values may
  nest ``MAX_DEPTH`` levels, orjson's own limit, whichever form they take.
- surrogate pairs: ``json.dumps`` writes code points as ``\\u`` escapes, and
  ``json.loads`` reads an escaped high surrogate followed by a low one as the single
  character they spell in UTF-16, so ``"\\ud83c\\udf89"`` (two code points) would come
  back as ``"🎉"`` (one). Lone surrogates round-trip and are kept.
"""

from __future__ import annotations

import re
from typing import Any

MAX_DEPTH = 254
_SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")


def check_for_stdlib(value: Any) -> None:
    """Raise ValueError if ``json`` could not give ``value`` back exactly."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, (dict, list, tuple)):
            if depth > MAX_DEPTH:
                raise ValueError(
                    f"The attribute value is nested deeper than {MAX_DEPTH} levels, "
                    "which the storage could not promise to read back."
                )
            if isinstance(item, dict):
                for key, child in item.items():
                    if isinstance(key, str):
                        _check_text(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def _check_text(text: str) -> None:
    if _SURROGATE_PAIR.search(text):
        raise ValueError(
            "The attribute value holds a high surrogate followed by a low one "
            f"({text[:40]!r}...), which JSON would read back as one character."
        )
