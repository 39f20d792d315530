"""``racecourse serve``: a Manager server that workers on other machines connect to.

It serves named counters and locks (``racecourse.remote``) until Ctrl-C or SIGTERM, then
exits with status 130 or 143, as every racecourse command stopped that way does.
``racecourse run remote-manager --connect HOST:PORT --authkey-file F``
runs workers against it. The authkey comes from the file, or is generated into it when
the file does not exist yet; it is never printed.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any, List, cast

from .. import remote
from .options import UsageError, add_authkey_file, server_address
from .status import EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run a Manager server (counters and locks) for workers on other machines",
        description="Serve named counters and locks on HOST:PORT to clients that know the authkey. "
        "The default listens on loopback only; name an interface address to serve other machines.",
    )
    parser.add_argument("--address", type=server_address, default=f"{remote.DEFAULT_HOST}:0", metavar="HOST:PORT",
                        help=f"where to listen (default: {remote.DEFAULT_HOST}, any free port; the port is printed)")
    add_authkey_file(parser, "file holding the authkey; created with a new random key if it does not exist",
                     required=True)
    parser.set_defaults(handler=serve_command)


# The signal that stopped the server: serve_forever() turns any stop into SystemExit(0).
_STOPPED_BY: List[int] = []


def _stop(signum: int, frame: Any) -> None:
    _STOPPED_BY.append(signum)
    raise KeyboardInterrupt  # serve_forever() stops on it, as on Ctrl-C


def serve_command(args: argparse.Namespace) -> int:
    try:
        authkey, generated = remote.read_or_generate_authkey(args.authkey_file)
    except remote.BadAuthkeyFile as error:
        raise UsageError(str(error)) from None
    manager = remote.RemoteManager(address=args.address, authkey=authkey)
    try:
        server = manager.get_server()  # binds the address now: a bad one fails before serving
    except OSError as error:
        raise UsageError(f"cannot listen on {remote.format_address(args.address)}: {error.strerror or error}") from None
    where = remote.format_address(cast(remote.Address, server.address))  # (host, port) for TCP
    key_note = "a new authkey written to" if generated else "authkey from"
    for stop_signal in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a background job ignores it
        signal.signal(stop_signal, _stop)
    try:
        print(f"racecourse: serving counters and locks on {where} ({key_note} {args.authkey_file}); "
              "Ctrl-C stops it", flush=True)
        if not remote.is_loopback(args.address[0]):
            print("racecourse: this address is reachable from other machines: anyone holding the authkey "
                  "can use the server", file=sys.stderr, flush=True)
        server.serve_forever()  # returns by raising SystemExit(0) once stopped
    except (SystemExit, KeyboardInterrupt):  # KeyboardInterrupt: stopped before it served
        pass
    print("racecourse: server stopped", flush=True)
    if _STOPPED_BY:
        return EXIT_TERMINATED if _STOPPED_BY[-1] == signal.SIGTERM else EXIT_INTERRUPTED
    return EXIT_OK
