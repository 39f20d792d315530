"""What racecourse relies on in each interpreter, checked where it runs.

The matrix runs every CPython from 3.9 to 3.15 and PyPy. These are the interpreter
behaviours racecourse builds on, each checked in a fresh process (the test session has
set its own start method; a user's program has not):

- the default start method: fork on Linux up to 3.13 (and PyPy 3.9), forkserver from
  CPython 3.14. racecourse's own default follows the interpreter's, and a run without
  --start-method says which one it used;
- the pytest plugin restarts the forkserver between tests through multiprocessing's
  ForkServer._stop(), a private method: it must exist, and a forkserver child must start
  after it (3.14 added an authentication handshake to the forkserver).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap

import pytest

from racecourse.sharing import available_start_methods

pytestmark = pytest.mark.start_method_independent


def interpreters_default() -> str:
    """The default start method this interpreter documents for this platform."""
    if sys.platform == "linux":
        modern = platform.python_implementation() == "CPython" and sys.version_info >= (3, 14)
        return "forkserver" if modern else "fork"
    return "spawn" if sys.platform in ("win32", "darwin") else "fork"


def fresh_python(*argv: str) -> subprocess.CompletedProcess:
    """A new interpreter that nobody told which start method to use."""
    env = {k: v for k, v in os.environ.items() if k != "RACECOURSE_START_METHOD"}
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, timeout=300)


def test_racecourse_follows_the_interpreters_default_start_method():
    found = fresh_python("-c", "from racecourse.sharing import default_start_method; print(default_start_method())")
    assert found.stdout.strip() == interpreters_default(), found.stderr


def test_a_run_without_start_method_uses_the_default_and_says_so():
    # module-lock is the lesson the 3.14 change broke: its module-level Lock is shared under
    # fork only, so its declaration under the default start method changes with it.
    done = fresh_python("-m", "racecourse", "run", "module-lock", "--trials", "1", "--ops", "100", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["start_method"] == interpreters_default()


@pytest.mark.skipif("forkserver" not in available_start_methods(), reason="no forkserver on this platform")
def test_the_plugins_forkserver_restart_works_here(tmp_path):
    program = textwrap.dedent('''
        import multiprocessing, os
        from multiprocessing import forkserver
        from racecourse.plugin.pytest_plugin import _stop_forkserver

        def pid_of_server(queue):
            queue.put(os.getppid())

        def one_child():
            ctx = multiprocessing.get_context("forkserver")
            queue = ctx.Queue()
            child = ctx.Process(target=pid_of_server, args=(queue,))
            child.start()
            server = queue.get(timeout=60)
            child.join()
            assert child.exitcode == 0
            return server

        if __name__ == "__main__":
            assert callable(forkserver._forkserver._stop)
            first = one_child()
            _stop_forkserver()
            second = one_child()  # a new server, which the child reached through its handshake
            print(first != second, forkserver._forkserver._forkserver_pid == second)
    ''')
    script = tmp_path / "restart.py"  # a file: forkserver children import its functions
    script.write_text(program)
    done = fresh_python(str(script))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"], done.stdout + done.stderr
