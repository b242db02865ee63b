"""Exceptions of optuna-redis, shared by both codec implementations and the storage."""

from __future__ import annotations


class CorruptRecordError(ValueError):
    """A record in Redis could not be decoded; the message names its key."""


class IncompatibleFormatError(RuntimeError):
    """The Redis prefix holds data written by an incompatible optuna-redis format."""
