"""Ctrl-C landing inside a barrier's condition variable, as multiprocessing surfaces it: an
AssertionError raised while handling the KeyboardInterrupt."""

from fault_marks import observe

from racecourse import Expect, Scenario


def build(share):
    share.Value("i", 0)
    try:
        raise KeyboardInterrupt  # as the signal handler raises it
    except KeyboardInterrupt:
        raise AssertionError("attempt to release recursive lock not owned by thread")  # noqa: B904


def worker(counter):
    pass


SCENARIO = Scenario(id="broken-by-interrupt", title="t", expect=Expect.SAFE, build=build,
                    worker=worker, observe=observe)
