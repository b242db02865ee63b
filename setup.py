"""Build script: the extension modules live here, everything else is in pyproject.toml."""

from setuptools import setup

setup()
