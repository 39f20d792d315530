"""A Pool downloading from the local page server, interrupted mid-download."""

import os

from fault_marks import WAIT_SECONDS, mark, observe

from racecourse import Defaults, Expect, Scenario
from racecourse.scenarios._pages import download, start_site


def fetch(url):
    mark(f"fetching-{os.getpid()}", url)
    mark("running", 1)
    while True:
        for _ in download(url):
            pass


def build(share):
    site = start_site(share, pages=4)
    mark("pages.dir", os.path.dirname(site.list_file))
    return {"site": site, "counter": share.Value("i", 0)}


def program(share, site):
    with open(site.list_file) as listing:
        urls = listing.read().split()
    with share.Pool(3) as pool:
        pool.map(fetch, urls)


SCENARIO = Scenario(id="interrupted-pool", title="t", expect=Expect.SAFE, build=build, program=program,
                    observe=observe, defaults=Defaults(processes=3, trials=1, timeout=WAIT_SECONDS))
