"""The twins: the compiled implementations' names, or their pure-Python twins'.

As yarl's ``_quoting`` does, this module re-exports the names of one implementation of
each, and the rest of the package imports them from here, never from the twins
themselves: the decoder (``_codec_c`` or ``_codec_py``) and the bulk encoder of copies
(``_bulk_c`` or ``_bulk_py``). ``USE_EXTENSIONS`` says which ones are active: the compiled
ones unless one is missing, the interpreter is not CPython, or
``OPTUNA_REDIS_NO_EXTENSIONS`` is set to a true value (``1``, ``true``, ``yes``, ``on``;
``0`` or empty keeps the extensions).
"""

from __future__ import annotations

import os
import platform

__all__ = [
    "USE_EXTENSIONS",
    "TrialsEncoder",
    "decode_attr",
    "decode_attrs",
    "decode_range",
    "decode_trial",
    "decode_trials",
    "pack_mget",
    "trials_digest",
]

_FALSE_WORDS = ("", "0", "false", "no", "off")


def _extensions_disabled() -> bool:
    return os.environ.get("OPTUNA_REDIS_NO_EXTENSIONS", "").strip().lower() not in _FALSE_WORDS


USE_EXTENSIONS = False
if platform.python_implementation() == "CPython" and not _extensions_disabled():
    try:
        from optuna_redis._bulk_c import TrialsEncoder
        from optuna_redis._bulk_c import trials_digest
        from optuna_redis._codec_c import decode_attr
        from optuna_redis._codec_c import decode_attrs
        from optuna_redis._codec_c import decode_range
        from optuna_redis._codec_c import decode_trial
        from optuna_redis._codec_c import decode_trials
        from optuna_redis._codec_c import pack_mget
    except ImportError:
        pass
    else:
        USE_EXTENSIONS = True
if not USE_EXTENSIONS:
    from optuna_redis._bulk_py import TrialsEncoder  # type: ignore[assignment]
    from optuna_redis._bulk_py import trials_digest
    from optuna_redis._codec_py import decode_attr
    from optuna_redis._codec_py import decode_attrs
    from optuna_redis._codec_py import decode_range
    from optuna_redis._codec_py import decode_trial
    from optuna_redis._codec_py import decode_trials
    from optuna_redis._codec_py import pack_mget
