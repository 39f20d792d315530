"""``racecourse play ID --web``: the scheduler game in a local page, on real processes.

The same :class:`~racecourse.control.Controller` as the terminal's ``play`` runs the
workers; the page takes the keyboard's place. There is no thread: the controller asks its
chooser who goes next, and the chooser serves HTTP requests, one at a time in the main
thread (``PlayServer.serve_ready``, a select loop), until the page says who. The workers are
started before the server's socket exists, and nothing forks afterwards, so the rules of
fork with threads never come into it.

Endpoints (JSON unless said otherwise; the page is the only client they are made for):

- ``GET /``: the page (HTML with its CSS and script inline: it works offline);
- ``GET /state``: everything the page shows (also the page's heartbeat);
- ``POST /step`` ``{"process": N}``: let process N perform its next operation;
- ``POST /undo``: take back the last step (the steps before it run again, as replay does);
- ``POST /restart``: back to the start; ``POST /quit``: stop the workers and the server;
- ``POST /bye``: the page is going away (closed, reloaded, navigated elsewhere).

A POST answers at once (202); the page then asks for ``/state``, which is served once
the step has happened. Only 127.0.0.1 is bound, a request must name that host (no DNS
rebinding), and a POST must be JSON (a form on another site cannot send one).

The server stops, and every worker with it, on ``/quit``, on Ctrl-C, when the page said
``/bye`` and no page has asked for anything within ``BYE_SECONDS`` (a reload asks at
once, a closed tab never does), and when the page has been silent for ``idle_seconds``
after it first connected (it asks for ``/state`` every few seconds while open; this
catches a page that could not say goodbye: a crashed browser, a machine gone to sleep).
"""

from __future__ import annotations

import json
import select
import socket
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer
from importlib import resources
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..control import Controller, Execution, Exploration, RunState, Status, Step, format_schedule
from ..control.instrument import Op
from ..model import Scenario
from ..replay_command import replay_command
from ..results import sizes
from ..worker_code import WorkerCode, half, process_views

HOST = "127.0.0.1"
IDLE_SECONDS = 75.0  # the page's heartbeat comes every 3 s; a hidden tab's timers slow to one a minute
BYE_SECONDS = 2.0  # after the page's goodbye, the time a reload has to ask again (it asks for / at once)
PAGE = "play.html"


class _Undo(Exception):
    """Back to an earlier step: the run is abandoned and the remaining prefix runs again."""


class _Quit(Exception):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class PlayServer(HTTPServer):
    """The HTTP side: requests become actions for :class:`WebPlay`, one at a time.

    A browser opens connections ahead of need and may leave one idle; a server that read
    from each connection as it accepted it would wait on such a one while the page's real
    request queues behind it. So accepted connections wait in ``waiting`` until the first
    bytes of a request arrive, and only then are served (with a time limit per request).
    """

    MAX_WAITING = 32  # connections opened and silent; the oldest is dropped beyond this
    REQUEST_SECONDS = 10.0  # to send a whole request once it has begun

    def __init__(self, game: "WebPlay", port: int = 0) -> None:
        self.game = game
        self.waiting: List[Tuple[socket.socket, Any]] = []
        super().__init__((HOST, port), _Handler)

    def serve_ready(self, timeout: Optional[float]) -> None:
        """Accept new connections and serve those whose request has begun to arrive, or
        return after ``timeout`` seconds (None: wait as long as it takes)."""
        sockets = [self.socket] + [connection for connection, _ in self.waiting]
        for ready in select.select(sockets, [], [], timeout)[0]:
            if ready is self.socket:
                connection, address = self.socket.accept()
                connection.settimeout(self.REQUEST_SECONDS)
                self.waiting.append((connection, address))
                if len(self.waiting) > self.MAX_WAITING:
                    self.shutdown_request(self.waiting.pop(0)[0])
                continue
            entry = next(entry for entry in self.waiting if entry[0] is ready)
            self.waiting.remove(entry)
            self.process_request(*entry)  # answers, then closes the connection

    def server_close(self) -> None:
        for connection, _ in self.waiting:
            self.shutdown_request(connection)
        self.waiting = []
        super().server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a page that went away mid-answer is no reason to print a traceback


class _Handler(BaseHTTPRequestHandler):
    server: PlayServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # the terminal shows the game's events, not every request

    def _host_ok(self) -> bool:
        port = self.server.server_address[1]
        return self.headers.get("Host", "") in (f"{HOST}:{port}", f"localhost:{port}")

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode("utf-8"))

    def do_GET(self) -> None:
        if not self._host_ok():
            return self._json(403, {"error": "ask for 127.0.0.1 by name"})
        game = self.server.game
        path, _, query = self.path.partition("?")
        game.heard(urllib.parse.parse_qs(query).get("page", [None])[0])
        if path in ("/", "/index.html"):
            return self._send(200, game.page(), "text/html; charset=utf-8")
        if path == "/state":
            return self._json(200, game.state())
        return self._json(404, {"error": f"no such page: {self.path}"})

    def do_POST(self) -> None:
        if not self._host_ok():
            return self._json(403, {"error": "ask for 127.0.0.1 by name"})
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            return self._json(415, {"error": "send JSON"})
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}") if length <= 10_000 else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._json(400, {"error": "send a JSON object"})
        game = self.server.game
        page = body.get("page")
        game.heard(page if isinstance(page, str) else None)
        status, answer = game.act(self.path, body)
        self._json(status, answer)


def _step_json(number: int, step: Step, code: Optional[WorkerCode]) -> Dict[str, Any]:
    source = code.text(step.line) if code is not None else ""
    return {"step": number, "process": step.process, "text": step.describe(), "lost": step.lost,
            "state": step.state, "line": step.line, "half": half(step.kind, source)}


class WebPlay:
    """The game: the person at the page as the controller's chooser (as the terminal's
    player), and the state the page shows."""

    def __init__(self, controller: Controller, scenario: Scenario, hint: Optional[Exploration] = None,
                 idle_seconds: float = IDLE_SECONDS, say: Callable[[str], None] = print) -> None:
        self.controller = controller
        self.scenario = scenario
        self.code = WorkerCode.of(scenario)
        self.idle_seconds = idle_seconds
        self.say = say
        self.chosen: List[int] = []
        self.replaying = 0
        self.run: Optional[RunState] = None
        self.ended: Optional[Execution] = None
        self.action: Optional[Tuple[str, int]] = None
        self.last_heard: Optional[float] = None  # None until the page first connects
        self.leaving: Optional[float] = None  # when the page said goodbye (cleared by any later request)
        # Each loaded page names itself in its requests: the goodbye of a page that was
        # reloaded can arrive after the new page's first request, and must not count then.
        self.last_page: Optional[str] = None
        # What every process was about to do after the last step: a deadlocked run ends with
        # its pending operations dropped, and the page still shows where each one is stuck.
        self.last_pending: Dict[int, Op] = {}
        self.last_lines: Dict[int, Optional[int]] = {}
        self.hint = self._hint(hint)
        self.server: Optional[PlayServer] = None

    # -- the HTTP side ---------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        """Bind the server (after the workers are running) and return its address."""
        self.server = PlayServer(self, port)
        return f"http://{HOST}:{self.server.server_address[1]}/"

    def close(self) -> None:
        if self.server is not None:
            self.server.server_close()
            self.server = None

    def heard(self, page: Optional[str] = None) -> None:
        self.last_heard = time.monotonic()
        self.leaving = None
        if page is not None:
            self.last_page = page

    def page(self) -> bytes:
        return resources.files("racecourse.web").joinpath(PAGE).read_bytes()

    def act(self, path: str, body: Dict[str, Any]) -> Tuple[int, Dict[str, Any]]:
        """A POST from the page: checked now, carried out when the request is answered."""
        if path == "/step":
            process = body.get("process")
            enabled = self.run.enabled if self.run is not None and self.ended is None else []
            if not isinstance(process, int) or isinstance(process, bool) or process not in enabled:
                return 409, {"error": f"process {process} cannot go now", "runnable": list(enabled)}
            self.action = ("step", process)
        elif path == "/undo":
            if not self.chosen:
                return 409, {"error": "nothing to undo"}
            self.action = ("undo", 0)
        elif path == "/restart":
            self.action = ("restart", 0)
        elif path == "/quit":
            self.action = ("quit", 0)
        elif path == "/bye":
            if body.get("page") == self.last_page:  # not a page replaced by another since
                self.leaving = time.monotonic()
        else:
            return 404, {"error": f"no such action: {path}"}
        return 202, {"ok": True}

    def _wait(self) -> Tuple[str, int]:
        """Serve requests until the page asks for something, or has gone silent."""
        assert self.server is not None
        self.action = None
        while self.action is None:
            left: Optional[float] = None
            now = time.monotonic()
            if self.leaving is not None:
                left = self.leaving + BYE_SECONDS - now
                if left <= 0:
                    raise _Quit("the page was closed")
            elif self.last_heard is not None:
                left = self.last_heard + self.idle_seconds - now
                if left <= 0:
                    raise _Quit(f"the page has been silent for {self.idle_seconds:g} s (closed?)")
            self.server.serve_ready(left)
        return self.action

    # -- the game ----------------------------------------------------------------------------

    def choose(self, run: RunState) -> int:
        position = len(run.schedule)
        if position < self.replaying:
            return self.chosen[position]
        self.run = run
        kind, process = self._wait()
        if kind == "step":
            self.chosen.append(process)
            return process
        self._apply(kind)
        raise _Undo()

    def _apply(self, kind: str) -> None:
        if kind == "quit":
            raise _Quit("quit from the page")
        if kind == "undo" and self.chosen:
            self.chosen.pop()
        elif kind == "restart":
            self.chosen.clear()

    def on_step(self, run: RunState, step: Step) -> None:
        self.last_pending, self.last_lines = dict(run.pending), dict(run.lines)
        if len(run.steps) > self.replaying:
            self.say(f"step {len(run.steps)}: process {step.process}: {step.describe()}")

    def play(self) -> str:
        """Run the game until the page quits or goes away; returns why it ended."""
        while True:
            self.replaying = len(self.chosen)
            self.ended = None
            try:
                execution = self.controller.run(self.choose, watch=True, on_step=self.on_step)
            except _Undo:
                continue
            except _Quit as stop:
                return stop.why
            self.ended = execution
            self.run = None
            self.say(f"schedule {execution.schedule_text}: {execution.outcome}")
            try:
                while True:
                    kind, _ = self._wait()
                    if kind != "step":
                        self._apply(kind)
                        break
            except _Quit as stop:
                return stop.why

    # -- what the page shows ------------------------------------------------------------------

    def _hint(self, exploration: Optional[Exploration]) -> Optional[Dict[str, Any]]:
        failure = exploration.first_failure if exploration is not None else None
        if failure is None:
            return None
        return {"schedule": failure.execution.schedule, "text": failure.schedule, "sized": failure.sized,
                "outcome": failure.outcome, "replay": failure.replay_command}

    def _schedule(self) -> List[int]:
        if self.ended is not None:
            return list(self.ended.schedule)
        return list(self.run.schedule) if self.run is not None else list(self.chosen)

    def state(self) -> Dict[str, Any]:
        controller, scenario, code = self.controller, self.scenario, self.code
        steps = (self.ended.steps if self.ended is not None else self.run.steps if self.run is not None else [])
        schedule = self._schedule()
        sized = format_schedule(schedule, controller.processes, controller.ops)
        if self.run is not None and self.ended is None:
            views = process_views(controller.processes, self.run.pending, self.run.enabled, self.run.lines,
                                  self.run.steps, code)
        elif self.ended is not None and self.ended.status is Status.DEADLOCK:
            views = process_views(controller.processes, self.last_pending, [], self.last_lines, steps, code)
        else:
            views = process_views(controller.processes, {}, [], {}, steps, code)
        return {
            "scenario": {"id": scenario.id, "title": scenario.title, "lesson": scenario.lesson,
                         "expect": scenario.expect.value},
            "size": sizes(controller.processes, controller.ops),
            "processes": controller.processes,
            "start_method": controller.start_method,
            "code": [{"line": number, "text": text} for number, text in code.numbered] if code else [],
            "code_where": code.where if code else None,
            "shared": controller.state_text(steps[-1] if steps else None),
            "views": [{"process": v.process, "state": v.state, "next": v.next, "line": v.line, "where": v.where,
                       "holds": v.holds, "waits_for": v.waits_for, "held_by": v.held_by, "text": v.describe()}
                      for v in views],
            "timeline": [_step_json(number, step, code) for number, step in enumerate(steps, 1)],
            "schedule": format_schedule(schedule),
            "replay": replay_command(scenario, sized, controller.start_method) if schedule else None,
            "announcement": self._announcement(steps),
            "ended": self._ending(),
            "hint": self.hint,
        }

    def _announcement(self, steps: List[Step]) -> Optional[Dict[str, Any]]:
        """The news of the moment, in plain words: a lost update, a deadlock, the outcome."""
        if self.ended is not None and self.ended.status is Status.DEADLOCK:
            return {"kind": "deadlock", "text": f"Deadlock! Nobody can move: {self.ended.deadlock}."}
        lost = [(number, step) for number, step in enumerate(steps, 1) if step.lost]
        if lost:
            number, step = lost[-1]
            text = (f"An update was lost at step {number}: process {step.process} {step.lost}, "
                    "with a value it read before that write.")
            if self.ended is not None:
                text += f" Outcome: {self.ended.outcome}."
            return {"kind": "lost", "text": text}
        if self.ended is not None:
            kind = "ok" if self.ended.correct else "wrong"
            return {"kind": kind, "text": f"Every process finished. Outcome: {self.ended.outcome}."}
        return None

    def _ending(self) -> Optional[Dict[str, Any]]:
        if self.ended is None:
            return None
        return {"status": self.ended.status.value, "outcome": self.ended.outcome, "correct": self.ended.correct,
                "deadlock": self.ended.deadlock}


def serve(controller: Controller, scenario: Scenario, hint: Optional[Exploration] = None, port: int = 0,
          idle_seconds: float = IDLE_SECONDS, say: Callable[[str], None] = print) -> str:
    """Play ``scenario`` on ``controller``'s workers in a page until it quits; returns why."""
    game = WebPlay(controller, scenario, hint, idle_seconds, say)
    address = game.start(port)
    try:
        say(f"{scenario.id}: play it in your browser at {address}  (Ctrl-C or the page's Quit button stops it)")
        return game.play()
    finally:
        game.close()
