"""What sharing costs, measured: the figures behind ``racecourse bench``.

(a) the cost table: increments per second for each way of sharing a counter, at 1, 2
    and 4 processes, under each start method, as a ratio to the raw Value measured in
    the same run with the same method and process count;
(b) the harness overhead: raw-value through racecourse's stress runner against the same
    loop in a plain hand-written multiprocessing script, interleaved in one run;
(c) fast-trial throughput: trials per second for raw-value, 2 processes x 1 op;
(d) controlled-scheduler throughput: schedules per second for raw-value at 2 x 1 and 3 x 2
    under each start method, as a ratio of its steps per second to the floor of a step (a
    one-byte parent-child pipe round trip, placed like the controller) measured in the
    same run.

Every figure is a median of several measurements. Work is timed from the moment the first
process is past the start line (its own reading of the system-wide monotonic clock) until
the last one is done, so that process start-up, and the scheduler's waking of the
processes, are not counted.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from .. import catalogue, fast_trials, stress_runner
from ..errors import RacecourseError
from ..model import call_with
from ..sharing import Share, available_start_methods, default_start_method, stop_processes
from .strategies import RAW, STRATEGIES, count_locally

PROCESS_COUNTS = (1, 2, 4)
# How long a measurement may take before the bench gives up on it.
_TIMEOUT = 120.0

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    """How much to measure: --quick finishes in under a minute on 2 cores."""

    repeats: int  # measurements per figure; the figure is their median
    scale: float  # multiplies each strategy's ops
    overhead_ops: int
    overhead_repeats: int
    fast_trials: int  # trials per fast-trial run
    fast_runs: int  # fast-trial runs; the rate is their median
    schedules: int  # controlled schedules explored


QUICK = Plan(repeats=3, scale=0.5, overhead_ops=200_000, overhead_repeats=3, fast_trials=10_000, fast_runs=1,
             schedules=500)
FULL = Plan(repeats=5, scale=5, overhead_ops=1_000_000, overhead_repeats=7, fast_trials=50_000, fast_runs=3,
            schedules=3000)


@dataclass
class Cost:
    name: str
    processes: int
    start_method: str
    ops_per_s: float
    vs_raw: float = 0.0

    def to_json(self) -> Dict[str, Any]:
        return {"name": self.name, "processes": self.processes, "start_method": self.start_method,
                "ops_per_s": _figure(self.ops_per_s), "vs_raw": _figure(self.vs_raw)}


@dataclass
class Overhead:
    start_method: str
    racecourse_s: float
    plain_s: float

    @property
    def ratio(self) -> float:
        return self.racecourse_s / self.plain_s

    def to_json(self) -> Dict[str, Any]:
        return {"start_method": self.start_method, "racecourse_s": _figure(self.racecourse_s),
                "plain_s": _figure(self.plain_s), "ratio": _figure(self.ratio)}


@dataclass
class ControlRate:
    """Controlled schedules per second at one size, and the floor they stand against."""

    start_method: str
    processes: int
    ops: int
    schedules_per_s: float
    steps_per_s: float  # visible operations per second (each one parent-worker round trip)
    floor_per_s: float  # bare pipe round trips per second, parent and one child, same placement

    @property
    def vs_floor(self) -> float:
        return self.steps_per_s / self.floor_per_s

    def to_json(self) -> Dict[str, Any]:
        return {"start_method": self.start_method, "size": f"{self.processes}x{self.ops}",
                "schedules_per_s": _figure(self.schedules_per_s), "steps_per_s": _figure(self.steps_per_s),
                "floor_round_trips_per_s": _figure(self.floor_per_s), "vs_floor": _figure(self.vs_floor)}


@dataclass
class BenchResult:
    quick: bool
    strategies: List[Cost] = field(default_factory=list)
    overhead: List[Overhead] = field(default_factory=list)
    trials_per_s: Dict[str, float] = field(default_factory=dict)
    race_share: Dict[str, float] = field(default_factory=dict)  # raw-value 2x1 trials that lost an update
    schedules_per_s: Optional[float] = None
    schedules_note: str = ""
    control: List[ControlRate] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def overhead_ratio(self) -> Optional[float]:
        """The ratio under the interpreter's default start method (else the first measured)."""
        for entry in self.overhead:
            if entry.start_method == default_start_method():
                return entry.ratio
        return self.overhead[0].ratio if self.overhead else None

    def to_json(self) -> Dict[str, Any]:
        ratio = self.overhead_ratio
        return {
            "strategies": [c.to_json() for c in self.strategies],
            "overhead_ratio": None if ratio is None else _figure(ratio),
            "overhead": [o.to_json() for o in self.overhead],
            "trials_per_s": {m: _figure(v) for m, v in self.trials_per_s.items()},
            "race_share": {m: _figure(v) for m, v in self.race_share.items()},
            "schedules_per_s": None if self.schedules_per_s is None else _figure(self.schedules_per_s),
            "schedules_note": self.schedules_note,
            "control": [c.to_json() for c in self.control],
            "quick": self.quick,
            "python": platform.python_version(),
            "implementation": sys.implementation.name,
            "cpus": _cpus(),
            "seconds": round(self.seconds, 1),
        }


def _figure(value: float) -> float:
    """Six significant digits: more than any measurement here is worth, at any magnitude."""
    return float(f"{value:.6g}")


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# -- (a) the cost table ------------------------------------------------------------------


def _bench_child(shared: List[Dict[str, Any]], barriers: Dict[int, Any], conn: Any) -> None:
    """One measuring process, kept for every strategy under one start method.

    Each command names a strategy, its ops and how many processes take part: wait at that
    many processes' barrier, run the worker, send when it began and ended.
    """
    try:
        while True:
            command = conn.recv()
            if command is None:
                break
            number, ops, processes = command
            worker = STRATEGIES[number].worker
            assert worker is not None
            barriers[processes].wait(_TIMEOUT)
            began = time.monotonic()
            call_with(worker, {**shared[number], "ops": ops})
            conn.send(("times", (began, time.monotonic())))
    except BaseException:  # the parent reports it
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


class BenchError(RacecourseError, RuntimeError):
    """A measurement could not be made (a worker raised, died or hung)."""


class _BenchWorkers:
    """max(PROCESS_COUNTS) processes started once per start method: process start-up (a
    fifth of a second each under spawn) is paid once, not once per figure."""

    def __init__(self, share: Share) -> None:
        ctx: Any = share.context
        # Every strategy's shared objects, made before the processes start: synchronized
        # objects reach a child only through inheritance.
        self.shared = [strategy.build(share) if strategy.worker is not None else {} for strategy in STRATEGIES]
        self.barriers = {n: ctx.Barrier(n) for n in PROCESS_COUNTS}
        self.children: List[Any] = []
        self.conns: List[Any] = []
        try:
            for _ in range(max(PROCESS_COUNTS)):
                mine, theirs = ctx.Pipe()
                self.conns.append(mine)
                child = ctx.Process(target=_bench_child, args=(self.shared, self.barriers, theirs), daemon=True)
                self.children.append(child)
                child.start()
                theirs.close()
        except BaseException:
            self.close()
            raise

    def measure(self, number: int, processes: int, ops: int) -> float:
        """Seconds from the first process past the barrier to the last one done."""
        taking_part = list(zip(self.conns, self.children))[:processes]
        for conn, _ in taking_part:
            conn.send((number, ops, processes))
        times: List[Tuple[float, float]] = []
        for conn, child in taking_part:
            if not conn.poll(_TIMEOUT):
                raise BenchError(f"{STRATEGIES[number].name}: a process did not finish within {_TIMEOUT:g} s")
            try:
                kind, payload = conn.recv()
            except EOFError:
                child.join(1.0)
                raise BenchError(f"{STRATEGIES[number].name}: a process died (exit status {child.exitcode})") from None
            if kind == "error":
                raise BenchError(f"{STRATEGIES[number].name} raised in a child:\n{payload}")
            times.append(payload)
        return max(end for _, end in times) - min(began for began, _ in times)

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.send(None)
            except OSError:
                pass  # that one is gone already
        exit_by = time.monotonic() + 2.0
        for child in self.children:
            child.join(max(0.0, exit_by - time.monotonic()))
        for barrier in self.barriers.values():
            barrier.abort()
        stop_processes(self.children)
        for conn in self.conns:
            conn.close()


def _pool_map_reduce(pool: Any, processes: int, ops: int) -> float:
    """Seconds for ``processes`` Pool tasks counting ``ops`` each, the parent adding up."""
    began = time.monotonic()
    total = sum(pool.map(count_locally, [ops] * processes, chunksize=1))
    seconds = time.monotonic() - began
    if total != ops * processes:
        raise BenchError(f"Pool map-reduce counted {total}, not {ops * processes}")
    return seconds


def cost_table(methods: List[str], plan: Plan, progress: Optional[Progress] = None) -> List[Cost]:
    """Every strategy at every process count, round after round: a figure is the median of
    its rounds, and a slow moment of a shared machine falls on every strategy alike rather
    than on whichever was being measured then."""
    costs: List[Cost] = []
    for method in methods:
        seconds: Dict[Tuple[int, int], List[float]] = {}
        with Share(method) as share:  # one Manager per start method serves every Manager strategy
            workers = _BenchWorkers(share)
            try:
                # One Pool for every process count (n tasks keep at most n of its processes
                # busy): a second Pool would fork while the first one's handler threads run.
                widest = max(PROCESS_COUNTS)
                pool = share.Pool(widest)
                pool.map(count_locally, [1] * widest, chunksize=1)  # every Pool process is up before any clock starts
                for round_number in range(plan.repeats):
                    if progress is not None:
                        progress(f"cost table, {method}, round {round_number + 1} of {plan.repeats}")
                    for number, strategy in enumerate(STRATEGIES):
                        ops = max(1, int(strategy.ops * plan.scale))
                        for processes in PROCESS_COUNTS:
                            if strategy.worker is None:
                                taken = _pool_map_reduce(pool, processes, ops)
                            else:
                                taken = workers.measure(number, processes, ops)
                            seconds.setdefault((number, processes), []).append(taken)
            finally:
                workers.close()
        for (number, processes), rounds in seconds.items():
            strategy = STRATEGIES[number]
            ops = max(1, int(strategy.ops * plan.scale))
            costs.append(Cost(strategy.name, processes, method, processes * ops / statistics.median(rounds)))
    raw = {(c.start_method, c.processes): c.ops_per_s for c in costs if c.name == RAW}
    for cost in costs:
        cost.vs_raw = cost.ops_per_s / raw[(cost.start_method, cost.processes)]
    return costs


# -- (b) harness overhead -----------------------------------------------------------------


def _plain_child(counter: Any, ops: int, barrier: Any, conn: Any) -> None:
    """What a user writes by hand: wait at the barrier, increment, say done (with the time
    it began: the parent's own clock starts only when the barrier has woken the parent)."""
    barrier.wait()
    began = time.monotonic()
    for _ in range(ops):
        counter.value += 1
    conn.send(began)
    conn.close()


def plain_trial(method: str, processes: int, ops: int) -> float:
    """raw-value by hand: seconds from the first process past the barrier to the last
    'done' received, the same span the stress runner reports as a trial's seconds.

    Not from the parent's own return from the barrier: unless the parent arrives last, it
    is one of the sleepers the barrier wakes, and on a machine whose cores the workers
    already occupy it can wait a scheduler tick for a core while they work."""
    import multiprocessing

    ctx: Any = multiprocessing.get_context(method)
    counter = ctx.Value("i", 0, lock=False)
    barrier = ctx.Barrier(processes + 1)
    children, conns = [], []
    try:
        for _ in range(processes):
            receiver, sender = ctx.Pipe(duplex=False)
            conns.append(receiver)
            child = ctx.Process(target=_plain_child, args=(counter, ops, barrier, sender), daemon=True)
            children.append(child)
            child.start()
            sender.close()
        barrier.wait(_TIMEOUT)
        began: List[float] = []
        for conn in conns:
            if not conn.poll(_TIMEOUT):
                raise BenchError("the plain script's workers did not finish")
            began.append(conn.recv())
        finished = time.monotonic()
        for child in children:
            child.join(5.0)
        return finished - min(began)
    finally:
        barrier.abort()
        stop_processes(children)
        for conn in conns:
            conn.close()


def overhead(method: str, plan: Plan, processes: int = 2) -> Overhead:
    """raw-value through the stress runner and by hand, alternating, medians of each."""
    scenario = catalogue.builtin_by_id()["raw-value"]
    ours: List[float] = []
    plain: List[float] = []
    for _ in range(plan.overhead_repeats):
        trial = stress_runner.run_trial(scenario, method, processes, plan.overhead_ops, _TIMEOUT)
        if trial.failure is not None:
            raise BenchError(f"the stress runner failed: {trial.failure.describe()}")
        ours.append(trial.seconds)
        plain.append(plain_trial(method, processes, plan.overhead_ops))
    return Overhead(method, statistics.median(ours), statistics.median(plain))


# -- (c) fast trials ----------------------------------------------------------------------


def fast_trial_rate(method: str, plan: Plan) -> Tuple[float, float]:
    """Trials per second of raw-value, 2 processes x 1 op, and the share that lost an update
    (medians of ``plan.fast_runs`` runs)."""
    scenario = catalogue.builtin_by_id()["raw-value"]
    rates, lost = [], []
    for _ in range(plan.fast_runs):
        result = fast_trials.run(scenario, trials=plan.fast_trials, processes=2, ops=1, start_method=method)
        if result.failure is not None:
            raise BenchError(f"fast trials failed: {result.failure.describe()}")
        rates.append(result.trials_per_s)
        lost.append(sum(n for outcome, n in result.counts.items() if outcome != result.expected) / result.trial_count)
    return statistics.median(rates), statistics.median(lost)


# -- (d) controlled scheduling --------------------------------------------------------------


def run_control_schedules(scenario_id: str, schedules: int, start_method: str) -> Tuple[int, float]:
    """Explore ``schedules`` random schedules of ``scenario_id`` at 2 processes x 1 op on
    workers that are already running (the controller reuses them across schedules, so the
    figure is the cost of scheduling, not of starting processes). Returns how many were
    explored and the seconds they took."""
    from ..control import Controller, explore

    scenario = catalogue.builtin_by_id()[scenario_id]
    with Controller(scenario, 2, 1, start_method) as controller:
        explore(scenario, strategy="random", budget=10, seed=0, controller=controller)  # warm up
        began = time.monotonic()
        outcome = explore(scenario, strategy="random", budget=schedules, seed=1, controller=controller)
        return outcome.schedules, time.monotonic() - began


def schedules_rate(method: str, budget: int) -> Tuple[Optional[float], str]:
    """Schedules per second for raw-value 2 x 1 under the controlled scheduler."""
    explored, seconds = run_control_schedules("raw-value", budget, method)
    return explored / seconds, f"raw-value 2x1, {explored} random schedules on running workers, {method}"


CONTROL_SIZES = ((2, 1), (3, 2))


def control_rate(method: str, processes: int, ops: int, schedules: int) -> ControlRate:
    """Random schedules of raw-value on running workers, between two measurements of the
    round-trip floor (the median of the two is the baseline)."""
    from ..control import Controller
    from ..control.strategies import random_schedules

    scenario = catalogue.builtin_by_id()["raw-value"]
    floors = [round_trip_floor(method, 0.2)]
    with Controller(scenario, processes, ops, method) as controller:
        for _ in random_schedules(controller, 10, 0):  # warm up
            pass
        steps = 0
        began = time.perf_counter()
        for execution in random_schedules(controller, schedules, 1):
            steps += len(execution.steps)
        seconds = time.perf_counter() - began
    floors.append(round_trip_floor(method, 0.2))
    return ControlRate(method, processes, ops, schedules / seconds, steps / seconds, statistics.mean(floors))


def _echo(commands: Any, answers: Any) -> None:
    """The floor's child: one byte back for each byte in, until told to stop."""
    down, up = commands.fileno(), answers.fileno()
    os.write(up, b"r")  # ready: the clock starts after the child is up (spawn imports first)
    while os.read(down, 1) == b"g":
        os.write(up, b"o")


def round_trip_floor(method: str, seconds: float) -> float:
    """One-byte round trips per second between this thread and a child on raw pipes, placed
    on one CPU as a controlled run is: the least a controlled step can cost."""
    from ..control.placement import place

    share = Share(method)
    context: Any = share.context
    their_commands, commands = context.Pipe(duplex=False)
    answers, their_answers = context.Pipe(duplex=False)
    child = context.Process(target=_echo, args=(their_commands, their_answers), daemon=True)
    child.start()
    their_commands.close()
    their_answers.close()
    placement = place([child.pid])
    try:
        down, up = commands.fileno(), answers.fileno()
        if os.read(up, 1) != b"r":
            raise BenchError(f"the round-trip child ({method}) did not start")
        done = 0
        began = time.perf_counter()
        while True:
            for _ in range(100):
                os.write(down, b"g")
                os.read(up, 1)
            done += 100
            elapsed = time.perf_counter() - began
            if elapsed >= seconds:
                return done / elapsed
    finally:
        placement.release()
        try:
            os.write(commands.fileno(), b"q")
        except OSError:
            pass
        stop_processes([child])
        commands.close()
        answers.close()
        share.close()


# -- everything -----------------------------------------------------------------------------


def run_bench(quick: bool = False, methods: Optional[List[str]] = None,
              progress: Optional[Progress] = None, plan: Optional[Plan] = None) -> BenchResult:
    """Every figure, under ``methods`` (default: every start method available)."""
    plan = plan or (QUICK if quick else FULL)
    chosen = methods or available_start_methods()
    began = time.monotonic()
    result = BenchResult(quick=quick)
    result.strategies = cost_table(chosen, plan, progress)
    for method in chosen:
        if progress is not None:
            progress(f"overhead {method}")
        result.overhead.append(overhead(method, plan))
        if progress is not None:
            progress(f"fast trials {method}")
        result.trials_per_s[method], result.race_share[method] = fast_trial_rate(method, plan)
    if progress is not None:
        progress("controlled schedules")
    default = default_start_method()
    result.schedules_per_s, result.schedules_note = schedules_rate(default if default in chosen else chosen[0],
                                                                   plan.schedules)
    for method in chosen:
        for processes, ops in CONTROL_SIZES:
            if progress is not None:
                progress(f"controlled schedules {method} {processes}x{ops}")
            result.control.append(control_rate(method, processes, ops, plan.schedules))
    result.seconds = time.monotonic() - began
    return result
