"""``racecourse play ID --web`` through its HTTP endpoints, without a browser.

Each test starts the command as a user does (a fresh interpreter, in a session of its own
so that every process it starts can be counted afterwards), reads the address it prints,
and talks to it with http.client (no thread here, no proxy in between). What the page
would show is asserted on /state's JSON; tests/test_browser.py clicks the real page.
"""

from __future__ import annotations

import signal
import socket
import time
from typing import Callable, Iterator

import pytest

from racecourse import catalogue
from racecourse.control import Controller
from racecourse.web.server import WebPlay
from support import nothing_left_behind, start_methods  # noqa: F401 - a fixture
from web_support import Play, started_plays

METHOD = start_methods()[0]


@pytest.fixture
def play_web() -> Iterator[Callable[..., Play]]:
    yield from started_plays()


def test_raw_value_lost_update_undo_and_quit(play_web):
    play = play_web("raw-value")
    status, page = play.request("GET", "/")
    assert status == 200 and b"<title>racecourse play</title>" in page and b"http" not in page.lower().replace(
        b"http-equiv", b"")
    state = play.state()
    assert (state["scenario"]["id"], state["processes"], state["start_method"]) == ("raw-value", 2, METHOD)
    assert [view["state"] for view in state["views"]] == ["runnable", "runnable"]
    assert any(line["text"].strip().startswith("counter.value += 1") for line in state["code"])
    line = state["views"][0]["line"]
    assert state["views"][0]["where"] == f"line {line}, the read of +=; its write comes later"
    assert state["hint"]["text"] == "0110" and state["hint"]["outcome"] == "count=1 (expected 2, 1 lost)"

    state = play.steps(0, 1, 1)
    assert state["schedule"] == "011" and state["shared"] == "count=1"
    assert state["views"][0]["text"] == f"process 0: next write counter (line {line}, the write of +=; its read is done)"
    assert state["views"][1]["state"] == "finished"
    assert play.post("/step", {"process": 1}) == 409  # finished: it cannot go
    state = play.steps(0)
    assert state["ended"]["outcome"] == "count=1 (expected 2, 1 lost)" and not state["ended"]["correct"]
    assert state["announcement"]["kind"] == "lost"
    assert state["announcement"]["text"].startswith(
        "An update was lost at step 4: process 0 overwrites the update process 1 wrote at step 3")
    assert [step["lost"] is not None for step in state["timeline"]] == [False, False, False, True]
    assert state["replay"] == f"racecourse replay raw-value --schedule 2x1:0110 --start-method {METHOD}"

    assert play.post("/undo") == 202
    state = play.state()
    assert state["schedule"] == "011" and state["ended"] is None and state["announcement"] is None
    state = play.steps(0)
    assert state["schedule"] == "0110"  # the same workers, the same race again
    assert play.post("/restart") == 202
    assert play.state()["schedule"] == ""
    assert play.post("/quit") == 202
    status, out, err = play.finish()
    assert status == 0, err
    assert "stopped: quit from the page; every worker process has ended" in out
    assert "step 4: process 0: write counter <- 1" in out  # the terminal follows the game


def test_deadlock_is_announced_in_plain_words(play_web):
    play = play_web("deadlock")
    state = play.steps(0)
    assert state["views"][0]["holds"] == ["alice.lock"]
    state = play.steps(1)
    assert state["ended"]["status"] == "deadlock"
    assert state["announcement"] == {"kind": "deadlock", "text": (
        "Deadlock! Nobody can move: process 0 holds alice.lock and waits for bob.lock (held by process 1); "
        "process 1 holds bob.lock and waits for alice.lock (held by process 0).")}
    assert play.post("/quit") == 202
    assert play.finish()[0] == 0


def test_bad_requests_are_refused(play_web):
    play = play_web("raw-value")
    assert play.request("POST", "/step", {"process": 5})[0] == 409
    assert play.request("POST", "/step", {"process": True})[0] == 409
    assert play.request("POST", "/step", {"process": "0"})[0] == 409
    assert play.request("POST", "/undo", {})[0] == 409  # nothing to undo yet
    assert play.request("POST", "/nowhere", {})[0] == 404
    assert play.request("GET", "/nowhere")[0] == 404
    # A form on another site cannot send JSON, and a rebound DNS name is not 127.0.0.1.
    assert play.request("POST", "/quit", None, {"Content-Type": "text/plain"})[0] == 415
    assert play.request("GET", "/state", None, {"Host": "evil.example:80"})[0] == 403
    assert play.request("POST", "/step", {"process": 0}, {"Host": "evil.example"})[0] == 403
    assert play.state()["schedule"] == ""  # none of them did anything
    assert play.post("/quit") == 202
    assert play.finish()[0] == 0


def test_a_silent_connection_does_not_hold_up_the_page(play_web):
    """Browsers open connections before they need them; one that never sends a request
    must not stand between the page and the server."""
    play = play_web("raw-value")
    silent = [socket.create_connection(("127.0.0.1", play.port)) for _ in range(3)]
    try:
        assert play.state()["schedule"] == ""
        assert play.steps(0)["schedule"] == "0"
    finally:
        for connection in silent:
            connection.close()
    assert play.post("/quit") == 202
    assert play.finish()[0] == 0


def test_ctrl_c_stops_the_server_and_every_worker(play_web):
    play = play_web("raw-value")
    play.steps(0)
    play.process.send_signal(signal.SIGINT)
    status, _, err = play.finish()
    assert status == 130 and "interrupted; every process it started has been stopped" in err


def test_the_server_binds_only_the_loopback_address(play_web):
    play = play_web("raw-value")
    with open(f"/proc/{play.process.pid}/net/tcp") as table:
        listening = [line.split() for line in table.readlines()[1:] if line.split()[3] == "0A"]
    ours = [fields[1] for fields in listening if int(fields[1].split(":")[1], 16) == play.port]
    assert ours == [f"0100007F:{play.port:04X}"]  # 127.0.0.1, little-endian
    assert play.post("/quit") == 202
    assert play.finish()[0] == 0


def play_until_it_stops(before: Callable[[WebPlay], None], idle_seconds: float = 0.2) -> str:
    """Run a game in this process whose page never asks for anything, after ``before``
    (what the page did last); why it stopped. The workers stop with it."""
    scenario = catalogue.resolve_one("raw-value")
    with Controller(scenario, 2, 1, METHOD, lines=True) as controller:
        game = WebPlay(controller, scenario, idle_seconds=idle_seconds, say=lambda text: None)
        game.start()
        try:
            before(game)
            return game.play()
        finally:
            game.close()


@pytest.mark.usefixtures("nothing_left_behind")
def test_a_silent_page_stops_the_game():
    """The page's heartbeat stopped (a crashed browser): play() returns once the page has
    been silent for idle_seconds."""
    started = time.monotonic()
    assert play_until_it_stops(WebPlay.heard) == "the page has been silent for 0.2 s (closed?)"
    assert 0.2 <= time.monotonic() - started < 10


@pytest.mark.usefixtures("nothing_left_behind")
def test_a_page_that_says_goodbye_stops_the_game_unless_it_comes_back(monkeypatch):
    monkeypatch.setattr("racecourse.web.server.BYE_SECONDS", 0.1)

    def closed(game: WebPlay) -> None:
        game.heard("first")
        assert game.act("/bye", {"page": "first"}) == (202, {"ok": True})

    def reloaded(game: WebPlay) -> None:
        closed(game)
        game.heard("second")  # the reloaded page asks for / at once

    def reloaded_goodbye_late(game: WebPlay) -> None:
        game.heard("first")
        game.heard("second")  # the new page asked before the old one's goodbye arrived
        game.act("/bye", {"page": "first"})

    assert play_until_it_stops(closed, idle_seconds=60) == "the page was closed"
    assert play_until_it_stops(reloaded) == "the page has been silent for 0.2 s (closed?)"
    assert play_until_it_stops(reloaded_goodbye_late) == "the page has been silent for 0.2 s (closed?)"
