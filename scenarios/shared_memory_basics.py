"""shared-memory-basics: a child writes a Value and an Array, and the parent sees both.

What is shared: ``Value("d", 0.0)``, one C double, and ``Array("i", range(10))``, ten C
ints, both in shared memory that the parent created. The parent starts one child with
both as ``Process`` arguments (that is, by inheritance), the child sets
``number.value = 3.14`` and ``arr[0] = 5``, and the parent, after ``join()``, reads
3.14 and ``[5, 1, 2, ..., 9]``.

Why it is safe: only one process writes, and the parent reads only after ``join()`` has
returned, that is after the child has finished. Nothing runs at the same time, so
nothing can interleave. Unlike a module global (``global-counter``), the writes are
visible to the parent because the memory itself is shared, not copied.

This is the basic use of shared memory. The races begin when several processes write
the same memory at the same time: ``raw-value``, ``synchronized-value``, ``raw-array``.
"""

from racecourse import Defaults, Expect, Scenario


def child(number, arr):
    number.value = 3.14
    arr[0] = 5


def build(share):
    return {"number": share.Value("d", 0.0), "arr": share.Array("i", range(10))}


def program(share, number, arr):
    process = share.Process(target=child, args=(number, arr))
    process.start()
    process.join()  # after this, everything the child wrote is there to read
    if process.exitcode != 0:
        raise RuntimeError(f"the child exited with status {process.exitcode}")


def check(number, arr):
    if number.value != 3.14 or arr[:] != [5, *range(1, 10)]:
        return f"the parent sees number={number.value}, arr={arr[:]}, not 3.14 and [5, 1, ..., 9]"
    return None


SCENARIO = Scenario(
    id="shared-memory-basics",
    title="Value('d') and Array('i', range(10)): the child sets, the parent sees",
    expect=Expect.SAFE,
    build=build,
    program=program,
    check=check,
    defaults=Defaults(processes=1, ops=1),
)
