"""Blocking primitives under control (semaphores, Event, the queues, Condition, Barrier): a racy use
found at the smallest size and replayed, a correct use proven complete, a deadlock told
with holder and waiter, an over-release's ValueError; the same objects run uncontrolled
under the stress runner. Deterministic: the parent decides every interleaving."""

from __future__ import annotations

import multiprocessing
import multiprocessing.managers
import pathlib
import threading
from collections import Counter

import pytest

import racecourse
from racecourse import catalogue
from racecourse.control import Controller, explore, parse_schedule, replay
from racecourse.control.instrument import ACQUIRE, Channel, ControlledLock, Uncontrollable, classify
from racecourse.control.schedule import ScheduleError
from racecourse.control.strategies import Exhaustive, replaying
from support import nothing_left_behind, scenario_file, start_methods  # noqa: F401  (nothing_left_behind is a fixture)

pytestmark = pytest.mark.usefixtures("nothing_left_behind")
METHODS = start_methods()
USES = str(pathlib.Path(__file__).with_name("semaphore_uses.py"))
EVENTS = str(pathlib.Path(__file__).with_name("event_uses.py"))


def use(name, uses=USES):
    return catalogue.resolve_one(f"{uses}:{name}")


def found_and_replayed(scenario, method, processes=2):
    """Explore exhaustively; the first failure, after checking that replaying its schedule
    gives the same outcome again."""
    result = explore(scenario, processes=processes, start_method=method)
    assert result.complete and result.first_failure is not None, result.outcomes
    failure = result.first_failure
    sized = parse_schedule(failure.sized)
    with Controller(scenario, sized.processes, sized.ops, method) as controller:
        assert replay(controller, sized.steps, failure.sized).outcome == failure.outcome
    return result


def proven(scenario, method, processes=2):
    result = explore(scenario, processes=processes, start_method=method)
    assert result.complete and result.failing == 0 and result.ok, result.outcomes
    return result


@pytest.mark.parametrize("method", METHODS)
def test_a_hand_built_two_slot_section_lets_three_in_at_3x1_and_the_replay_shows_it(method):
    scenario = use("HAND_BUILT")
    assert explore(scenario, processes=2, start_method=method).failing == 0  # two always fit
    result = explore(scenario, processes=3, start_method=method)
    assert result.complete and result.first_failure is not None
    failure = result.first_failure
    assert failure.outcome == "3 processes inside at once"
    sized = parse_schedule(failure.sized)
    with Controller(scenario, sized.processes, sized.ops, method) as controller:
        assert replay(controller, sized.steps, failure.sized).outcome == failure.outcome


@pytest.mark.parametrize("name", ["COUNT_UNDER_TWO", "MANAGER_COUNT_UNDER_TWO"])
@pytest.mark.parametrize("method", METHODS)
def test_a_count_under_semaphore_2_loses_an_update_found_at_2x1_and_replayed(method, name):
    scenario = use(name)
    assert proven(scenario, method, processes=1).schedules == 1  # alone, nothing races
    result = found_and_replayed(scenario, method)
    assert result.first_failure.outcome == "count=1 (expected 2, 1 lost)"


@pytest.mark.parametrize("name", ["SEMAPHORE", "MANAGER_SEMAPHORE"])
@pytest.mark.parametrize("method", METHODS)
def test_semaphore_2_is_proven_to_let_two_in_and_makes_the_third_wait(method, name):
    scenario = use(name)
    result = explore(scenario, processes=3, start_method=method)
    assert result.complete and result.failing == 0 and result.ok
    waiting = []

    def choose(run):  # processes 0 and 1 take a slot (each one's first step); then the third waits
        if len(run.schedule) < 2:
            return len(run.schedule)
        op = run.pending.get(2)
        if op is not None and op.kind == ACQUIRE and op.label == "slots" and 2 not in run.enabled:
            waiting.append(run.sync.waiting_text(2, op))
        return run.enabled[0]

    with Controller(scenario, 3, 1, method) as controller:
        execution = controller.run(choose)
    assert execution.correct
    assert waiting and waiting[0] == "count 0, held by process 0, process 1"


@pytest.mark.parametrize("name", ["TAKE_TWO", "MANAGER_TAKE_TWO"])
@pytest.mark.parametrize("method", METHODS)
def test_a_semaphore_deadlock_names_holder_and_waiter(method, name):
    result = explore(use(name), processes=2, start_method=method)
    assert result.complete and result.deadlocks == result.schedules
    stories = {failure.deadlock for failure in result.failures}
    assert "process 1 waits for slots (held by process 0)" in stories  # process 0 took both and finished
    assert ("process 0 holds slots and waits for slots (held by itself, process 1); "
            "process 1 holds slots and waits for slots (held by process 0, itself)") in stories


@pytest.mark.parametrize("name, message", [("OVER_RELEASE", "semaphore or lock released too many times"),
                                           ("MANAGER_OVER_RELEASE", "Semaphore released too many times")])
@pytest.mark.parametrize("method", METHODS)
def test_releasing_a_bounded_semaphore_too_often_raises_value_error_in_the_worker(method, name, message):
    result = explore(use(name), processes=1, start_method=method)
    assert list(result.outcomes) == [f"error in process 0: ValueError: {message}"]
    assert result.ok  # the scenario documents the ValueError


@pytest.mark.parametrize("name", ["SEMAPHORE", "MANAGER_SEMAPHORE"])
def test_the_same_semaphore_runs_uncontrolled_under_the_stress_runner(name):
    result = racecourse.stress(use(name), processes=3, ops=50, trials=2, start_method=METHODS[0])
    assert result.ok, result.report()


# -- Event ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["EARLY", "MANAGER_EARLY"])
@pytest.mark.parametrize("method", METHODS)
def test_an_event_set_before_the_data_is_written_is_found_at_2x1_and_replayed(method, name):
    result = found_and_replayed(use(name, EVENTS), method)
    assert result.first_failure.outcome == "the reader saw 0"
    assert set(result.outcomes) == {"the reader saw 0", "invariant holds"}


@pytest.mark.parametrize("name", ["WRITTEN", "MANAGER_WRITTEN"])
@pytest.mark.parametrize("method", METHODS)
def test_an_event_set_after_the_write_is_proven_and_its_wait_blocks_until_set(method, name):
    scenario = use(name, EVENTS)
    result = proven(scenario, method)
    assert result.schedules == 1  # the reader can only go once the writer is done
    waiting = []

    def choose(run):  # the reader first, while the event is not set: it cannot go
        op = run.pending.get(1)
        if op is not None and op.kind == "wait" and 1 not in run.enabled:
            waiting.append(run.sync.waiting_text(1, op))
        return run.enabled[0]

    with Controller(scenario, 2, 1, method) as controller:
        assert controller.run(choose).correct
    assert waiting == ["not set: never set"] * 2  # before the writer's write and before its set


@pytest.mark.parametrize("method", METHODS)
def test_two_processes_waiting_for_each_others_event_is_a_deadlock_naming_both(method):
    result = explore(use("CROSSED", EVENTS), processes=2, start_method=method)
    assert result.complete and result.schedules == result.deadlocks == 1
    assert [failure.deadlock for failure in result.failures] == [
        "process 0 waits for ping (never set); process 1 waits for pong (never set)"]


@pytest.mark.parametrize("method", METHODS)
def test_a_timed_event_wait_is_a_try_that_sees_either_flag(method):
    result = found_and_replayed(use("TIMED", EVENTS), method)
    assert set(result.outcomes) == {"the event was not set yet", "invariant holds"}


@pytest.mark.parametrize("name", ["WRITTEN", "MANAGER_WRITTEN"])
def test_the_same_events_run_uncontrolled_under_the_stress_runner(name):
    result = racecourse.stress(use(name, EVENTS), processes=2, ops=1, trials=3, start_method=METHODS[0])
    assert result.ok, result.report()


# -- Queue, SimpleQueue, JoinableQueue --------------------------------------------------

QUEUES = str(pathlib.Path(__file__).with_name("queue_uses.py"))


@pytest.mark.parametrize("kind", ["QUEUE", "SIMPLE", "MANAGER"])
@pytest.mark.parametrize("method", METHODS)
def test_a_consumer_that_stops_at_an_empty_queue_loses_an_item_found_at_2x1_and_replayed(method, kind):
    result = found_and_replayed(use(f"EMPTY_{kind}", QUEUES), method)
    assert result.first_failure.outcome == "0 of 1 tasks handled"


@pytest.mark.parametrize("kind", ["QUEUE", "SIMPLE", "MANAGER"])
@pytest.mark.parametrize("method", METHODS)
def test_a_consumer_that_takes_every_item_sent_is_proven_and_its_get_waits_for_the_put(method, kind):
    scenario = use(f"ALL_{kind}", QUEUES)
    proven(scenario, method)
    waiting = []

    def choose(run):  # the consumer first, while the queue is empty: it cannot go
        op = run.pending.get(1)
        if op is not None and op.kind == "get" and 1 not in run.enabled:
            waiting.append(run.sync.waiting_text(1, op))
        return run.enabled[-1]

    with Controller(scenario, 2, 1, method) as controller:
        execution = controller.run(choose)
    assert execution.correct and waiting == ["empty"]
    assert [step.describe() for step in execution.steps][:2] == ["put tasks <- 0", "get tasks -> 0"]


@pytest.mark.parametrize("name", ["EARLY_DONE", "MANAGER_EARLY_DONE"])
@pytest.mark.parametrize("method", METHODS)
def test_task_done_before_the_work_lets_join_return_early_found_at_2x1_and_replayed(method, name):
    result = found_and_replayed(use(name, QUEUES), method)
    assert result.first_failure.outcome == "join returned with 0 of 1 tasks handled"


@pytest.mark.parametrize("name", ["DONE", "MANAGER_DONE"])
@pytest.mark.parametrize("method", METHODS)
def test_task_done_after_the_work_is_proven_with_join_waiting_for_it(method, name):
    proven(use(name, QUEUES), method)


@pytest.mark.parametrize("method", METHODS)
def test_queue_deadlocks_name_who_waits_for_what(method):
    everyone = explore(use("NOBODY_PUTS", QUEUES), processes=2, start_method=method)
    assert everyone.complete and everyone.schedules == everyone.deadlocks == 1
    assert everyone.first_failure.deadlock == ("process 0 waits for tasks to be non-empty (nobody else will put); "
                                               "process 1 waits for tasks to be non-empty (nobody else will put)")
    for full_queue in ("FULL", "MANAGER_FULL"):
        full = explore(use(full_queue, QUEUES), processes=1, start_method=method)
        assert full.first_failure.deadlock == "process 0 waits for room in slots, full (1 item) (nobody else will get)"
    alone = explore(use("NO_CONSUMER", QUEUES), processes=1, start_method=method)
    assert alone.first_failure.deadlock == (
        "process 0 waits for the 1 unfinished task of tasks (nobody else will call task_done)")


@pytest.mark.parametrize("method", METHODS)
def test_task_done_once_too_often_raises_value_error_in_the_worker(method):
    result = explore(use("TOO_MANY_DONE", QUEUES), processes=1, start_method=method)
    assert list(result.outcomes) == ["error in process 0: ValueError: task_done() called too many times"]
    assert result.ok


@pytest.mark.parametrize("method", METHODS)
def test_which_item_a_get_finds_follows_from_the_schedule_alone(method):
    # A real Queue.put hands the item to a feeder thread: a get right after a put could miss
    # it, and two processes' items could reach the pipe in either order. Under control each
    # put is in the pipe before the next step, so every replay of a schedule agrees.
    scenario = use("EXCHANGE", QUEUES)
    result = explore(scenario, processes=2, start_method=method)
    assert result.complete
    assert set(result.outcomes) == {"process 0 got 0, process 1 got 1", "process 0 got 1, process 1 got 0"}
    with Controller(scenario, 2, 1, method) as controller:
        for failure in result.failures:
            sized = parse_schedule(failure.sized)
            assert {replay(controller, sized.steps, failure.sized).outcome for _ in range(5)} == {failure.outcome}
        crossed = parse_schedule("2x1:011001")  # both put (0, then 1), then process 1 gets first
        outcomes = {replay(controller, crossed.steps, "2x1:011001").outcome for _ in range(5)}
    assert outcomes == {"process 0 got 1, process 1 got 0"}


@pytest.mark.parametrize("name", ["ALL_QUEUE", "ALL_SIMPLE", "ALL_MANAGER", "DONE", "MANAGER_DONE"])
def test_the_same_queues_run_uncontrolled_under_the_stress_runner(name):
    result = racecourse.stress(use(name, QUEUES), processes=2, ops=20, trials=2, start_method=METHODS[0])
    assert result.ok, result.report()


def test_a_queue_that_build_put_items_into_is_refused_with_one_line(tmp_path):
    path = scenario_file(tmp_path, "prefilled.py", """
        from racecourse import Expect, Scenario

        def build(share):
            tasks = share.Queue()
            tasks.put(1)
            return {"tasks": tasks}

        def worker(tasks):
            tasks.get()

        PREFILLED = Scenario(id="prefilled", title="put in build", expect=Expect.SAFE, build=build, worker=worker,
                             check=lambda tasks: None)
    """)
    with pytest.raises(Uncontrollable, match=r"^tasks is a Queue that build\(\) put items into, .* SimpleQueue"):
        explore(catalogue.resolve_one(str(path)), processes=1, start_method=METHODS[0])
    assert [thread.name for thread in threading.enumerate() if thread.name == "QueueFeederThread"] == []


@pytest.mark.parametrize("method", METHODS)
def test_leftover_items_unfinished_tasks_and_aborted_waits_do_not_reach_the_next_schedule(method):
    scenario = use("LEFTOVERS", QUEUES)
    result = explore(scenario, processes=2, start_method=method)
    assert result.complete and result.deadlocks and "got 0 and 1, 2 left" in result.outcomes
    with Controller(scenario, 2, 1, method) as controller:
        for _ in range(2):  # each schedule after every other one: left items, a deadlock's aborted get
            for failure in result.failures:
                sized = parse_schedule(failure.sized)
                execution = controller.run(replaying(sized.steps, failure.sized))
                assert execution.outcome == failure.outcome


def test_a_replay_that_names_a_process_waiting_on_an_empty_queue_says_why():
    scenario = use("ALL_QUEUE", QUEUES)
    with Controller(scenario, 2, 1, METHODS[0]) as controller:
        with pytest.raises(ScheduleError, match=r"step 1 names process 1, but its next operation, get from tasks, "
                                                r"cannot go on now \(empty\)"):
            replay(controller, [1, 0, 0, 1], "1001")


# -- Condition --------------------------------------------------------------------------

CONDITIONS = str(pathlib.Path(__file__).with_name("condition_uses.py"))


@pytest.mark.parametrize("name", ["IF", "MANAGER_IF"])
@pytest.mark.parametrize("method", METHODS)
def test_a_condition_wait_under_if_takes_from_an_empty_buffer_at_3x1_and_the_replay_shows_it(method, name):
    scenario = use(name, CONDITIONS)
    assert explore(scenario, processes=2, start_method=method).failing == 0  # one consumer: if is enough
    result = found_and_replayed(scenario, method, processes=3)
    assert result.first_failure.outcome == "took from an empty buffer (-1 items)"
    steps = [step.describe() for step in result.first_failure.steps]
    assert "ready.wait()" in steps and "woken on ready" in steps and "ready.notify()" in steps


@pytest.mark.parametrize("name", ["WHILE", "MANAGER_WHILE", "MANAGER_WHILE_OVER_LOCK"])
@pytest.mark.parametrize("method", METHODS)
def test_a_condition_wait_under_while_is_proven_at_3x1(method, name):
    proven(use(name, CONDITIONS), method, processes=3)


@pytest.mark.parametrize("name", ["LOST_NOTIFY", "MANAGER_LOST_NOTIFY"])
@pytest.mark.parametrize("method", METHODS)
def test_a_wait_that_starts_after_the_only_notify_is_a_deadlock_naming_the_waiter(method, name):
    result = explore(use(name, CONDITIONS), processes=2, start_method=method)
    assert result.complete and dict(result.outcomes) == {"deadlock": 1, "invariant holds": 1}
    assert [failure.deadlock for failure in result.failures] == [
        "process 1 waits to be notified on ready (nobody else will notify)"]


@pytest.mark.parametrize("name", ["HOLD", "MANAGER_HOLD"])
@pytest.mark.parametrize("method", METHODS)
def test_a_notifier_that_keeps_the_lock_is_a_deadlock_naming_holder_and_waiter(method, name):
    result = explore(use(name, CONDITIONS), processes=2, start_method=method)
    assert result.complete and result.deadlocks == result.schedules
    # Woken by the notify, or not yet in: either way process 1 cannot take the lock (back).
    assert {failure.deadlock for failure in result.failures} == {
        "process 0 holds ready.lock and waits for go (never set); process 1 waits for ready.lock (held by process 0)"}


@pytest.mark.parametrize("name", ["TIMED", "MANAGER_TIMED"])
@pytest.mark.parametrize("method", METHODS)
def test_a_timed_condition_wait_is_woken_by_a_notify_or_times_out_and_each_replays(method, name):
    scenario = use(name, CONDITIONS)
    result = found_and_replayed(scenario, method)
    assert set(result.outcomes) == {"the wait timed out", "invariant holds"}
    # Counted over orders of dependent operations, without state caching (which merges
    # schedules that reach one state, so it counts fewer for a Condition over a plain Lock):
    # woken (True) in one order only, the waiter waits before the notify and ends after it;
    # it times out if the notify came first, or if its time ran out before the notify.
    with Controller(scenario, 2, 1, method) as controller:
        counted = Counter(execution.outcome for execution in
                          Exhaustive(reduction=True, states=False).executions(controller, None))
    assert counted == {"the wait timed out": 4, "invariant holds": 1}
    with Controller(scenario, 2, 1, method) as controller:
        woken = replay(controller, [1, 1, 1, 0, 0, 0, 1, 1, 1, 1], "2x1:1110001111")
        assert woken.outcome == "invariant holds"
        assert [step.describe() for step in woken.steps][:7] == [
            "acquire ready.lock", "ready.wait(5.0)", "release ready.lock", "acquire ready.lock", "ready.notify()",
            "release ready.lock", "woken on ready"]
        # Its time runs out, then the notify still chooses it (it has not left yet): lost.
        lost = replay(controller, [1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1], "2x1:11110001111")
        assert lost.outcome == "the wait timed out"
        assert [step.describe() for step in lost.steps][3:8] == [
            "time ran out waiting on ready", "acquire ready.lock", "ready.notify()", "release ready.lock",
            "stop waiting on ready"]


@pytest.mark.parametrize("name", ["TWO_WAITERS", "MANAGER_TWO_WAITERS"])
@pytest.mark.parametrize("method", METHODS)
def test_a_timed_waiter_that_times_out_while_a_notify_chooses_it_loses_the_wake_up(method, name):
    # One notify, a timed waiter (process 1) and an untimed one (process 2). A real timed
    # wait that times out as the notify chooses it returns False, and that wake-up is gone:
    # the untimed waiter waits for ever.
    scenario = use(name, CONDITIONS)
    result = explore(scenario, processes=3, start_method=method)
    assert result.complete and set(result.outcomes) == {"timed waiter timed out, other woken", "deadlock"}

    def run(schedule):
        with Controller(scenario, 3, 1, method) as controller:
            return replay(controller, [int(p) for p in schedule], "3x1:" + schedule)

    # Process 1 waits, then process 2; process 1's time runs out, the notify chooses it
    # (the longest waiting, or any), and it leaves: the wake-up is lost, process 2 waits on.
    lost = run("111" + "222" + "1" + "000" + "1111")
    assert lost.outcome == "deadlock"
    assert lost.deadlock == "process 2 waits to be notified on ready (nobody else will notify)"
    assert [step.describe() for step in lost.steps][6:11] == [
        "time ran out waiting on ready", "acquire ready.lock", "ready.notify()", "release ready.lock",
        "stop waiting on ready"]
    # Process 2 waits first: a Manager's notify chooses it, the longest waiting; in a
    # multiprocessing Condition either may take the wake-up, and process 1's leaving does.
    if name.startswith("MANAGER"):
        assert run("222" + "1111" + "000" + "1111" + "2222").outcome == "timed waiter timed out, other woken"
    else:
        assert run("222" + "1111" + "000" + "1111").outcome == "deadlock"


def test_a_manager_condition_wakes_the_longest_waiting_and_a_multiprocessing_one_any():
    from racecourse.control.instrument import NOTIFY, SLEEP, WAKE, Op
    from racecourse.control.sync import ConditionResource

    def waker_choices(fifo):
        condition = ConditionResource("c", "ready", fifo)
        for process in (1, 2):
            condition.apply(process, Op(SLEEP, "c", "ready.wait()", None, False), None, 0)
        condition.apply(0, Op(NOTIFY, "c", "ready.notify()", None, False), 1, 0)
        return [p for p in (1, 2) if condition.ready(p, Op(WAKE, "c", "ready", None, False))]

    assert waker_choices(fifo=True) == [1]  # threading.Condition (a Manager's) wakes the first waiter
    assert waker_choices(fifo=False) == [1, 2]  # multiprocessing's waiters race for the wake-up


@pytest.mark.parametrize("name", ["WHILE", "MANAGER_WHILE", "MANAGER_WHILE_OVER_LOCK"])
def test_the_same_condition_runs_uncontrolled_under_the_stress_runner(name):
    result = racecourse.stress(use(name, CONDITIONS), processes=3, ops=1, trials=3, start_method=METHODS[0])
    assert result.ok, result.report()


# -- Barrier ----------------------------------------------------------------------------

BARRIERS = str(pathlib.Path(__file__).with_name("barrier_uses.py"))


@pytest.mark.parametrize("name", ["MEET_FIRST", "MANAGER_MEET_FIRST"])
@pytest.mark.parametrize("method", METHODS)
def test_marking_after_the_barrier_lets_a_process_count_too_early_found_at_2x1_and_replayed(method, name):
    result = found_and_replayed(use(name, BARRIERS), method)
    assert result.first_failure.outcome == "a process counted 1 of 2 marks"


@pytest.mark.parametrize("name", ["MARK_FIRST", "MANAGER_MARK_FIRST"])
@pytest.mark.parametrize("method", METHODS)
def test_marking_before_the_barrier_is_proven_and_each_process_gets_its_arrival_index(method, name):
    proven(use(name, BARRIERS), method)  # the check also wants the indexes 0 and 1


@pytest.mark.parametrize("name", ["TOO_FEW", "MANAGER_TOO_FEW"])
@pytest.mark.parametrize("method", METHODS)
def test_a_barrier_that_too_few_reach_is_a_deadlock_naming_the_waiters(method, name):
    result = explore(use(name, BARRIERS), processes=2, start_method=method)
    assert result.complete and result.deadlocks == result.schedules
    assert {failure.deadlock for failure in result.failures} == {
        "process 0 waits at start, 2 of 3 arrived (nobody else will come); "
        "process 1 waits at start, 2 of 3 arrived (nobody else will come)"}


@pytest.mark.parametrize("name", ["ABORTED", "MANAGER_ABORTED"])
@pytest.mark.parametrize("method", METHODS)
def test_a_barrier_aborted_while_a_process_waits_raises_broken_barrier_error_there(method, name):
    result = explore(use(name, BARRIERS), processes=2, start_method=method)
    assert result.complete and dict(result.outcomes) == {"error in process 1: BrokenBarrierError: ": 2}
    assert result.ok  # the scenario documents the error


@pytest.mark.parametrize("name", ["SOMETIMES", "MANAGER_SOMETIMES"])
@pytest.mark.parametrize("method", METHODS)
def test_a_barrier_left_half_met_by_a_deadlock_is_reset_for_the_next_schedule(method, name):
    scenario = use(name, BARRIERS)
    result = explore(scenario, processes=2, start_method=method)
    assert result.complete and set(result.outcomes) == {
        "deadlock", "arrival indexes [0, 1]", "arrival indexes [1, 0]"}
    with Controller(scenario, 2, 1, method) as controller:
        for _ in range(2):
            for failure in result.failures + [result.first_failure]:
                sized = parse_schedule(failure.sized)
                assert controller.run(replaying(sized.steps, failure.sized)).outcome == failure.outcome


@pytest.mark.parametrize("name", ["IN_PAIRS", "MANAGER_IN_PAIRS"])
@pytest.mark.parametrize("method", METHODS)
def test_an_arrival_for_the_next_round_waits_until_the_last_round_has_left(method, name):
    # Barrier(2), three processes: 0 and 1 trip the first round; 2 may arrive for the
    # next only once both have left it (as threading.Barrier drains a round).
    waits = []

    def lowest_first(run):
        op = run.pending.get(2)
        if op is not None and op.kind == "arrive":
            waits.append(None if 2 in run.enabled else run.sync.waiting_text(2, op))
        return run.enabled[0]

    with Controller(use(name, BARRIERS), 3, 1, method) as controller:
        execution = controller.run(lowest_first)
    assert execution.schedule == [0, 1, 0, 1, 2]  # 0 arrives, 1 trips, 0 and 1 leave, 2 arrives
    assert waits == [None, None, "the last round still leaving (2 of 2 to go)",
                     "the last round still leaving (1 of 2 to go)", None]
    assert execution.deadlock == "process 2 waits at pair, 1 of 2 arrived (nobody else will come)"


@pytest.mark.parametrize("name", ["MARK_FIRST", "MANAGER_MARK_FIRST"])
def test_the_same_barrier_runs_uncontrolled_under_the_stress_runner(name):
    result = racecourse.stress(use(name, BARRIERS), processes=2, ops=1, trials=3, start_method=METHODS[0])
    assert result.ok, result.report()


def test_an_unwinding_worker_gives_back_only_a_lock_it_holds():
    # A Condition's wait leaves its with block without the lock; while the workers unwind
    # together, another may hold it, and a multiprocessing Lock released by a non-holder
    # is released for that holder.
    lock = multiprocessing.get_context(METHODS[0]).Lock()
    holder = threading.Thread(target=lock.acquire)  # held by someone else (another thread)
    holder.start()
    holder.join()
    channel = Channel(-1, -1)
    channel.aborting = True
    ControlledLock(lock, "sem:test", "lock", False, channel).release()
    assert not lock.acquire(False)  # still held by its holder


@pytest.mark.parametrize("name", ["ONE_SLOT", "MANAGER_ONE_SLOT"])
@pytest.mark.parametrize("method", METHODS)
def test_a_bounded_queue_is_proven_with_its_put_waiting_for_room(method, name):
    scenario = use(name, QUEUES)
    proven(scenario, method)
    waiting = []

    def choose(run):  # the producer as long as it can: its second put finds the queue full
        op = run.pending.get(0)
        if op is not None and op.kind == "put" and 0 not in run.enabled:
            waiting.append(run.sync.waiting_text(0, op))
        return run.enabled[0]

    with Controller(scenario, 2, 1, method) as controller:
        assert controller.run(choose).correct
    assert waiting == ["full (1 item)"]


@pytest.mark.parametrize("typeid", ["Barrier", "Condition"])
def test_a_barrier_or_condition_of_a_manager_racecourse_did_not_start_is_refused_saying_why(typeid):
    manager = multiprocessing.managers.SyncManager(ctx=multiprocessing.get_context(METHODS[0]))
    manager.start()
    try:
        made = manager.Barrier(2) if typeid == "Barrier" else manager.Condition()
        with pytest.raises(Uncontrollable) as refused:
            classify(made, "start")
    finally:
        manager.shutdown()
    what = "arrivals" if typeid == "Barrier" else "which lock it waits on"
    assert str(refused.value) == (
        f"start is a {typeid} of a Manager racecourse did not start, which racecourse cannot schedule (its server "
        f"does not tell {what} without waiting): make it with share.manager().{typeid}(...)")


# -- bounded Manager queues ---------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_checking_full_before_a_put_into_a_bounded_manager_queue_deadlocks_at_2x1_and_replays(method):
    scenario = use("OFFER_IF_ROOM", QUEUES)
    assert proven(scenario, method, processes=1).schedules == 1  # alone, the room it saw is still there
    result = found_and_replayed(scenario, method)
    # Both saw room; the one that puts second waits for a get that nobody will make.
    assert result.first_failure.deadlock in {
        f"process {p} waits for room in slots, full (1 item) (nobody else will get)" for p in (0, 1)}


@pytest.mark.parametrize("method", METHODS)
def test_put_nowait_into_a_bounded_manager_queue_is_proven(method):
    result = proven(use("OFFER_OR_DROP", QUEUES), method)
    assert set(result.outcomes) == {"invariant holds"} and result.deadlocks == 0


def test_the_same_bounded_manager_queue_runs_uncontrolled_under_the_stress_runner():
    result = racecourse.stress(use("MANAGER_ONE_SLOT", QUEUES), processes=2, ops=5, trials=2,
                               start_method=METHODS[0])
    assert result.ok, result.report()


# -- timed Barrier waits --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["TIMED", "MANAGER_TIMED"])
@pytest.mark.parametrize("method", METHODS)
def test_a_timed_barrier_wait_is_met_by_a_late_arrival_or_times_out_and_breaks_it(method, name):
    scenario = use(name, BARRIERS)
    result = explore(scenario, processes=2, start_method=method)
    # Process 0 waits at most 5 s. It passes with index 0 when process 1 arrives before its
    # time runs out, with index 1 when it arrives last; else the barrier breaks for both.
    assert result.complete and set(result.outcomes) == {
        "arrival indexes [0, 1]", "arrival indexes [1, 0]", "arrival indexes [-2, -2]"}
    with Controller(scenario, 2, 1, method) as controller:
        for failure in result.failures:
            sized = parse_schedule(failure.sized)
            assert replay(controller, sized.steps, failure.sized).outcome == failure.outcome
        late = replay(controller, [0, 1, 0, 1, 0, 1], "2x1:010101")  # arrives, the other arrives, both pass
        timed_out = replay(controller, [0, 0, 0, 1, 1], "2x1:00011")  # its time runs out first
    assert [step.describe() for step in late.steps][:4] == [
        "start.wait() -> arrived 0", "start.wait() -> arrived 1", "pass start", "pass start"]
    assert [step.describe() for step in timed_out.steps][:2] == [
        "start.wait() -> arrived 0", "time ran out at start: broken"]
    assert timed_out.outcome == "arrival indexes [-2, -2]"
