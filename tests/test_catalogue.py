"""The catalogue: every id of DESIGN.md is there, each file is a complete lesson."""

from __future__ import annotations

import inspect
import textwrap

import pytest

from racecourse import Expect, Scenario, catalogue
from racecourse.catalogue import UnknownScenario

pytestmark = pytest.mark.start_method_independent

# The stable ids of DESIGN.md's catalogue that ship today, and of the lessons added for
# the queue, Event, Semaphore and Condition, with their expectations.
DECLARED = {
    "raw-value": Expect.RACY,
    "synchronized-value": Expect.RACY,
    "locked-value": Expect.SAFE,
    "lock-value": Expect.SAFE,
    "raw-array": Expect.RACY,
    "locked-array": Expect.SAFE,
    "own-slot-array": Expect.SAFE,
    "shared-memory": Expect.RACY,
    "shared-memory-locked": Expect.SAFE,
    "manager-value": Expect.RACY,
    "manager-dict": Expect.RACY,
    "manager-dict-locked": Expect.SAFE,
    "manager-namespace": Expect.RACY,
    "manager-list-append": Expect.SAFE,
    "manager-list-item": Expect.RACY,
    "pool-map": Expect.SAFE,
    "pool-apply-async": Expect.SAFE,
    "pool-initializer-value": Expect.RACY,
    "pool-initializer-locked": Expect.SAFE,
    "pool-arg-value": Expect.ERROR,
    "module-lock": Expect.FORK_ONLY,
    "global-counter": Expect.SAFE,
    "shared-memory-basics": Expect.SAFE,
    "manager-basics": Expect.SAFE,
    "check-then-act": Expect.RACY,
    "event-handshake": Expect.RACY,
    "event-handshake-after-write": Expect.SAFE,
    "queue-consumers": Expect.RACY,
    "queue-consumers-sentinels": Expect.SAFE,
    "semaphore-by-hand": Expect.RACY,
    "semaphore-bounded": Expect.SAFE,
    "condition-if": Expect.RACY,
    "condition-while": Expect.SAFE,
    "deadlock": Expect.DEADLOCK,
    "remote-manager": Expect.RACY,
    "remote-manager-locked": Expect.SAFE,
    "pool-download": Expect.RACY,
    "pool-download-locked": Expect.SAFE,
}

BUILTIN = catalogue.builtin_by_id()


def test_every_declared_id_ships_with_its_expectation():
    missing = sorted(set(DECLARED) - set(BUILTIN))
    assert missing == []
    assert {i: BUILTIN[i].expect for i in DECLARED} == DECLARED


def test_listing_follows_the_catalogue_order():
    from racecourse.scenarios import ORDER

    ids = [s.id for s in catalogue.builtin()]
    assert ids == [i for i in ORDER if i in BUILTIN]


@pytest.mark.parametrize("scenario", list(BUILTIN.values()), ids=list(BUILTIN))
def test_each_scenario_is_a_lesson(scenario: Scenario):
    lesson = scenario.lesson
    assert lesson.startswith(scenario.id + ":"), "the lesson opens with the scenario's id"
    assert len(lesson.split()) >= 40, "a lesson explains what is shared, what goes wrong and why"
    code = scenario.worker or scenario.program
    assert code is not None and inspect.getmodule(code).__name__ == scenario.module
    # Children find workers by module name: they must be importable module-level functions.
    assert code.__qualname__ == code.__name__ and code.__name__ != "<lambda>"


def test_unknown_id_suggests_the_nearest():
    with pytest.raises(UnknownScenario, match="did you mean 'raw-value'"):
        catalogue.resolve("raw-valeu")
    with pytest.raises(UnknownScenario, match="racecourse list"):
        catalogue.resolve("zzzz")


def test_user_scenario_file(tmp_path):
    path = tmp_path / "my_counter.py"
    path.write_text(textwrap.dedent('''
        """my-counter: a user's own counter, incremented under its lock."""
        from racecourse import Expect, Scenario

        def build(share):
            return {"hits": share.Value("i", 0)}

        def worker(hits, ops):
            for _ in range(ops):
                with hits.get_lock():
                    hits.value += 1

        def observe(hits):
            return hits.value

        MINE = Scenario(id="my-counter", title="mine", expect=Expect.SAFE,
                        build=build, worker=worker, observe=observe)
    '''))
    (found,) = catalogue.resolve(str(path))
    assert found.id == "my-counter" and found.path == str(path) and found.attribute == "MINE"
    assert catalogue.resolve_one(f"{path}:MINE") == found
    assert catalogue.resolve_one(f"{path}:my-counter") == found
    with pytest.raises(UnknownScenario, match="declares no racecourse Scenario"):
        catalogue.resolve(f"{path}:other")
    with pytest.raises(UnknownScenario, match="no such scenario file"):
        catalogue.resolve(str(tmp_path / "absent.py"))


def test_scenario_declarations_are_checked():
    from racecourse.scenarios.raw_value import build, observe, worker

    with pytest.raises(ValueError, match="exactly one of worker= or program="):
        Scenario(id="x", title="x", expect=Expect.SAFE, build=build, observe=observe)
    with pytest.raises(ValueError, match="names what it raises"):
        Scenario(id="x", title="x", expect=Expect.ERROR, build=build, worker=worker)
    with pytest.raises(ValueError, match="observe="):
        Scenario(id="x", title="x", expect=Expect.SAFE, build=build, worker=worker)
