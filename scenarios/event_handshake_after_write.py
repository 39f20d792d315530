"""event-handshake-after-write: write the message, then set the event: safe.

What is shared: the same as in ``event-handshake``: a message,
``Array("i", ops, lock=False)``, and an ``Event``, ``ready``. Process 0 writes the
message, word ``i`` set to ``i + 1``; every other process waits for ``ready`` and reads
it::

    for i in range(len(message)):
        message[i] = i + 1               # producer: the whole message first...
    ready.set()                          # ...then "the message is ready"

    ready.wait()                         # consumer
    received = message[:]                # its copy of the message
    unwritten = received.count(0)

Why it is safe: a consumer reads only after ``wait()`` returns, ``wait()`` returns only
once the flag is set, and the flag is set only after the last word is written. Setting
and waiting on an Event go through its lock, so the writes made before ``set()`` are
seen by whoever returns from ``wait()``. No consumer can find a word unwritten, whatever
the interleaving: ``racecourse explore`` goes through every one.

Compare ``event-handshake``, where the two producer steps are swapped and a consumer can
wake between the flag and the data.
"""

from racecourse import Defaults, Expect, Scenario


def build(share, processes, ops):
    return {
        "ready": share.Event(),
        "message": share.Array("i", ops, lock=False),
        "unwritten": share.Array("i", processes, lock=False),  # per consumer, what it missed
    }


def worker(ready, message, unwritten, index):
    if index == 0:
        for i in range(len(message)):
            message[i] = i + 1
        ready.set()  # only once every word is written
    else:
        ready.wait()
        received = message[:]  # the consumer's copy of the message
        unwritten[index] = received.count(0)


def check(unwritten, message):
    missed = [count for count in unwritten if count]
    if missed:
        return (
            f"half-written message: {len(missed)} consumer(s) read it before the producer"
            f" wrote it, missing up to {max(missed)} of {len(message)} words"
        )
    return None


SCENARIO = Scenario(
    id="event-handshake-after-write",
    title="write the data, then event.set(): every consumer reads the whole message",
    expect=Expect.SAFE,
    build=build,
    worker=worker,
    check=check,
    defaults=Defaults(processes=2, ops=200_000),
)
