"""pool-apply-async: tasks submitted one by one, results collected with get().

What is shared: nothing. ``pool.apply_async(count, (chunk,))`` sends one task to the
Pool and returns at once with an ``AsyncResult``; ``result.get()`` waits for that task's
return value (and re-raises, in the parent, an exception the task raised). The program
submits ``processes`` tasks that each count ``ops`` items, collects every result, adds
them up, and then shuts the Pool down the orderly way: ``close()`` (no more tasks) and
``join()`` (wait for the workers to exit).

Why it is safe: each task counts in a local variable that no other process can see and
hands its count back as a return value; the only combining step, the sum, happens in the
parent. No memory is written by two processes, so there is no read-modify-write to
interleave. Compare ``pool-initializer-value``, where the tasks ``+=`` one shared
counter instead and lose updates.
"""

from racecourse import Defaults, Expect, Scenario


def count(chunk):
    n = 0
    for _ in chunk:
        n += 1  # a local variable: this process is the only one that sees it
    return n


def build():
    return {"results": {}}  # a plain dict in the parent, for observe()


def program(share, processes, ops, results):
    pool = share.Pool(processes)
    pending = [pool.apply_async(count, (range(ops),)) for _ in range(processes)]
    results["total"] = sum(result.get() for result in pending)  # waits for each task
    pool.close()  # no more tasks...
    pool.join()  # ...and wait until every worker has exited


def observe(results):
    return results["total"]


SCENARIO = Scenario(
    id="pool-apply-async",
    title="Pool.apply_async + get, then close/join",
    expect=Expect.SAFE,
    build=build,
    program=program,
    observe=observe,
    defaults=Defaults(processes=2, ops=10_000),
)
