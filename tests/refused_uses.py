"""Things control cannot schedule, hidden inside what build returns: each must be refused
up front with one line saying what and where, never found out by a worker that waits."""

import socket
from dataclasses import dataclass
from typing import Any

from racecourse import Expect, Scenario


def bump(counter):
    counter.value += 1


def count(counter):
    return counter.value


@dataclass
class Crew:
    helper: Any


def build_process(share):
    return {"counter": share.Value("i", 0, lock=False), "crew": Crew(share.Process(target=print))}


def use_crew(counter, crew):
    bump(counter)


PROCESS = Scenario(id="nested-process", title="a Process in a dataclass", expect=Expect.RACY,
                   build=build_process, worker=use_crew, observe=count)


def build_pipe(share):
    mine, theirs = share.context.Pipe()
    share.on_close(mine.close)
    share.on_close(theirs.close)
    return {"counter": share.Value("i", 0, lock=False), "ends": [mine, theirs]}


def use_pipe(counter, ends, index):
    ends[index].send(index)
    bump(counter)


PIPE = Scenario(id="nested-pipe", title="a Pipe's ends in a list", expect=Expect.RACY,
                build=build_pipe, worker=use_pipe, observe=count)


class Client:
    """A user's own class that talks to a server."""

    def __init__(self, connection):
        self.connection = connection


def build_socket(share):
    mine, theirs = socket.socketpair()
    share.on_close(mine.close)
    share.on_close(theirs.close)
    return {"counter": share.Value("i", 0, lock=False), "client": Client(mine)}


def use_socket(counter, client):
    client.connection.send(b"x")
    bump(counter)


SOCKET = Scenario(id="nested-socket", title="a socket in a user's object", expect=Expect.RACY,
                  build=build_socket, worker=use_socket, observe=count)
