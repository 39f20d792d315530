"""``racecourse play --web`` in a real browser: Debian's Chromium, headless, driven over the
DevTools protocol (tests/web_support.py). The tests click the page's buttons with mouse
events, as a learner does, and read the page's text.

They need a Chromium binary (``apt-get install chromium``; .ci/run installs it) and are
skipped, saying so, only where there is none. The page does not depend on the session's
start method (the workers' method is the server's business, tested in test_web_play.py),
so they run once per interpreter.

``RACECOURSE_SCREENSHOTS=DIR`` also saves the screenshot the README shows into DIR
(``RACECOURSE_SCREENSHOTS=docs pytest tests/test_browser.py`` renews docs/play-web*.png).
"""

from __future__ import annotations

import inspect
import os
import shutil
import struct
from typing import Callable, Iterator

import pytest

from support import leftover_processes, start_methods
from web_support import VIEWPORT, Browser, Play, chromium_binary, started_plays

BINARY = chromium_binary()
pytestmark = [
    pytest.mark.start_method_independent,
    pytest.mark.skipif(BINARY is None, reason="no Chromium binary (apt-get install chromium, or set RACECOURSE_CHROMIUM)"),
]
METHOD = start_methods()[0]


def _increment_line() -> int:
    """The line of raw-value's ``counter.value += 1``, as the page numbers it."""
    from racecourse.scenarios import raw_value

    source, first = inspect.getsourcelines(raw_value.worker)
    return first + next(number for number, text in enumerate(source) if "counter.value += 1" in text)


INCREMENT_LINE = _increment_line()


@pytest.fixture
def play_web() -> Iterator[Callable[..., Play]]:
    yield from started_plays()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    assert BINARY is not None
    started = Browser(BINARY, str(tmp_path_factory.mktemp("chromium-profile")))
    yield started
    started.close()
    assert leftover_processes(started.process.pid) == []


def open_play(browser: Browser, start: Callable[..., Play], scenario: str) -> Play:
    play = start(scenario)
    browser.open(f"http://127.0.0.1:{play.port}/")
    browser.wait_for_text("Step process 1")
    return play


def quit_play(browser: Browser, play: Play) -> None:
    browser.click("quit")
    browser.wait_for_text("Stopped: every worker process has ended")
    status, out, err = play.finish()
    assert status == 0 and "stopped: quit from the page" in out, err


def step(browser: Browser, process: int, schedule: str) -> str:
    browser.click(f"step-{process}")
    return browser.wait_for_text(f"Schedule so far: {schedule}\n")


def test_raw_value_played_to_a_lost_update_by_clicking_then_undone(browser, play_web, tmp_path):
    play = open_play(browser, play_web, "raw-value")
    text = browser.text()
    assert "raw-value: Value(lock=False): += with no lock" in text
    assert f"process 0: next read counter (line {INCREMENT_LINE}, the read of +=; its write comes later)" in text
    assert "counter.value += 1" in text and "Shared state: count=0" in text
    step(browser, 0, "0")
    step(browser, 1, "01")
    text = step(browser, 1, "011")
    assert "process 1: finished" in text and "Shared state: count=1" in text
    assert f"process 0: next write counter (line {INCREMENT_LINE}, the write of +=; its read is done)" in text
    assert browser.evaluate("document.getElementById('step-1').disabled") is True
    step(browser, 0, "0110")
    text = browser.wait_for_text("An update was lost")
    assert ("An update was lost at step 4: process 0 overwrites the update process 1 wrote at step 3, with a "
            "value it read before that write. Outcome: count=1 (expected 2, 1 lost).") in text
    assert f"racecourse replay raw-value --schedule 2x1:0110 --start-method {METHOD}" in text
    assert f"write counter <- 1 (line {INCREMENT_LINE}) LOST" in text
    save_screenshot(browser, tmp_path)

    browser.click("undo")
    text = browser.wait_for_text("Schedule so far: 011\n")
    assert "An update was lost" not in text and "LOST" not in text
    assert "process 0: next write counter" in text and "Shared state: count=1" in text

    # The hint: back to the start, then the minimal failing schedule one highlighted step at a time.
    browser.click("hint")
    text = browser.wait_for_text("The minimal failing schedule is 0110 (count=1 (expected 2, 1 lost)). Next: process 0.")
    assert "Schedule so far: (empty)" in text
    for done in ("0", "01", "011", "0110"):
        browser.click("hint-next")
        browser.wait_for_text(f"Schedule so far: {done}\n")
    browser.wait_for_text("An update was lost at step 4")
    quit_play(browser, play)


def test_deadlock_reached_by_clicking(browser, play_web, tmp_path):
    play = open_play(browser, play_web, "deadlock")
    text = step(browser, 0, "0")
    assert "process 0: next acquire bob.lock (line 36); holds alice.lock" in text
    step(browser, 1, "01")
    text = browser.wait_for_text("Deadlock! Nobody can move")
    assert ("Deadlock! Nobody can move: process 0 holds alice.lock and waits for bob.lock (held by process 1); "
            "process 1 holds bob.lock and waits for alice.lock (held by process 0).") in text
    assert browser.evaluate("[0, 1].map(p => document.getElementById('step-' + p).disabled)") == [True, True]
    # Each process still shows the line it is stuck on, and what it waits for.
    assert "process 0: waits to acquire bob.lock (held by process 1) (line 36); holds alice.lock" in text
    assert "process 1: waits to acquire alice.lock (held by process 0) (line 36); holds bob.lock" in text
    assert browser.evaluate("document.querySelectorAll('.process.waiting .line.current').length") == 2
    save_screenshot(browser, tmp_path, "play-web-deadlock.png")
    quit_play(browser, play)


def test_closing_the_page_stops_the_game(browser, play_web):
    play = open_play(browser, play_web, "raw-value")
    step(browser, 0, "0")
    browser.open("about:blank")  # the page goes away: it says goodbye, and no page asks again
    status, out, err = play.finish(timeout=60)
    assert status == 0, err
    assert "stopped: the page was closed; every worker process has ended" in out


def save_screenshot(browser: Browser, directory: os.PathLike, name: str = "play-web.png") -> None:
    path = os.path.join(directory, name)
    data = browser.screenshot(path)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == VIEWPORT
    wanted = os.environ.get("RACECOURSE_SCREENSHOTS")
    if wanted:
        shutil.copy(path, os.path.join(wanted, name))
