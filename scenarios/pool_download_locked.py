"""pool-download-locked: the fix for pool-download: return the sizes, or hold the lock.

The same exercise as ``pool-download``: a local web server on 127.0.0.1 serves generated
pages, their URLs are listed in a file, and ``Pool(3).map`` downloads them, through
urllib, ``curl`` or ``wget``.

Why it is safe, twice over:

* each task counts its page's bytes in a local variable (``size += len(chunk)``, memory
  no other process can see) and returns the size; ``map`` sends the sizes back to the
  parent, which adds them up after every task has returned. Nothing is shared, so
  nothing can be lost: the usual fix, and it needs no lock;
* the shared counter of ``pool-download`` is still there, kept right by holding
  ``TOTAL.get_lock()`` across the whole ``TOTAL.value += len(chunk)``: the read, the
  addition and the write. No other worker can read the total between this worker's
  read and its write. (The Value's lock is recursive, which is why the locked read and
  write inside the block do not deadlock against it.)

Both totals must equal the number of bytes the server says it sent.
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
    size = 0
    for chunk in download(url, tool):
        size += len(chunk)  # a local variable: this task is the only one that sees it
        with TOTAL.get_lock():  # the whole read-add-write is one critical section
            TOTAL.value += len(chunk)
    return size


def build(share, ops, processes):
    return {
        "site": start_site(share, pages=ops),
        "total": share.Value("q", 0),
        "start_line": share.context.Barrier(processes),
        "sizes": [],  # filled in by the program, in the parent
    }


def program(share, site, total, start_line, sizes, processes):
    with open(site.list_file) as listing:
        urls = listing.read().split()
    available = tools()
    jobs = [(url, available[n % len(available)]) for n, url in enumerate(urls)]
    with share.Pool(processes, initializer=install, initargs=(total, start_line)) as pool:
        sizes.extend(pool.map(fetch, jobs, chunksize=1))  # returned, not shared


def expected(processes, ops):
    return total_size(ops)  # the bytes of the ops pages


def observe(sizes):
    return sum(sizes)  # reduce: in the parent, after every task returned


def check(site, total, sizes):
    served = site.served.value
    if served != total_size(site.pages):
        return f"the server sent {served} bytes, not the {total_size(site.pages)} of its {site.pages} pages"
    if total.value != served:
        return f"the locked counter says {total.value} bytes, the server sent {served}"
    if sum(sizes) != served:
        return f"the returned sizes add up to {sum(sizes)} bytes, the server sent {served}"
    return None


SCENARIO = Scenario(
    id="pool-download-locked",
    title="Pool(3) downloads listed pages; sizes returned by map and summed, counter under its lock",
    expect=Expect.SAFE,
    build=build,
    program=program,
    observe=observe,
    expected=expected,
    unit="bytes",
    check=check,
    defaults=Defaults(processes=3, ops=12),
)
