"""The codec interface: picks the compiled implementation or its pure-Python twin.

The storage imports codec functions from here only. ``USE_EXTENSIONS`` says which
implementation is active.
"""

from __future__ import annotations

import os
import platform

_FALSE_WORDS = ("", "0", "false", "no", "off")


def _extensions_disabled() -> bool:
    value = os.environ.get("OPTUNA_REDIS_NO_EXTENSIONS", "")
    return value.strip().lower() not in _FALSE_WORDS


USE_EXTENSIONS = False
if platform.python_implementation() == "CPython" and not _extensions_disabled():
    try:
        from optuna_redis import _codec_c as _impl  # type: ignore[attr-defined]

        USE_EXTENSIONS = True
    except ImportError:
        pass
if not USE_EXTENSIONS:
    from optuna_redis import _codec_py as _impl

decode_attr = _impl.decode_attr
decode_attrs = _impl.decode_attrs
decode_trial = _impl.decode_trial
encode_attr = _impl.encode_attr
encode_datetime = _impl.encode_datetime
encode_distribution = _impl.encode_distribution
encode_name = _impl.encode_name
encode_param = _impl.encode_param
encode_state = _impl.encode_state
encode_trial = _impl.encode_trial
encode_value = _impl.encode_value
encode_values = _impl.encode_values
IMPLEMENTATION = _impl
