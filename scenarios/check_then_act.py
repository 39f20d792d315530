"""check-then-act: every withdrawal is locked, the check before it is not: overdraft.

What is shared: the balances of ``ACCOUNTS`` bank accounts, ``Array("i", ...)``, each
holding ``ops`` withdrawals' worth. The workers are cashiers paying out the accounts one
after the other: each keeps withdrawing ``AMOUNT`` from an account while the money is
there, then moves on to the next account::

    while balances[account] >= AMOUNT:       # check
        with balances.get_lock():            # act, under the lock
            balances[account] -= AMOUNT

What goes wrong: the subtraction is locked, so no update is lost (compare
``locked-array``). But the decision to withdraw was taken before the lock, on a balance
read earlier. When one withdrawal's worth is left, two cashiers can both read it, both
decide that the money is there, and then both subtract, one after the other, under the
lock: the account goes below zero. A lock around each step does not make the check and
the act one step. Every account that runs out is another chance, which is why there are
several. This is the shape of many real bugs: "if the file does not exist, create it",
"if the seat is free, book it", "if the key is missing, insert it".

The invariant is "no balance ever goes below zero". Nothing is ever paid in, so an
account that went below zero stays there, and the final balances tell.

The fix: hold the lock across the check and the act together, so that the balance
cannot change between them::

    while True:
        with balances.get_lock():
            if balances[account] < AMOUNT:
                break
            balances[account] -= AMOUNT
"""

from racecourse import Acceptable, Defaults, Expect, Interesting, Scenario

AMOUNT = 10
ACCOUNTS = 10


def build(share, ops):
    return {"balances": share.Array("i", [AMOUNT * ops] * ACCOUNTS)}


def worker(balances):
    for account in range(len(balances)):
        while balances[account] >= AMOUNT:  # check: another cashier may withdraw right after
            with balances.get_lock():  # act: locked, but on a decision already made
                balances[account] -= AMOUNT


def check(balances):
    overdrawn = [balance for balance in balances if balance < 0]
    if overdrawn:
        return (
            f"overdrawn: {len(overdrawn)} of {len(balances)} accounts went below zero"
            f" (lowest {min(overdrawn)})"
        )
    return None


SCENARIO = Scenario(
    id="check-then-act",
    title="while balance >= amount: balance -= amount (under the lock): overdraft",
    expect=Expect.RACY,
    build=build,
    worker=worker,
    check=check,
    outcomes=(
        Acceptable("no account below zero", when=lambda violation: violation is None),
        Interesting("an overdraft: two cashiers passed the balance check before either withdrew",
                    when=lambda violation: violation.startswith("overdrawn")),
    ),
    defaults=Defaults(processes=2, ops=500),
)
