"""pool-download: a Pool of 3 downloads the pages listed in a file and counts the bytes.

The classic exercise. The run starts a small web server on 127.0.0.1 serving generated
pages of known sizes, and writes their URLs, one a line, to a file. The program reads
the file and hands the URLs to ``Pool(3).map``; each task downloads one page, through
urllib, or through ``curl`` or ``wget`` run as a subprocess when they are installed
(the pages are shared out among the tools this machine has).

What is shared: ``Value("q", 0)``, a byte counter installed in every Pool worker by the
Pool's initializer (the only way a synchronized Value reaches a Pool worker). As each
chunk of a page arrives, the task adds its size: ``TOTAL.value += len(chunk)``, the way
a progress counter is written. The initializer also waits at a ``Barrier`` until every
worker of the Pool is up: otherwise, under spawn, the first worker can download every
page before the others have finished starting, and nothing overlaps.

What goes wrong: ``TOTAL.value += len(chunk)`` is a read and then a separate write. The
Value's lock is taken for the read and released, then taken again for the write: in
between, another worker can read the same old total, and both write their own sum. One
of the two chunks is never counted. Every page downloads in full, and the server's own
count of the bytes it sent is exact, but the shared total comes out short.

The safe twin, ``pool-download-locked``, returns each page's size from the task and lets
the parent add them up (nothing shared: nothing to lose), and also shows the counter
kept right by holding ``TOTAL.get_lock()`` around the whole ``+=``.
"""

import threading

from racecourse import Defaults, Expect, Scenario
from racecourse.scenarios._pages import download, start_site, tools, total_size

START_SECONDS = 30.0

TOTAL = None  # the shared byte counter, set in each Pool worker by install()


def install(total, start_line):
    global TOTAL
    TOTAL = total
    try:  # no task starts before every worker is up: the downloads overlap
        start_line.wait(START_SECONDS)
    except threading.BrokenBarrierError:
        pass  # a replacement worker, started after the others: just go


def fetch(job):
    url, tool = job
    for chunk in download(url, tool):
        TOTAL.value += len(chunk)  # read, then write: another worker can read in between


def build(share, ops, processes):
    return {
        "site": start_site(share, pages=ops),
        "total": share.Value("q", 0),
        "start_line": share.context.Barrier(processes),
    }


def program(share, site, total, start_line, processes):
    with open(site.list_file) as listing:
        urls = listing.read().split()
    available = tools()
    jobs = [(url, available[n % len(available)]) for n, url in enumerate(urls)]
    with share.Pool(processes, initializer=install, initargs=(total, start_line)) as pool:
        pool.map(fetch, jobs, chunksize=1)


def expected(processes, ops):
    return total_size(ops)  # the bytes of the ops pages


def observe(total):
    return total.value


def check(site):
    wanted = total_size(site.pages)
    if site.served.value != wanted:  # each page downloaded exactly once, in full
        return f"the server sent {site.served.value} bytes, not the {wanted} of its {site.pages} pages"
    return None


SCENARIO = Scenario(
    id="pool-download",
    title="Pool(3) downloads listed pages; += each chunk's size on a shared counter",
    expect=Expect.RACY,
    build=build,
    program=program,
    observe=observe,
    expected=expected,
    unit="bytes",
    check=check,
    defaults=Defaults(processes=3, ops=24),
)
