"""Bookkeeping state for the controlled-scheduling tests: a statistics Array, updated under
its own lock, that records what the code under test did. Unmarked, every access to it is
a scheduling point and multiplies the schedules; marked ``share.bookkeeping(...)``, it
is the test's own instrumentation and adds none, and still reads right in check()."""

from racecourse import Expect, Scenario


def build_counted(share, processes, ops, marked=False):
    stats = share.Array("i", processes)  # how many increments each process made
    return {"counter": share.Value("i", 0, lock=False), "stats": share.bookkeeping(stats) if marked else stats,
            "each": ops}


def build_counted_marked(share, processes, ops):
    return build_counted(share, processes, ops, marked=True)


def count_and_record(counter, stats, ops, index):
    for _ in range(ops):
        counter.value += 1  # the code under test: races as in raw-value
        with stats.get_lock():  # the test's statistics
            stats[index] += 1


def count(counter):
    return counter.value


def every_increment_recorded(stats, each):
    recorded = list(stats)
    return None if recorded == [each] * len(recorded) else f"stats recorded {recorded}"


COUNTED = Scenario(id="counted", title="counter.value += 1, recorded in stats", expect=Expect.RACY,
                   build=build_counted, worker=count_and_record, observe=count, check=every_increment_recorded)
COUNTED_MARKED = Scenario(id="counted-marked", title="the same, stats marked share.bookkeeping", expect=Expect.RACY,
                          build=build_counted_marked, worker=count_and_record, observe=count,
                          check=every_increment_recorded)


def build_section(share, marked=False):
    stats = share.Array("i", 2)  # [inside now, most ever inside at once]
    return {"busy": share.Value("i", 0, lock=False), "total": share.Value("i", 0, lock=False),
            "stats": share.bookkeeping(stats) if marked else stats}


def build_section_marked(share):
    return build_section(share, marked=True)


def enter_if_free(busy, total, stats, ops):
    for _ in range(ops):
        if busy.value == 0:  # free? another process may be entering right now
            busy.value = 1
            with stats.get_lock():
                stats[0] += 1
                stats[1] = max(stats[1], stats[0])
            total.value += 1  # the work the section protects
            with stats.get_lock():
                stats[0] -= 1
            busy.value = 0


def one_inside(stats):
    return None if stats[1] <= 1 else f"{stats[1]} processes were in the section at once"


SECTION = Scenario(id="section", title="a section guarded by a hand-built flag", expect=Expect.RACY,
                   build=build_section, worker=enter_if_free, check=one_inside)
SECTION_MARKED = Scenario(id="section-marked", title="the same, stats marked share.bookkeeping", expect=Expect.RACY,
                          build=build_section_marked, worker=enter_if_free, check=one_inside)


# The code under test alone, without the statistics: what the marked versions must explore.
def build_bare_counter(share):
    return {"counter": share.Value("i", 0, lock=False)}


def just_count(counter, ops):
    for _ in range(ops):
        counter.value += 1


BARE_COUNTER = Scenario(id="bare-counter", title="counter.value += 1", expect=Expect.RACY,
                        build=build_bare_counter, worker=just_count, observe=count)


def build_bare_section(share):
    return {"busy": share.Value("i", 0, lock=False), "total": share.Value("i", 0, lock=False)}


def enter_if_free_unrecorded(busy, total, ops):
    for _ in range(ops):
        if busy.value == 0:
            busy.value = 1
            total.value += 1
            busy.value = 0


def holds(total):
    return None


BARE_SECTION = Scenario(id="bare-section", title="the section without its statistics", expect=Expect.RACY,
                        build=build_bare_section, worker=enter_if_free_unrecorded, check=holds)


# A bookkeeping lock held across a visible operation of the code under test.
def build_held_across(share):
    return {"counter": share.Value("i", 0, lock=False), "stats": share.bookkeeping(share.Array("i", 1))}


def hold_across(counter, stats):
    with stats.get_lock():
        counter.value += 1
        stats[0] += 1


HELD_ACROSS = Scenario(id="held-across", title="a bookkeeping lock held across counter.value += 1",
                       expect=Expect.RACY, build=build_held_across, worker=hold_across, observe=count)


# A bookkeeping Array that shares its lock with the counter under test: refused.
def build_shared_lock(share):
    counter = share.Value("i", 0)
    return {"counter": counter, "stats": share.bookkeeping(share.Array("i", 1, lock=counter.get_lock()))}


SHARED_LOCK = Scenario(id="shared-lock", title="bookkeeping on the counter's own lock", expect=Expect.RACY,
                       build=build_shared_lock, worker=hold_across, observe=count)


# Everything inside a marked container is bookkeeping too.
def build_marked_dict(share, processes):
    return {"counter": share.Value("i", 0, lock=False),
            "stats": share.bookkeeping({"made": share.Array("i", processes), "lock": share.Lock()})}


def count_and_record_in_dict(counter, stats, index):
    counter.value += 1
    with stats["lock"]:
        stats["made"][index] += 1


def recorded_in_dict(stats):
    return None if list(stats["made"]) == [1] * len(stats["made"]) else f"stats recorded {list(stats['made'])}"


MARKED_DICT = Scenario(id="marked-dict", title="statistics in a marked dict", expect=Expect.RACY,
                       build=build_marked_dict, worker=count_and_record_in_dict, observe=count,
                       check=recorded_in_dict)
