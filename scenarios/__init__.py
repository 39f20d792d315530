"""The racecourse catalogue: one lesson per file.

Each module declares a ``Scenario`` and explains, in its docstring, what is shared, what
goes wrong and why, and what its safe twin does differently. ``ORDER`` is the order in
which ``racecourse list`` and the README show them: from the first race a learner meets
to the ones that need a server.
"""

ORDER = [
    "raw-value",
    "synchronized-value",
    "locked-value",
    "lock-value",
    "raw-array",
    "locked-array",
    "own-slot-array",
    "shared-memory",
    "shared-memory-locked",
    "manager-value",
    "manager-dict",
    "manager-dict-locked",
    "manager-namespace",
    "manager-list-append",
    "manager-list-item",
    "pool-map",
    "pool-apply-async",
    "pool-initializer-value",
    "pool-initializer-locked",
    "pool-arg-value",
    "module-lock",
    "global-counter",
    "shared-memory-basics",
    "manager-basics",
    "check-then-act",
    "event-handshake",
    "event-handshake-after-write",
    "queue-consumers",
    "queue-consumers-sentinels",
    "semaphore-by-hand",
    "semaphore-bounded",
    "condition-if",
    "condition-while",
    "deadlock",
    "remote-manager",
    "remote-manager-locked",
    "pool-download",
    "pool-download-locked",
]
