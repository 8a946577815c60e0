"""examples/digest.py keeps running: it finishes by itself, in a few seconds, on memory://."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digest.py"


def test_the_digest_example_batches_notifications_into_digests() -> None:
    env = {key: value for key, value in os.environ.items() if key != "QUEUE_URL"}
    done = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    for text in [
        "enqueued 16 notifications for 3 users",
        "to bob@example.com: 10 notification(s)",
        "to bob@example.com: 2 notification(s)",
        "to ada@example.com: 3 notification(s)",
        "to cy@example.com: 1 notification(s)",
        "sent 4 digest emails for 16 notifications",
    ]:
        assert text in done.stdout, done.stdout
