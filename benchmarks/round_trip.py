"""The floor of one controlled step: a parent-child round trip, measured several ways.

Each visible operation under control is one round trip: the parent says "go", the child
does the operation and answers with its next one. This times round trips between the
parent and one child, side by side in one run, interleaved in short rounds (a shared
machine's busy spells fall on every way alike), as a ratio to the controller's way
(``Connection.send``/``recv`` of a pickled tuple one way, bytes the other):

- connection: what the controller did before #17: a pickled tuple child -> parent;
- bytes pipe: ``os.write``/``os.read`` of a few bytes on a raw pipe, nothing pickled;
- semaphores: two ``multiprocessing.Semaphore``s (futexes), one each way;
- spin + yield: a flag in shared memory, each side spinning with ``os.sched_yield()``.

    python benchmarks/round_trip.py [--seconds 6] [--rounds 6] [--start-method fork]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from typing import Any, Callable, Dict, List

_STOP = b"q"


def _connection_child(conn: Any) -> None:
    while conn.recv_bytes() != _STOP:
        conn.send(("op", None, "read", "counter", "counter.value", None, False))


def _pipe_child(down: int, up: int) -> None:
    while os.read(down, 64) != _STOP:
        os.write(up, b"o")


def _semaphore_child(go: Any, answer: Any, flag: Any) -> None:
    while True:
        go.acquire()
        if flag.value:
            return
        answer.release()


def _spin_child(turn: Any) -> None:
    # turn: 1 = the child's turn, 2 = the parent's, 3 = stop
    while True:
        value = turn.value
        if value == 1:
            turn.value = 2
        elif value == 3:
            return
        else:
            os.sched_yield()


class _Way:
    """One way of making a round trip: a child process and a function that does n."""

    def __init__(self, ctx: Any, name: str) -> None:
        self.name = name
        self.child: Any = None
        self.stop: Callable[[], None] = lambda: None
        self.trips: Callable[[int], None]
        if name == "connection":
            mine, theirs = ctx.Pipe()
            self.child = ctx.Process(target=_connection_child, args=(theirs,), daemon=True)

            def trips(n: int) -> None:
                for _ in range(n):
                    mine.send_bytes(b"g")
                    mine.recv()
            self.trips = trips
            self.stop = lambda: mine.send_bytes(_STOP)
        elif name == "bytes pipe":
            down_r, down_w = os.pipe()
            up_r, up_w = os.pipe()
            self.child = ctx.Process(target=_pipe_child, args=(down_r, up_w), daemon=True)
            if ctx.get_start_method() != "fork":
                raise SystemExit("bytes pipe passes raw fds: run with --start-method fork")

            def trips(n: int) -> None:
                for _ in range(n):
                    os.write(down_w, b"g")
                    os.read(up_r, 64)
            self.trips = trips
            self.stop = lambda: os.write(down_w, _STOP) and None
        elif name == "semaphores":
            go, answer, flag = ctx.Semaphore(0), ctx.Semaphore(0), ctx.Value("b", 0, lock=False)
            self.child = ctx.Process(target=_semaphore_child, args=(go, answer, flag), daemon=True)

            def trips(n: int) -> None:
                for _ in range(n):
                    go.release()
                    answer.acquire()

            def stop() -> None:
                flag.value = 1
                go.release()
            self.trips = trips
            self.stop = stop
        else:
            turn = ctx.Value("i", 2, lock=False)
            self.child = ctx.Process(target=_spin_child, args=(turn,), daemon=True)

            def trips(n: int) -> None:
                for _ in range(n):
                    turn.value = 1
                    while turn.value != 2:
                        os.sched_yield()
            self.trips = trips
            self.stop = lambda: setattr(turn, "value", 3)
        self.child.start()

    def rate(self, seconds: float) -> float:
        done = 0
        began = time.perf_counter()
        while time.perf_counter() - began < seconds:
            self.trips(200)
            done += 200
        return done / (time.perf_counter() - began)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self.child.join(2.0)
            if self.child.is_alive():
                self.child.kill()
                self.child.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--start-method", default="fork")
    args = parser.parse_args()
    ctx = multiprocessing.get_context(args.start_method)
    names = ["connection", "semaphores", "spin + yield"]
    if args.start_method == "fork":
        names.insert(1, "bytes pipe")
    ways: List[_Way] = []
    try:
        for name in names:
            ways.append(_Way(ctx, name))
        for way in ways:
            way.rate(0.05)  # warm up
        rates: Dict[str, List[float]] = {}
        per_cell = args.seconds / args.rounds / len(ways)
        for _ in range(args.rounds):
            for way in ways:
                rates.setdefault(way.name, []).append(way.rate(per_cell))
    finally:
        for way in ways:
            way.close()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    base = statistics.median(rates["connection"])
    print(f"round trips parent <-> one child, {args.start_method}; median of {args.rounds} interleaved rounds; "
          f"{os.cpu_count()} cores, load average {load:.1f}")
    for name in names:
        median = statistics.median(rates[name])
        print(f"{name:<13} {median:>10,.0f} round trips/s  {1e6 / median:6.1f} us  x{median / base:.2f}")


if __name__ == "__main__":
    main()
