"""Barrier uses for the controlled-scheduling tests: each process marks its arrival, then
meets the others at a barrier and counts the marks (safe), or marks after the barrier
(racy: a process may count before the others marked); a Barrier(3) that only two ever
reach (deadlock); a barrier aborted while a process waits at it (BrokenBarrierError); the
same with a Manager's Barrier; a timed wait that the other process may meet in time, or
not (the barrier breaks)."""

import threading

from racecourse import Defaults, Expect, Scenario

_SIZE = Defaults(processes=2, ops=1)


def build_meeting(share, processes):
    return {"meet": share.Barrier(processes), "marks": share.Array("i", processes, lock=False),
            "seen": share.Array("i", processes, lock=False), "turns": share.Array("i", [-1] * processes, lock=False)}


def mark_then_meet(meet, marks, seen, turns, index, processes):
    marks[index] = 1
    turns[index] = meet.wait()  # every mark is made before anyone passes
    seen[index] = sum(marks[other] for other in range(processes))


def meet_then_mark(meet, marks, seen, turns, index, processes):
    turns[index] = meet.wait()
    marks[index] = 1  # after the barrier: the others may count before this mark
    seen[index] = sum(marks[other] for other in range(processes))


def everyone_saw_everyone(marks, seen, turns):
    if sorted(turns) != list(range(len(turns))):
        return f"arrival indexes {list(turns)}"
    fewest = min(seen)
    return None if fewest == len(marks) else f"a process counted {fewest} of {len(marks)} marks"


MARK_FIRST = Scenario(id="mark-then-meet", title="mark, then barrier", expect=Expect.SAFE, build=build_meeting,
                      worker=mark_then_meet, check=everyone_saw_everyone, defaults=_SIZE)
MEET_FIRST = Scenario(id="meet-then-mark", title="barrier, then mark", expect=Expect.RACY, build=build_meeting,
                      worker=meet_then_mark, check=everyone_saw_everyone, defaults=_SIZE)


def build_three(share):
    return {"start": share.Barrier(3)}


def meet(start):
    start.wait()  # three parties, two processes


TOO_FEW = Scenario(id="barrier-too-few", title="Barrier(3), two processes", expect=Expect.DEADLOCK,
                   build=build_three, worker=meet, check=lambda start: None, defaults=_SIZE)


def build_two(share):
    return {"start": share.Barrier(2)}


def abort_or_wait(start, index):
    if index == 0:
        start.abort()
    else:
        start.wait()


ABORTED = Scenario(id="barrier-aborted", title="abort while another waits", expect=Expect.ERROR,
                   raises=threading.BrokenBarrierError, build=build_two, worker=abort_or_wait,
                   check=lambda start: None, defaults=_SIZE)


def build_once(share):
    return {"start": share.Barrier(2), "coming": share.Value("i", 0, lock=False),
            "turns": share.Array("i", [-1, -1], lock=False)}


def meet_unless_warned(start, coming, turns, index):
    if index == 1:
        coming.value = 1  # read by process 0 as "it is coming", or as "it is not"
        turns[1] = start.wait()
    elif coming.value == 0:
        turns[0] = start.wait()
    else:
        turns[0] = 0  # wrongly assumes the other will not wait: it waits alone, forever


def arrival_indexes(turns):
    return f"arrival indexes {list(turns)}"  # every outcome reported, to compare replays


SOMETIMES = Scenario(id="barrier-sometimes", title="meet unless warned", expect=Expect.DEADLOCK,
                     build=build_once, worker=meet_unless_warned, check=arrival_indexes, defaults=_SIZE)


# -- the same with a Manager's Barrier (share.manager()), and a timed wait that a late arrival may meet


def build_manager_meeting(share, processes):
    return dict(build_meeting(share, processes), meet=share.manager().Barrier(processes))


MANAGER_MARK_FIRST = Scenario(id="manager-mark-then-meet", title="mark, then barrier", expect=Expect.SAFE,
                              build=build_manager_meeting, worker=mark_then_meet, check=everyone_saw_everyone,
                              defaults=_SIZE)
MANAGER_MEET_FIRST = Scenario(id="manager-meet-then-mark", title="barrier, then mark", expect=Expect.RACY,
                              build=build_manager_meeting, worker=meet_then_mark, check=everyone_saw_everyone,
                              defaults=_SIZE)
MANAGER_TOO_FEW = Scenario(id="manager-barrier-too-few", title="Barrier(3), two processes", expect=Expect.DEADLOCK,
                           build=lambda share: {"start": share.manager().Barrier(3)}, worker=meet,
                           check=lambda start: None, defaults=_SIZE)
MANAGER_ABORTED = Scenario(id="manager-barrier-aborted", title="abort while another waits", expect=Expect.ERROR,
                           raises=threading.BrokenBarrierError,
                           build=lambda share: {"start": share.manager().Barrier(2)}, worker=abort_or_wait,
                           check=lambda start: None, defaults=_SIZE)
MANAGER_SOMETIMES = Scenario(id="manager-barrier-sometimes", title="meet unless warned", expect=Expect.DEADLOCK,
                             build=lambda share: dict(build_once(share), start=share.manager().Barrier(2)),
                             worker=meet_unless_warned, check=arrival_indexes, defaults=_SIZE)


def build_timed(share):
    return {"start": share.Barrier(2), "turns": share.Array("i", [-1, -1], lock=False)}


def build_manager_timed(share):
    return {"start": share.manager().Barrier(2), "turns": share.Array("i", [-1, -1], lock=False)}


def meet_in_time(start, turns, index):
    try:
        turns[index] = start.wait(5.0) if index == 0 else start.wait()  # process 0 waits at most 5 s
    except threading.BrokenBarrierError:
        turns[index] = -2


TIMED = Scenario(id="barrier-timed-wait", title="wait(5.0) and wait()", expect=Expect.RACY, build=build_timed,
                 worker=meet_in_time, check=arrival_indexes, defaults=_SIZE)
MANAGER_TIMED = Scenario(id="manager-barrier-timed-wait", title="wait(5.0) and wait()", expect=Expect.RACY,
                         build=build_manager_timed, worker=meet_in_time, check=arrival_indexes, defaults=_SIZE)


def build_pair(share):
    return {"pair": share.Barrier(2)}


def build_manager_pair(share):
    return {"pair": share.manager().Barrier(2)}


def meet_in_pairs(pair):
    pair.wait()  # three processes, two parties: the third waits for a round nobody completes


IN_PAIRS = Scenario(id="barrier-in-pairs", title="Barrier(2), three processes", expect=Expect.DEADLOCK,
                    build=build_pair, worker=meet_in_pairs, check=lambda pair: None,
                    defaults=Defaults(processes=3, ops=1))
MANAGER_IN_PAIRS = Scenario(id="manager-barrier-in-pairs", title="a Manager's Barrier(2), three processes",
                            expect=Expect.DEADLOCK, build=build_manager_pair, worker=meet_in_pairs,
                            check=lambda pair: None, defaults=Defaults(processes=3, ops=1))
