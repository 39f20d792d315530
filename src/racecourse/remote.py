"""A Manager server that workers reach by address, as they would from other machines.

``RemoteManager`` is a ``BaseManager`` serving two kinds of objects by name: a counter
(``counter(name)``, used through a ``ValueProxy``: ``counter.value += 1``) and a lock
(``lock(name)``, used as ``with lock: ...``). Every client asking for the same name gets
a proxy to the same object, so unrelated processes share a counter and a lock just by
knowing the server's address, its authkey and the name. A served object lives while some
client holds a proxy to it; a long-running ``racecourse serve`` keeps nothing from the
runs it has served.

The authkey is a secret: it is read from a file or generated, and never printed.
"""

from __future__ import annotations

import functools
import os
import secrets
import signal
import socket
import threading
import weakref
from dataclasses import dataclass, field
from multiprocessing import AuthenticationError, managers
from multiprocessing.context import BaseContext
from multiprocessing.managers import BaseManager, ValueProxy
from typing import Any, List, Optional, Tuple

from .child_signals import leave_signals_to_parent, starting_children
from .errors import RacecourseError

Address = Tuple[str, int]

# Loopback only unless the user names another interface: a Manager executes requests
# from anyone who holds the authkey.
DEFAULT_HOST = "127.0.0.1"
AUTHKEY_BYTES = 32
PROBE_SECONDS = 5.0


class Counter:
    """The served counter: ``get`` and ``set``, each one request (what ``ValueProxy`` calls)."""

    def __init__(self) -> None:
        self._value = 0

    def get(self) -> int:
        return self._value

    def set(self, value: int) -> None:
        self._value = value


class ServedLock:
    """A lock the server holds for its clients (a class, so a weak reference can name it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()


# Server-side state: name -> object, dropped when no client holds a proxy to it any more
# (the server's own table holds the strong references, one per live proxy).
_counters: weakref.WeakValueDictionary[str, Counter] = weakref.WeakValueDictionary()
_locks: weakref.WeakValueDictionary[str, ServedLock] = weakref.WeakValueDictionary()
_table_lock = threading.Lock()  # the server serves each client from its own thread


def counter(name: str) -> Counter:
    with _table_lock:
        found = _counters.get(name)
        if found is None:
            found = _counters[name] = Counter()
        return found


def lock(name: str) -> ServedLock:
    with _table_lock:
        found = _locks.get(name)
        if found is None:
            found = _locks[name] = ServedLock()
        return found


class RemoteManager(BaseManager):
    """Serves ``counter(name)`` and ``lock(name)``; start it, serve it, or connect to it."""


RemoteManager.register("counter", callable=counter, proxytype=ValueProxy)
# The proxy SyncManager uses for its locks (not in every typeshed version).
RemoteManager.register("lock", callable=lock, proxytype=vars(managers)["AcquirerProxy"])


def start_server(context: BaseContext, authkey: bytes, address: Address = (DEFAULT_HOST, 0)) -> RemoteManager:
    """A server process of our own (port 0: any free port; ``manager.address`` tells)."""
    manager = RemoteManager(address=address, authkey=authkey, ctx=context)
    manager.start(functools.partial(leave_signals_to_parent, die_with_parent=True))  # the parent shuts it down
    return manager


@dataclass(frozen=True)
class Endpoint:
    """Where a server listens and the key it wants. The key never appears in a repr."""

    address: Address
    authkey: bytes = field(repr=False)

    def __str__(self) -> str:
        return format_address(self.address)


def connect(endpoint: Endpoint) -> RemoteManager:
    manager = RemoteManager(address=endpoint.address, authkey=endpoint.authkey)
    manager.connect()
    return manager


class RemoteServer:
    """The remote Manager of one run, as its ``Share`` hands it out (``share.remote_manager()``):
    a server of the run's own on 127.0.0.1 with a fresh authkey, shut down at ``close()``,
    or, given ``elsewhere``, a client of a server elsewhere that is left running."""

    def __init__(self, context: BaseContext, start_method: str, elsewhere: Optional[Endpoint] = None) -> None:
        self.elsewhere = elsewhere
        self.started = elsewhere is None
        if elsewhere is not None:
            self.manager = connect(elsewhere)
            self.authkey = elsewhere.authkey
        else:
            self.authkey = new_authkey()
            with starting_children(start_method):
                self.manager = start_server(context, self.authkey)

    def lost(self) -> List[Tuple[str, str, str]]:
        """A server elsewhere that no longer answers: (who, kind, what happened). A server
        of the run's own is a child process, which the Share watches like its Manager."""
        if self.elsewhere is None:
            return []
        try:
            probe(self.elsewhere, seconds=1.0)
        except Unavailable as error:
            return [(f"the Manager server at {self.elsewhere}", "exit", f"no longer answers ({error})")]
        return []

    def close(self) -> None:
        if self.started:
            self.manager.shutdown()


# -- addresses and keys ------------------------------------------------------------------


class BadAddress(RacecourseError, ValueError):
    """HOST:PORT that cannot be used."""


def parse_address(text: str, *, allow_any_port: bool = False) -> Address:
    """``HOST:PORT`` -> (host, port). Port 0 (any free port) only where a server binds."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text:
        raise BadAddress(f"address must be HOST:PORT, not {text!r}")
    if host.startswith("[") or ":" in host:
        raise BadAddress(f"{text!r}: multiprocessing's Manager listens on IPv4 only; give an IPv4 address or a host name")
    try:
        port = int(port_text)
    except ValueError:
        raise BadAddress(f"port must be a number, not {port_text!r}") from None
    low = 0 if allow_any_port else 1
    if not low <= port <= 65535:
        raise BadAddress(f"port must be from {low} to 65535, not {port}")
    return host, port


def format_address(address: Address) -> str:
    return f"{address[0]}:{address[1]}"


def is_loopback(host: str) -> bool:
    return host == "localhost" or host.startswith("127.")


class BadAuthkeyFile(RacecourseError, ValueError):
    """An authkey file that cannot be read or holds no key."""


def read_authkey(path: str) -> bytes:
    """The key in ``path``: its bytes with the final newline removed."""
    try:
        with open(path, "rb") as file:
            key = file.read().rstrip(b"\r\n")
    except OSError as error:
        raise BadAuthkeyFile(f"cannot read authkey file {path}: {error.strerror or error}") from None
    if not key:
        raise BadAuthkeyFile(f"authkey file {path} is empty")
    return key


def read_or_generate_authkey(path: str) -> Tuple[bytes, bool]:
    """The key in ``path``; if there is no such file, a new random key written there
    readable by its owner only. Returns (key, whether it was generated)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_authkey(path), False
    except OSError as error:
        raise BadAuthkeyFile(f"cannot create authkey file {path}: {error.strerror or error}") from None
    key = secrets.token_hex(AUTHKEY_BYTES).encode("ascii")
    with os.fdopen(descriptor, "wb") as file:
        file.write(key + b"\n")
    return key, True


def new_authkey() -> bytes:
    return secrets.token_bytes(AUTHKEY_BYTES)


# -- checking a server before using it -------------------------------------------------


class Unavailable(RacecourseError):
    """The server cannot be used: not reachable, or it refused the authkey."""


class Refused(Unavailable):
    """The server answered and refused the authkey."""


class _ProbeTimeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _ProbeTimeout()


def probe(endpoint: Endpoint, seconds: float = PROBE_SECONDS) -> None:
    """Connect once and authenticate; raise ``Refused`` or ``Unavailable`` with one line."""
    where = str(endpoint)
    try:
        socket.create_connection(endpoint.address, timeout=seconds).close()
    except OSError as error:
        raise Unavailable(f"cannot reach a Manager server at {where}: {error.strerror or error}") from None
    # The handshake itself has no timeout in multiprocessing: bound it with an alarm
    # (main thread only) in case something else listens there and never answers.
    armed = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    previous: Optional[Any] = None
    if armed:
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        connect(endpoint)
    except AuthenticationError:
        raise Refused(f"the Manager server at {where} refused the authkey: authentication failed") from None
    except _ProbeTimeout:
        raise Unavailable(f"{where} accepted a connection but did not answer as a Manager server") from None
    except (OSError, EOFError) as error:
        raise Unavailable(f"the Manager server at {where} closed the connection: {error}") from None
    finally:
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
