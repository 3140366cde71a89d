"""bench/common.budget_line, the line the list and monitoring benchmarks print after the
ceiling: what a page would have to cost to meet its target against the bare endpoint."""

from __future__ import annotations

import re

from bench.common import budget_line


def _figures(line: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+\.\d+", line)]


def test_a_page_over_its_target_is_told_how_much_of_its_own_work_must_go():
    # Bare 10 ms: at 1.5x the page may take 15; shell 6 + statements 3 leave 6 of its 10.
    line = budget_line("list", page_ms=19.0, bare_ms=10.0, floor_ms=6.0, own_sql_ms=3.0, target=1.5)
    assert "may take 15.0 ms; it takes 19.0" in line
    assert "the shell 6.0 (0.60x the whole bare endpoint), its statements 3.0" in line
    assert "its own Python and template 10.0" in line
    assert line.endswith("those would have to fit in 6.0 ms (40% less)")


def test_a_page_within_its_target_says_what_it_has_to_spare():
    line = budget_line("home", page_ms=12.0, bare_ms=10.0, floor_ms=6.0, own_sql_ms=3.0, target=1.5)
    assert line.endswith("within, 3.0 ms to spare")


def test_a_page_whose_shell_and_statements_already_exceed_the_target_says_so():
    line = budget_line("x", page_ms=30.0, bare_ms=10.0, floor_ms=9.0, own_sql_ms=7.0, target=1.5)
    assert line.endswith("the shell and the statements alone take more")
    assert _figures(line)[:2] == [1.5, 15.0]
