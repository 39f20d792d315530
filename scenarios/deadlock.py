"""deadlock: two locks taken in opposite orders: both workers wait for ever.

What is shared: two bank accounts, ``alice`` and ``bob``, each a ``Value("i", START)``
with its own lock. A transfer locks the account the money leaves, then the account it
goes to, and moves one unit:

    with source.get_lock():
        with target.get_lock():
            source.value -= 1
            target.value += 1

Even-numbered workers pay from alice to bob, odd-numbered ones from bob to alice.

What goes wrong: worker 0 takes alice's lock and reaches for bob's; at that moment
worker 1 has taken bob's lock and reaches for alice's. Each holds the lock the other
needs and waits for the lock the other holds: neither can ever go on. Nothing is
corrupted (both locks do their job); the program just stops. A stress run sees only
that the trial never finishes: it stops it at the timeout and reports the deadlock.

The fix: agree on one order for all locks, whoever takes them. For example, always lock
the account with the smaller number first, whichever way the money goes: then whoever
holds the first lock can always take the second.
"""

from racecourse import Defaults, Expect, Scenario

START = 1_000_000


def build(share):
    return {"alice": share.Value("i", START), "bob": share.Value("i", START)}


def transfer(source, target):
    with source.get_lock():  # lock the account the money leaves...
        with target.get_lock():  # ...then the one it goes to: the order differs per worker
            source.value -= 1
            target.value += 1


def worker(alice, bob, ops, index):
    source, target = (alice, bob) if index % 2 == 0 else (bob, alice)
    for _ in range(ops):
        transfer(source, target)


def check(alice, bob):
    # Read past the locks (get_obj()): a worker stopped mid-transfer may still hold one.
    total = alice.get_obj().value + bob.get_obj().value
    if total != 2 * START:
        return f"money appeared or vanished: alice + bob = {total}, not {2 * START}"
    return None


SCENARIO = Scenario(
    id="deadlock",
    title="two locks taken in opposite orders",
    expect=Expect.DEADLOCK,
    build=build,
    worker=worker,
    check=check,
    defaults=Defaults(processes=2, ops=100_000, trials=1, timeout=1.5),
)
