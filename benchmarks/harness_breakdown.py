"""Where a stress trial's time goes, next to the same loop in a plain script: raw-value,
2 processes, interleaved in one run, per start method, every moment on the machine's one
monotonic clock.

Both are instrumented alike: each worker notes when it passed the start line (racecourse's
semaphore, the plain script's Barrier) and when its loop ended; the parent notes when it
released the workers (racecourse), when it came back from the Barrier itself (plain), and
when it heard each "done". Printed per start method, as medians over the trials:

    release  (racecourse) the parent's releasing of the workers, one semaphore post each
    wake     release to the first worker past the start line
    stagger  first worker past the start line to the last
    work     first worker past the start line to the last loop ended
    tail     last loop ended to its "done" heard by the parent
    late     (plain) the parent back from its Barrier after its first worker had begun

and each side's span both ways: "old" (racecourse from its release, the plain script from its
parent's return from the Barrier, as racecourse bench timed them before) and "new" (both from
the first worker past the start line, as they are timed now), with the ratios of their
medians and the median of the per-pair differences.

    python benchmarks/harness_breakdown.py [--ops 200000] [--repeats 21] [--methods spawn,forkserver]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from typing import Any, Dict, List

from racecourse import catalogue, stress_runner
from racecourse.catalogue import worker_in_child
from racecourse.model import call_with
from racecourse.sharing import available_start_methods


def _noting_body(conn: Any, target: Any, shared: Any, index: int, processes: int, ops: int, start_line: Any,
                 startup: float, times: Any) -> float:
    """stress_runner._worker_body, noting when the worker's loop ended as well."""
    worker = worker_in_child(target)
    conn.send(("ready", None))
    if not start_line.acquire(timeout=startup):
        raise stress_runner.TrialTimeout("the parent never opened the start line")
    began = time.monotonic()
    call_with(worker, {**shared, "ops": ops, "index": index, "processes": processes})
    times[index] = time.monotonic()
    return began


class _NotedWorkers(stress_runner._Workers):
    """The stress runner's workers, run exactly as run_trial runs them, with the notes kept."""

    notes: List[Dict[str, Any]] = []

    def launch(self, shared: Any, processes: int, ops: int, startup: float) -> None:
        self.ended = self.share.context.RawArray("d", processes)
        target = self.scenario.child_target
        self.start(processes, stress_runner.child_main, lambda index, sender: (
            _noting_body, sender, target, shared, index, processes, ops, self.start_line, startup, self.ended))

    def run(self, startup_deadline: float, timeout: float) -> float:
        self.collect("ready", startup_deadline)
        released = time.monotonic()
        for _ in self.processes:
            self.start_line.release()
        posted = time.monotonic()
        finished = self.collect("done", released + timeout)
        self.let_exit(time.monotonic() + stress_runner.GRACE_SECONDS)
        self.notes.append({"released": released, "posted": posted, "began": [b for _, b in finished], "ended": list(self.ended),
                           "heard": [h for h, _ in finished]})
        return max(h for h, _ in finished) - min(b for _, b in finished)


def _plain_child(counter: Any, ops: int, barrier: Any, conn: Any, ended: Any, index: int) -> None:
    """racecourse.bench.measure._plain_child, noting when its loop ended as well."""
    barrier.wait()
    began = time.monotonic()
    for _ in range(ops):
        counter.value += 1
    ended[index] = time.monotonic()
    conn.send(began)
    conn.close()


def plain_trial(method: str, processes: int, ops: int) -> Dict[str, Any]:
    ctx: Any = multiprocessing.get_context(method)
    counter = ctx.Value("i", 0, lock=False)
    barrier = ctx.Barrier(processes + 1)
    ended = ctx.RawArray("d", processes)
    children, conns = [], []
    for index in range(processes):
        receiver, sender = ctx.Pipe(duplex=False)
        conns.append(receiver)
        child = ctx.Process(target=_plain_child, args=(counter, ops, barrier, sender, ended, index), daemon=True)
        children.append(child)
        child.start()
        sender.close()
    barrier.wait(120)
    back = time.monotonic()
    began, heard = [], []
    for conn in conns:
        began.append(conn.recv())
        heard.append(time.monotonic())
    for child in children:
        child.join(5.0)
    return {"back": back, "began": began, "ended": list(ended), "heard": heard}


def phases(note: Dict[str, Any], start: float) -> Dict[str, float]:
    first, last_end = min(note["began"]), max(note["ended"])
    return {"wake": first - start, "stagger": max(note["began"]) - first, "work": last_end - first,
            "tail": max(note["heard"]) - last_end, "old": max(note["heard"]) - start,
            "new": max(note["heard"]) - first}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--methods", default=",".join(available_start_methods()))
    args = parser.parse_args()
    stress_runner._Workers = _NotedWorkers  # type: ignore[misc]
    scenario = catalogue.builtin_by_id()["raw-value"]
    print(f"raw-value, 2 processes x {args.ops:,} ops, {args.repeats} interleaved pairs; medians in ms")
    print(f"{'method':<11}{'side':<11}{'release':>8}{'wake':>7}{'stagger':>9}{'work':>8}{'tail':>7}{'late':>7}"
          f"{'old':>8}{'new':>8}")
    for method in args.methods.split(","):
        ours: List[Dict[str, float]] = []
        plain: List[Dict[str, float]] = []
        for _ in range(args.repeats):
            _NotedWorkers.notes.clear()
            trial = stress_runner.run_trial(scenario, method, 2, args.ops, 120.0)
            assert trial.failure is None, trial.failure
            (note,) = _NotedWorkers.notes
            ours.append({**phases(note, note["released"]), "release": note["posted"] - note["released"]})
            mine = plain_trial(method, 2, args.ops)
            row = phases(mine, mine["back"])
            row["wake"] = row["release"] = float("nan")  # the plain parent cannot tell when its Barrier released
            row["late"] = mine["back"] - min(mine["began"])
            plain.append(row)
        for side, rows in (("racecourse", ours), ("plain", plain)):
            cells = [statistics.median(r[k] for r in rows) * 1000 if k in rows[0] else float("nan")
                     for k in ("release", "wake", "stagger", "work", "tail", "late", "old", "new")]
            slow = "late" if side == "plain" else "release"
            late = f"{slow} > 0.5 ms in {sum(r[slow] > 0.0005 for r in rows)}/{len(rows)}"
            print(f"{method:<11}{side:<11}" + "".join(f"{c:{w}.2f}" for c, w in zip(cells, (8, 7, 9, 8, 7, 7, 8, 8)))
                  + f"   {late}")
        for span in ("old", "new"):
            ratio = statistics.median(r[span] for r in ours) / statistics.median(r[span] for r in plain)
            paired = statistics.median(a[span] - b[span] for a, b in zip(ours, plain)) * 1000
            print(f"{method:<11}{span} span: ratio of medians {ratio:.3f}, median per-pair difference {paired:+.2f} ms")


if __name__ == "__main__":
    main()
