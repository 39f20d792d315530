"""event-handshake: the producer says "ready" before it writes: a half-written message.

What is shared: a message, ``Array("i", ops, lock=False)``, and an ``Event``, ``ready``.
Process 0 is the producer: it writes the message, word ``i`` set to ``i + 1``, and sets
``ready`` to tell the others that the message is there. Every other process is a
consumer: it waits for ``ready`` and then reads the message::

    ready.set()                          # producer: "the message is ready"...
    for i in range(len(message)):
        message[i] = i + 1               # ...and only now writes it

    ready.wait()                         # consumer
    received = message[:]                # its copy of the message
    unwritten = received.count(0)

What goes wrong: the producer sets the event first and writes afterwards. ``ready.wait()``
returns as soon as the flag is set, so a consumer can go on while the producer is still
writing:

1. the producer sets ``ready``;
2. the consumer's ``wait()`` returns and it starts reading;
3. the producer has written only the first words: the consumer reads zeros where the rest
   of the message should be, and acts on a message that was never sent.

An Event orders nothing by itself: it only says "the flag is set". Whatever the consumer
may rely on must be written before the flag goes up. Each consumer records how many words
it found unwritten, and the check looks at those counts.

The fix (``event-handshake-after-write``): write the whole message first, then set the
event. A consumer that sees the flag then sees every word written before it::

    for i in range(len(message)):
        message[i] = i + 1
    ready.set()
"""

from racecourse import Acceptable, Defaults, Expect, Interesting, Scenario


def build(share, processes, ops):
    return {
        "ready": share.Event(),
        "message": share.Array("i", ops, lock=False),
        "unwritten": share.Array("i", processes, lock=False),  # per consumer, what it missed
    }


def worker(ready, message, unwritten, index):
    if index == 0:
        ready.set()  # announces the message before a word of it is written
        for i in range(len(message)):
            message[i] = i + 1
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
    id="event-handshake",
    title="event.set() before the data is written: a consumer reads a half-written message",
    expect=Expect.RACY,
    build=build,
    worker=worker,
    check=check,
    outcomes=(
        Acceptable("every consumer read the whole message", when=lambda violation: violation is None),
        Interesting("a half-written message: a consumer woke between the set and the writes",
                    when=lambda violation: violation.startswith("half-written")),
    ),
    defaults=Defaults(processes=2, ops=200_000),
)
