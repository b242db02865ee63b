"""Build script: the compiled twins (the decoder, the bulk encoder) and their Cython
directives; metadata is in pyproject.toml.

Environment variables read at build time:
    OPTUNA_REDIS_NO_EXTENSIONS=1   build without the extension (a pure py3-none-any wheel)
    OPTUNA_REDIS_CYTHON_TRACE=1    line-trace debug build (coverage and profilers see .pyx lines)
"""

import os

from setuptools import Extension
from setuptools import setup

_FALSE_WORDS = ("", "0", "false", "no", "off")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in _FALSE_WORDS


def _extensions() -> list:
    if _flag("OPTUNA_REDIS_NO_EXTENSIONS"):
        return []
    from Cython.Build import cythonize

    trace = _flag("OPTUNA_REDIS_CYTHON_TRACE")
    macros = [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")] if trace else []
    extensions = [
        Extension(f"optuna_redis.{name}", [f"src/optuna_redis/{name}.pyx"], define_macros=macros)
        for name in ("_codec_c", "_bulk_c")
    ]
    return cythonize(
        extensions,
        compiler_directives={"language_level": "3", "linetrace": trace, "embedsignature": True},
    )


setup(ext_modules=_extensions())
