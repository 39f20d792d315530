"""A local web site for the pool-download lessons, and the ways to download from it (a
private module: the catalogue skips names that start with an underscore).

``start_site(share, pages)`` starts an HTTP server on 127.0.0.1 in a process of its own
(not a thread: a thread in the parent would make every later fork unsafe), serving
``pages`` generated pages of known sizes, and writes their URLs, one a line, to a list
file. The server counts every byte it sends in a shared ``Value``, so a scenario can
check what its workers counted against what was really served. Everything goes away
when the Share closes: the server process, the list file and its directory.

``download(url, tool)`` yields a page's bytes chunk by chunk as they arrive, through
urllib, or through ``curl`` or ``wget`` run as a subprocess when they are installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator, List

from racecourse.child_signals import leave_signals_to_parent, starting_children
from racecourse.sharing import Share

HOST = "127.0.0.1"
START_SECONDS = 30.0
# Small reads: the counter is updated once per chunk, as a progress counter would be.
CHUNK = 64


def page_size(index: int) -> int:
    """Pages of 128, 256, 384 and 512 KiB, in turn."""
    return 131_072 * (1 + index % 4)


def total_size(pages: int) -> int:
    return sum(page_size(index) for index in range(pages))


def page_body(index: int) -> bytes:
    head = f"<html><head><title>page {index}</title></head><body><pre>\n".encode("ascii")
    tail = b"</pre></body></html>\n"
    size = page_size(index)
    line = f"page {index}: racecourse test content\n".encode("ascii")
    filler = (line * (size // len(line) + 1))[: size - len(head) - len(tail)]
    return head + filler + tail


def tools() -> List[str]:
    """The download tools this machine has: urllib always, curl and wget if installed."""
    return ["urllib"] + [tool for tool in ("curl", "wget") if shutil.which(tool)]


_COMMANDS = {
    "curl": ["curl", "--silent", "--show-error", "--fail", "--noproxy", "*"],
    "wget": ["wget", "--quiet", "--no-proxy", "--output-document=-"],
}


def download(url: str, tool: str = "urllib") -> Iterator[bytes]:
    """The page at ``url``, chunk by chunk, as it arrives."""
    if tool == "urllib":
        # No proxy: the site is on this machine, whatever http_proxy says.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=30) as response:
            yield from iter(lambda: response.read(CHUNK), b"")
        return
    command = _COMMANDS[tool] + [url]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        yield from iter(lambda: process.stdout.read(CHUNK), b"")  # type: ignore[union-attr]
        problem = process.stderr.read().decode(errors="replace").strip()
    if process.returncode != 0:
        raise OSError(f"{tool} {url} failed with status {process.returncode}: {problem}")


# -- the server ------------------------------------------------------------------------


class _Pages(BaseHTTPRequestHandler):
    server: _Site

    def do_GET(self) -> None:
        name = self.path.lstrip("/")
        number = name[len("page-"):-len(".html")] if name.startswith("page-") and name.endswith(".html") else ""
        if not number.isdigit() or int(number) >= self.server.pages:
            self.send_error(404)
            return
        body = page_body(int(number))
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with self.server.served.get_lock():  # the server's handler threads count together
            self.server.served.value += len(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request on stderr would bury the report


class _Site(ThreadingHTTPServer):
    daemon_threads = True
    pages = 0
    served: Any = None

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client stopped mid-page (a worker terminated, Ctrl-C) is not the server's
        # problem to report; anything else is.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _serve(pages: int, served: Any, control: Any) -> None:
    """Entry point of the server process (module-level so spawn can import it). It serves
    until the parent says stop (or its end of ``control`` closes), then ends normally, so
    it leaves as processes that finish do, not killed by a signal."""
    leave_signals_to_parent()
    site = _Site((HOST, 0), _Pages)
    site.pages, site.served = pages, served
    control.send(site.server_address[1])
    serving = threading.Thread(target=site.serve_forever, name="racecourse-pages-serve", daemon=True)
    serving.start()
    try:
        control.recv()
    except EOFError:  # the parent is gone
        pass
    site.shutdown()
    site.server_close()


@dataclass
class Site:
    base_url: str
    list_file: str
    pages: int
    served: Any  # Value("q"): bytes the server has sent


def start_site(share: Share, pages: int) -> Site:
    """Serve ``pages`` pages on 127.0.0.1 and list their URLs in a file; both go at close."""
    served = share.Value("q", 0)
    control, child_end = share.context.Pipe()
    server = share.Process(target=_serve, args=(pages, served, child_end), name="racecourse-pages", daemon=True)
    with starting_children(share.start_method):
        server.start()
    child_end.close()

    def stop() -> None:
        try:
            control.send("stop")
        except OSError:  # it already ended
            pass
        server.join(5)
        if server.is_alive():
            server.kill()
            server.join()
        control.close()

    share.on_close(stop)
    if not control.poll(START_SECONDS):
        raise RuntimeError(f"the page server did not start within {START_SECONDS:g} s")
    try:
        port = control.recv()
    except EOFError:
        raise RuntimeError(f"the page server exited at start (exit code {server.exitcode})") from None
    base_url = f"http://{HOST}:{port}"
    directory = tempfile.mkdtemp(prefix="racecourse-pages-")
    share.on_close(lambda: shutil.rmtree(directory, ignore_errors=True))
    list_file = os.path.join(directory, "pages.txt")
    with open(list_file, "w") as listing:
        listing.writelines(f"{base_url}/page-{index}.html\n" for index in range(pages))
    return Site(base_url, list_file, pages, served)
