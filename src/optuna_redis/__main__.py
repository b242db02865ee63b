"""``python -m optuna_redis``: the ``optuna-redis`` command (see ``optuna_redis._cli``)."""

import sys

from optuna_redis._cli import main

if __name__ == "__main__":
    sys.exit(main())
