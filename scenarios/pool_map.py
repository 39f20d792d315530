"""pool-map: a Pool that shares nothing, and a count that cannot lose updates.

What is shared: nothing. ``Pool.map`` sends each task's argument to a worker process by
pickling it and sends the function's return value back the same way. No two processes
ever write the same memory.

The program does two things a user's script does:

* ``pool.map(square, range(1, 11))`` returns ``[1, 4, 9, ..., 100]``, in the order of
  the inputs, whichever worker computed each one;
* a map-reduce count: each task counts the items of its chunk in a local variable
  (``n += 1`` on a variable no other process can see) and returns the count; the parent
  adds the returned counts up. ``processes`` chunks of ``ops`` items: the total is
  ``processes x ops``, always.

Why it is safe: the ``+=`` that loses updates in ``raw-value`` or
``pool-initializer-value`` is a read and a write of memory that another process also
writes. Here each ``+=`` touches memory private to one process, and the only combining
step, the sum, happens in one process after every result has arrived. Returning results
instead of sharing a counter is the usual fix, and it needs no lock.
"""

from racecourse import Defaults, Expect, Scenario


def square(n):
    return n * n


def count(chunk):
    n = 0
    for _ in chunk:
        n += 1  # a local variable: this process is the only one that sees it
    return n


def build():
    return {"results": {}}  # a plain dict in the parent, for observe() and check()


def program(share, processes, ops, results):
    with share.Pool(processes) as pool:
        results["squares"] = pool.map(square, range(1, 11))
        counts = pool.map(count, [range(ops)] * processes)  # map: one chunk per task
    results["total"] = sum(counts)  # reduce: in the parent, after every task returned


def observe(results):
    return results["total"]


def check(results):
    wanted = [n * n for n in range(1, 11)]
    if results["squares"] != wanted:
        return f"map(square, 1..10) returned {results['squares']}, not {wanted}"
    return None


SCENARIO = Scenario(
    id="pool-map",
    title="Pool.map(square, 1..10) and a map-reduce count summed by the parent",
    expect=Expect.SAFE,
    build=build,
    program=program,
    observe=observe,
    check=check,
    defaults=Defaults(processes=5, ops=10_000),
)
