"""manager-basics: a child writes through Manager proxies, and the parent sees it all.

What is shared: a ``Value``, an ``Array``, a ``list`` and a ``dict``, all made by one
``Manager()``. They live in the Manager's server process; the parent and the child each
hold proxies, and every read or write is a request to that server. The child sets
``number.value = 3.14`` and ``arr[0] = 5``, appends to the list and stores a key in the
dict; the parent, after ``join()``, sees every change.

Why it is safe: one process writes, and the parent reads only after the child has
finished. Each proxy call is one request that the server carries out whole. A Manager
can hold ordinary Python objects (lists, dicts) that shared memory cannot, and a proxy,
unlike a ``Value``, may also travel through a queue or as a Pool task argument: it is
only an address and a name, and whoever holds it asks the server.

This is the basic use of a Manager. The races begin when several processes update the
same object at the same time with more than one request: ``manager-value``,
``manager-dict``, ``manager-list-item``.
"""

from racecourse import Defaults, Expect, Scenario


def child(number, arr, items, table):
    number.value = 3.14
    arr[0] = 5
    items.append("from the child")
    table["answer"] = 42


def build(share):
    manager = share.manager()
    return {
        "number": manager.Value("d", 0.0),
        "arr": manager.Array("i", range(10)),
        "items": manager.list(),
        "table": manager.dict(),
    }


def program(share, number, arr, items, table):
    process = share.Process(target=child, args=(number, arr, items, table))
    process.start()
    process.join()  # the server holds what the child wrote, for anyone to read
    if process.exitcode != 0:
        raise RuntimeError(f"the child exited with status {process.exitcode}")


def check(number, arr, items, table):
    seen = (number.value, list(arr[:]), list(items), dict(table))
    wanted = (3.14, [5, *range(1, 10)], ["from the child"], {"answer": 42})
    if seen != wanted:
        return f"the parent sees {seen}, not {wanted}"
    return None


SCENARIO = Scenario(
    id="manager-basics",
    title="Manager Value, Array, list and dict: the child sets, the parent sees",
    expect=Expect.SAFE,
    build=build,
    program=program,
    check=check,
    defaults=Defaults(processes=1, ops=1),
)
