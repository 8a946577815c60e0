"""``python -m queue_core``: the ``queue-core`` command line (see ``queue_core.cli``)."""

from __future__ import annotations

import sys

from queue_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
