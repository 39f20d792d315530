"""Helpers for the tests of ``play --web``: the command as a user runs it, and a small
client of the Chrome DevTools protocol that drives Debian's Chromium (headless) over a
pipe, from this process and without a thread."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from support import leftover_processes, start_methods

ADDRESS = re.compile(r"http://127\.0\.0\.1:(\d+)/")


class Play:
    """A running ``racecourse play ID --web``: its process, port, and the requests to it."""

    def __init__(self, scenario: str, *options: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "racecourse", "play", scenario, "--web", *options],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline()  # printed once the workers run and the port is bound
        found = ADDRESS.search(first)
        assert found, first + self.process.stderr.read() if self.process.stderr else first
        self.port = int(found.group(1))

    def request(self, method: str, path: str, body: Optional[Dict[str, Any]] = None,
                headers: Optional[Dict[str, str]] = None) -> Tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            sent = {"Content-Type": "application/json"} if body is not None else {}
            sent.update(headers or {})
            connection.request(method, path, json.dumps(body).encode() if body is not None else None, sent)
            answer = connection.getresponse()
            return answer.status, answer.read()
        finally:
            connection.close()

    def state(self) -> Dict[str, Any]:
        status, body = self.request("GET", "/state")
        assert status == 200
        data: Dict[str, Any] = json.loads(body)
        return data

    def post(self, path: str, body: Optional[Dict[str, Any]] = None) -> int:
        return self.request("POST", path, body if body is not None else {})[0]

    def steps(self, *processes: int) -> Dict[str, Any]:
        for process in processes:
            assert self.post("/step", {"process": process}) == 202
        return self.state()

    def finish(self, timeout: float = 60) -> Tuple[int, str, str]:
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, out, err


def started_plays() -> Iterator[Callable[..., Play]]:
    """The body of a ``play_web`` fixture: it starts ``racecourse play SCENARIO --web`` under
    the session's start method; afterwards each must have ended by itself (Quit, Ctrl-C),
    leaving no process (workers included)."""
    started: List[Play] = []

    def start(scenario: str, *options: str) -> Play:
        started.append(Play(scenario, "-m", start_methods()[0], *options))
        return started[-1]

    yield start
    for play in started:
        if play.process.poll() is None:
            # The whole session it leads: a SIGKILLed parent leaves its fork workers
            # waiting (each holds its siblings' command pipes), so they go by group.
            os.killpg(play.process.pid, signal.SIGKILL)
            play.process.wait()
            pytest.fail("the play server was still running at the end of the test")
        for stream in (play.process.stdout, play.process.stderr):
            if stream is not None:
                stream.close()  # a test that never called finish() would leave its pipes open
        assert leftover_processes(play.process.pid) == []


# -- a headless Chromium, driven over the DevTools protocol -------------------------------------

BROWSER_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-pipe", "--hide-scrollbars",
]
VIEWPORT = (1000, 880)


_ON_FDS_3_AND_4 = """
import os, sys
reading, writing = int(sys.argv[1]), int(sys.argv[2])
moved = [os.dup(fd) for fd in (reading, writing)]  # either may already be 3 or 4
os.dup2(moved[0], 3)
os.dup2(moved[1], 4)
os.set_inheritable(3, True)  # os.dup made them close-on-exec, and dup2 onto itself keeps that
os.set_inheritable(4, True)
for fd in set([reading, writing] + moved) - {3, 4}:
    os.close(fd)
os.execv(sys.argv[3], sys.argv[3:])
"""


def chromium_binary() -> Optional[str]:
    """Debian's Chromium (or $RACECOURSE_CHROMIUM), or None when there is none."""
    chosen = os.environ.get("RACECOURSE_CHROMIUM")
    if chosen:
        return chosen
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(RuntimeError):
    pass


class Browser:
    """Chromium with ``--remote-debugging-pipe``: commands go to its fd 3 and answers come
    from its fd 4, each a JSON message ended by a NUL byte. One page (a target attached in
    flat mode), driven by one request at a time: no websocket, no thread."""

    def __init__(self, binary: str, profile: str, timeout: float = 30.0) -> None:
        self.timeout = timeout
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        # The protocol's pipes must be the browser's fds 3 and 4; a small Python puts them
        # there and execs the browser (preexec_fn would fork with the interpreter's locks).
        self.process = subprocess.Popen(
            [sys.executable, "-c", _ON_FDS_3_AND_4, str(to_browser_read), str(from_browser_write), binary,
             *BROWSER_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(to_browser_read, from_browser_write), start_new_session=True,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self.session: Optional[str] = None
        try:
            target = self.send("Target.createTarget", {"url": "about:blank"}, browser=True)["targetId"]
            self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                     browser=True)["sessionId"]
            self.send("Page.enable")
            # A fixed viewport: the page lays out, and screenshots come out, the same everywhere.
            self.send("Emulation.setDeviceMetricsOverride", {"width": VIEWPORT[0], "height": VIEWPORT[1],
                                                             "deviceScaleFactor": 1, "mobile": False})
        except BaseException:
            self.close()
            raise

    def send(self, method: str, params: Optional[Dict[str, Any]] = None, browser: bool = False) -> Dict[str, Any]:
        """One command and its answer (events that come in between are skipped)."""
        self._next_id += 1
        message: Dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if not browser:
            message["sessionId"] = self.session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._to_browser, data):]
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._read(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                result: Dict[str, Any] = answer.get("result", {})
                return result

    def _read(self, deadline: float) -> Dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise BrowserError(f"Chromium did not answer within {self.timeout:g} s")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium closed the protocol pipe (it exited?)")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        decoded: Dict[str, Any] = json.loads(message)
        return decoded

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        answer = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                 "returnByValue": True})
        if "exceptionDetails" in answer:
            raise BrowserError(f"{expression}: {answer['exceptionDetails'].get('text')}")
        return answer["result"].get("value")

    def open(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})

    def text(self) -> str:
        return str(self.evaluate("document.body.innerText"))

    def wait_for_text(self, wanted: str, seconds: float = 20.0) -> str:
        """The page's text once it contains ``wanted``: the page itself checks after every
        change of the document (a MutationObserver), so no fixed wait is involved."""
        found = self.evaluate(f"""new Promise(resolve => {{
            const wanted = {json.dumps(wanted)};
            const done = () => document.body && document.body.innerText.includes(wanted);
            if (done()) return resolve(true);
            const watch = new MutationObserver(() => {{ if (done()) {{ watch.disconnect(); resolve(true); }} }});
            watch.observe(document, {{subtree: true, childList: true, characterData: true, attributes: true}});
            setTimeout(() => {{ watch.disconnect(); resolve(done()); }}, {int(seconds * 1000)});
        }})""")
        text = self.text()
        if not found:
            raise AssertionError(f"the page never showed {wanted!r}; it shows:\n{text}")
        return text

    def click(self, element_id: str) -> None:
        """A real mouse click (pressed, released) at the middle of the element."""
        box = self.evaluate(f"""(() => {{
            const node = document.getElementById({json.dumps(element_id)});
            if (!node) return null;
            node.scrollIntoView({{block: "center"}});
            const r = node.getBoundingClientRect();
            return {{x: r.left + r.width / 2, y: r.top + r.height / 2, disabled: !!node.disabled, hidden: !!node.hidden}};
        }})()""")
        if box is None or box["hidden"]:
            raise AssertionError(f"no visible #{element_id} on the page")
        if box["disabled"]:
            raise AssertionError(f"#{element_id} is disabled")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box["x"], "y": box["y"], "button": "left",
                                                   "clickCount": 1})

    def screenshot(self, path: str) -> bytes:
        data = base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])
        with open(path, "wb") as out:
            out.write(data)
        return data

    def close(self) -> None:
        """Close the browser and wait for it; its process group goes if it will not."""
        try:
            self.send("Browser.close", browser=True)
        except (BrowserError, OSError):
            pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass

