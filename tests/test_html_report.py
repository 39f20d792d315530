"""``run … --html FILE`` and ``explore … --html FILE``: the report parsed as HTML.

The file is read back with the standard library's html.parser, as a browser would see its
structure: the verdict, the outcome rows, the worker's code, the failing timeline; that a
hostile scenario title comes out as text, never as markup; and that nothing in it points
outside the file.
"""

from __future__ import annotations

import html.parser
import os
import pathlib
from typing import Dict, List, Optional, Tuple

import pytest

from support import nothing_left_behind, run_cli, scenario_file, start_methods  # noqa: F401 - a fixture

METHOD = start_methods()[0]
# Every command here starts and stops its own processes: none may outlive it.
pytestmark = pytest.mark.usefixtures("nothing_left_behind")


class Page(html.parser.HTMLParser):
    """The parts of a page the tests look at: its elements with their attributes, the text
    of each table row, every text node, and the text inside each element kind."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: List[Tuple[str, Dict[str, Optional[str]]]] = []
        self.rows: List[List[str]] = []
        self.texts: List[str] = []
        self.inside: Dict[str, List[str]] = {}
        self._open: List[str] = []
        self._row: Optional[List[str]] = None
        self._cell: Optional[List[str]] = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._open.append(tag)
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        if tag in self._open:
            del self._open[len(self._open) - 1 - self._open[::-1].index(tag):]

    def handle_data(self, data: str) -> None:
        self.texts.append(data)
        if self._cell is not None:
            self._cell.append(data)
        for tag in set(self._open):
            self.inside.setdefault(tag, []).append(data)

    def text_in(self, tag: str) -> str:
        return "".join(self.inside.get(tag, []))

    @property
    def text(self) -> str:
        return "".join(self.texts)


def read(path: pathlib.Path) -> Page:
    return Page(path.read_text(encoding="utf-8"))


def assert_self_contained(page: Page) -> None:
    """No element loads or links anything outside the file (no CDN, no network)."""
    for tag, attrs in page.elements:
        assert tag not in ("script", "link", "img", "iframe"), f"<{tag}> in a self-contained report"
        for name in ("src", "href"):
            if name not in attrs:
                continue
            value = attrs[name] or ""
            assert not value.startswith(("http:", "https:", "//")), f"<{tag} {name}={value!r}>"
            assert name != "href" or value.startswith("#"), f"<{tag} href={value!r}> leaves the page"


def test_run_report_of_fast_trials_has_verdict_histogram_lesson_and_code(capsys, tmp_path):
    report = tmp_path / "run.html"
    status, out, err = run_cli(capsys, "run", "raw-value", "--trials", "300", "--ops", "1", "--fast",
                               "-m", METHOD, "--html", str(report), "-q")
    assert status == 0, err
    page = read(report)
    assert_self_contained(page)
    assert "racecourse report" in page.text_in("title")
    assert "raw-value: Value(lock=False): += with no lock" in page.text_in("h2")
    verdict = next(line for line in out.splitlines() if line.startswith(("lost an update", "no race seen")))
    assert verdict in page.text  # the same sentence as the terminal's
    outcomes = {row[0]: row for row in page.rows if row and row[0].startswith("count=")}
    assert set(outcomes) <= {"count=2", "count=1 (1 lost)"} and "count=2" in outcomes
    assert outcomes["count=2"][3] == "yes"
    assert sum(int(row[1].replace(",", "")) for row in outcomes.values()) == 300
    assert "counter.value += 1" in page.text_in("pre")  # the worker's code
    assert "read, add, write" in page.text_in("pre") and "What goes wrong" in page.text_in("pre")  # the lesson
    assert page.text_in("svg").count("%") == len(outcomes)  # one bar per outcome, labelled


def test_run_report_every_start_method_one_section_each(capsys, tmp_path):
    report = tmp_path / "run.html"
    methods = ",".join(start_methods())
    status, _, err = run_cli(capsys, "run", "locked-value", "--trials", "2", "--ops", "50", "--no-fast",
                             "-m", methods, "--html", str(report), "-q")
    assert status == 0, err
    page = read(report)
    ids = [attrs.get("id") for tag, attrs in page.elements if tag == "section" and attrs.get("id")]
    assert ids == [f"locked-value-{method}" for method in start_methods()]
    summary = [row for row in page.rows if row and row[0] == "locked-value"]
    assert [row[1] for row in summary] == start_methods()
    assert all(row[3] == "exact: 200 of 200 updates" for row in summary)
    assert ["count=100", "2", "100.0%", "yes"] in page.rows


def test_explore_report_has_each_failing_timeline(capsys, tmp_path):
    report = tmp_path / "explore.html"
    status, _, err = run_cli(capsys, "explore", "raw-value", "-m", METHOD, "--html", str(report))
    assert status == 0, err
    page = read(report)
    assert_self_contained(page)
    assert ["count=1 (expected 2, 1 lost)", "2", "50.0%", "no"] in page.rows
    assert ["count=2", "2", "50.0%", "yes"] in page.rows
    assert f"racecourse replay raw-value --schedule 2x1:0110 --start-method {METHOD}" in page.text_in("code")
    steps = [row for row in page.rows if row and row[0].isdigit()]
    assert [row[0] for row in steps] == ["1", "2", "3", "4"]
    assert steps[0][1:] == ["read counter -> 0", "", "count=0"]
    assert steps[2][1:] == ["", "write counter <- 1", "count=1"]
    assert steps[3][1:] == ["write counter <- 1 LOST", "", "count=1"]
    assert "process 0 overwrites the update process 1 wrote at step 3: that update is lost" in page.text


def test_explore_report_of_a_deadlock(capsys, tmp_path):
    report = tmp_path / "deadlock.html"
    status, _, _ = run_cli(capsys, "explore", "deadlock", "-m", METHOD, "--html", str(report))
    assert status == 0
    page = read(report)
    assert ["deadlock", "1", "33.3%", "no"] in page.rows
    assert ["invariant holds", "2", "66.7%", "yes"] in page.rows
    assert ("deadlock: process 0 holds alice.lock and waits for bob.lock (held by process 1); "
            "process 1 holds bob.lock and waits for alice.lock (held by process 0)") in page.text


def test_hostile_title_and_code_are_text_not_markup(capsys, tmp_path):
    hostile = '<script>alert("x")</script><img src=https://evil.example/x.png>'
    path = scenario_file(tmp_path, "hostile.py", f'''
        """hostile: a lesson with <b>markup</b> & an <iframe src="https://evil.example/"></iframe>."""
        from racecourse import Expect, Scenario

        def build(share):
            return {{"counter": share.Value("i", 0, lock=False)}}

        def worker(counter, ops):
            for _ in range(ops):
                counter.value += 1  # </pre><script>alert(1)</script>

        def observe(counter):
            return counter.value

        SCENARIO = Scenario(id="hostile", title={hostile!r}, expect=Expect.RACY,
                            build=build, worker=worker, observe=observe)
        ''')
    report = tmp_path / "hostile.html"
    status, _, err = run_cli(capsys, "explore", str(path), "-m", METHOD, "--html", str(report))
    assert status == 0, err
    page = read(report)
    assert_self_contained(page)  # no <script>, <img> or <iframe> was made from the text
    assert f"hostile: {hostile}" in page.text_in("h2")  # shown as the very characters
    assert "<b>markup</b> & an <iframe" in page.text_in("pre")
    assert "# </pre><script>alert(1)</script>" in page.text_in("pre")


def test_ctrl_c_writes_the_report_of_what_was_finished(capsys, tmp_path):
    from test_long_runs import INTERRUPTED  # two scenarios, the second Ctrl-C'd in its second trial

    path = scenario_file(tmp_path, "interrupted.py", INTERRUPTED)
    report = tmp_path / "interrupted.html"
    status, _, _ = run_cli(capsys, "run", str(path), "--no-fast", "-m", METHOD, "--quiet", "--html", str(report))
    assert status == 130
    page = read(report)
    summary = {row[0]: row for row in page.rows if row and row[0] in ("finished", "interrupted")}
    assert summary["finished"][3] == "exact: 40 of 40 updates"
    assert summary["interrupted"][3] == "interrupted after 1 of 5 trials: exact: 20 of 20 updates"


@pytest.mark.parametrize("command", [["run", "raw-value"], ["explore", "raw-value"]])
def test_bad_html_path_is_one_line_and_exit_2_before_anything_runs(capsys, tmp_path, command):
    for bad in (str(tmp_path), str(tmp_path / "missing" / "r.html"), "/proc/racecourse-report.html"):
        status, out, err = run_cli(capsys, *command, "--html", bad)
        assert status == 2 and out == ""
        assert err.startswith(f"racecourse: cannot write the HTML report to {bad}: ") and err.count("\n") == 1
    assert not os.path.exists(tmp_path / "missing")


def test_an_existing_report_is_left_alone_until_the_run_ends(tmp_path):
    from racecourse.web import report as html_report

    existing = tmp_path / "old.html"
    existing.write_text("old")
    html_report.check_path(str(existing))
    html_report.check_path(str(tmp_path / "new.html"))
    assert existing.read_text() == "old" and not (tmp_path / "new.html").exists()
