"""A tiny bank: balances in a ``multiprocessing.Manager`` dict, shared by card terminals.

This is the user code under test, written the way it often is. ``transfer`` checks that
the money is there, then moves it: two requests to the Manager to decide, two more to
debit, two more to credit. Each request is atomic on its own; nothing makes the check
and the moves one step, so two terminals paying from the same account at once can both
pass the check before either debits it (an overdraft), or both read the balance before
either writes it back (a lost debit: money created).

``transfer_locked`` is the fix: the whole check-then-act under one Manager lock.
"""

from __future__ import annotations

from typing import Any, MutableMapping


class InsufficientFunds(Exception):
    """The payment was declined: the account does not hold the amount."""


def transfer(accounts: MutableMapping[str, int], source: str, target: str, amount: int) -> None:
    """Move ``amount`` from ``source`` to ``target``, declining an overdraft."""
    if accounts[source] < amount:  # check...
        raise InsufficientFunds(f"{source} holds {accounts[source]}, cannot pay {amount}")
    accounts[source] -= amount  # ...then act: another terminal may have paid in between
    accounts[target] += amount


def transfer_locked(accounts: MutableMapping[str, int], lock: Any, source: str, target: str, amount: int) -> None:
    """``transfer`` with the check and both moves under ``lock``: one step for every other
    terminal that takes the same lock."""
    with lock:
        transfer(accounts, source, target, amount)
