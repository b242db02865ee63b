"""The codec interface: picks the compiled implementation or its pure-Python twin.

The storage reaches the codec through ``IMPLEMENTATION`` (or a module handed to it), never
by importing ``_codec_c`` itself. ``USE_EXTENSIONS`` says which implementation is active:
the compiled one unless it is missing, the interpreter is not CPython, or
``OPTUNA_REDIS_NO_EXTENSIONS`` is set to a true value (``1``, ``true``, ``yes``, ``on``;
``0`` or empty keeps the extension).
"""

from __future__ import annotations

import os
import platform
from types import ModuleType

_FALSE_WORDS = ("", "0", "false", "no", "off")


def _extensions_disabled() -> bool:
    return os.environ.get("OPTUNA_REDIS_NO_EXTENSIONS", "").strip().lower() not in _FALSE_WORDS


def _pick() -> tuple[ModuleType, bool]:
    if platform.python_implementation() == "CPython" and not _extensions_disabled():
        try:
            from optuna_redis import _codec_c
        except ImportError:
            pass
        else:
            return _codec_c, True
    from optuna_redis import _codec_py

    return _codec_py, False


IMPLEMENTATION, USE_EXTENSIONS = _pick()
