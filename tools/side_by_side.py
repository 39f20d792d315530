"""Run one pytest session as N pytest processes side by side: ``--shard K/N`` each.

racecourse's fork sessions cannot use pytest-xdist (every xdist worker has execnet's
reader thread, and fork() in a process with threads can deadlock the child; see
tests/conftest.py), so a fork session would run one test at a time and spend most of its
time waiting for processes to start and timeouts to fire. N plain pytest processes have
no thread, and share the cores the way xdist's workers would.

    python tools/side_by_side.py 2 -- pytest -n 0 [ARGS...]
    python tools/side_by_side.py 2 -- coverage run -m pytest -n 0 [ARGS...]

The first shard's output is shown as it runs; the others' follow it when they end. The
exit status is the first failing shard's (pytest's "no tests collected", 5, counts as a
failure only when every shard collected nothing). Ctrl-C and SIGTERM reach every shard.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from typing import List, Optional

NO_TESTS_COLLECTED = 5


def main(argv: List[str]) -> int:
    if len(argv) < 3 or argv[1] != "--" or not argv[0].isdigit() or int(argv[0]) < 1:
        print("usage: python tools/side_by_side.py N -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    count, command = int(argv[0]), argv[2:]
    logs = [None] + [tempfile.TemporaryFile() for _ in range(count - 1)]
    shards = [
        subprocess.Popen(command + [f"--shard={index + 1}/{count}"], stdout=log, stderr=subprocess.STDOUT if log else None)
        for index, log in enumerate(logs)
    ]

    def forward(signum: int, frame: object) -> None:
        for shard in shards:
            if shard.poll() is None:
                shard.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    statuses: List[Optional[int]] = []
    try:
        statuses = [shard.wait() for shard in shards]
    except KeyboardInterrupt:  # the terminal sent SIGINT to every shard too
        statuses = [shard.wait() for shard in shards]
    for index, log in enumerate(logs[1:], 2):
        assert log is not None
        log.seek(0)
        sys.stdout.flush()
        print(f"\n---------- shard {index} of {count} ----------", flush=True)
        sys.stdout.buffer.write(log.read())
        sys.stdout.flush()
    failing = [status for status in statuses if status not in (0, NO_TESTS_COLLECTED)]
    if failing:
        status = failing[0] or 1
        return status if status > 0 else 128 - status  # a shard killed by a signal
    return NO_TESTS_COLLECTED if all(status == NO_TESTS_COLLECTED for status in statuses) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
