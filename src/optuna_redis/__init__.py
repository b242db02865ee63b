"""optuna-redis: a concurrency-safe, pickle-free Optuna storage on Redis."""

from optuna_redis._codec import USE_EXTENSIONS
from optuna_redis._copy import CopyError
from optuna_redis._copy import CopyResult
from optuna_redis._copy import copy_studies
from optuna_redis._errors import CorruptRecordError
from optuna_redis._errors import IncompatibleFormatError
from optuna_redis._errors import RedisOutOfMemoryError
from optuna_redis._errors import RedisUnavailableError
from optuna_redis._errors import UnsupportedServerError
from optuna_redis._legacy import LegacyRedisStorage
from optuna_redis._legacy_pickle import LegacyRecordError
from optuna_redis._retry import DeadlineRetry
from optuna_redis._storage import RedisStorage

__version__ = "0.1.0"

__all__ = [
    "CopyError",
    "CopyResult",
    "CorruptRecordError",
    "DeadlineRetry",
    "IncompatibleFormatError",
    "UnsupportedServerError",
    "LegacyRecordError",
    "LegacyRedisStorage",
    "RedisOutOfMemoryError",
    "RedisUnavailableError",
    "RedisStorage",
    "USE_EXTENSIONS",
    "__version__",
    "copy_studies",
]
