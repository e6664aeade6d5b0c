"""Prints what the deployment tests measured (tests/support/figures.py) after the run."""

from tests.support.figures import FIGURES


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("deployment figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
