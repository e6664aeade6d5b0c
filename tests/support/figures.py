"""Figures a test measured (build time, image size, time to healthy...), printed at the end of
the run by the `deployment figures` section (tests/deploy/conftest.py): timings are reported,
never asserted."""

from __future__ import annotations

FIGURES: list[str] = []


def report(line: str) -> None:
    FIGURES.append(line)
