"""Each service `rakuten up` supervises writes its output to RAKUTEN_HOME/logs/<service>.log,
rotated so that a chatty service cannot fill the disk: the recorder honcho prints through, fed
lines directly, with a small rotation size (the real one is 5 MB, LOG_MAX_BYTES)."""

from __future__ import annotations

import io
import logging
from datetime import datetime

import pytest
from honcho.printer import Message

from gradio_hub.clients.local_services import LocalServices
from rakuten_assets.cli import services
from tests.support.env import project_home

MAX_BYTES = 2_000


@pytest.fixture
def recorder(tmp_path, monkeypatch):
    monkeypatch.setattr(services, "LOG_MAX_BYTES", MAX_BYTES)
    with project_home(tmp_path) as settings:
        # A name of its own: the recorder's loggers are process-wide, by service name.
        name = f"api-rotation-{tmp_path.name}"
        printer = services.ServiceRecorder(settings, {name: "api --port 8000"}, output=io.StringIO())
        try:
            yield settings, printer, name
        finally:
            log = logging.getLogger(f"rakuten.services.{name}")
            for handler in list(log.handlers):
                log.removeHandler(handler)
                handler.close()


def say(printer, name: str, text: str) -> None:
    printer.write(Message("line", text.encode(), datetime.now(), name, None))


def test_a_service_log_rotates_at_its_size_and_keeps_three_old_files(recorder):
    settings, printer, name = recorder
    for i in range(400):  # about 60 bytes a line with its time stamp: ~24 kB, a dozen rotations
        say(printer, name, f"request {i:04d} GET /health 200\n")
    folder = settings.home_dir / "logs"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"{name}.log", f"{name}.log.1", f"{name}.log.2", f"{name}.log.3"]
    assert all((folder / n).stat().st_size <= MAX_BYTES for n in names)
    # The current file holds the newest lines, each old file the lines just before it.
    current = (folder / f"{name}.log").read_text().splitlines()
    assert current[-1].endswith("request 0399 GET /health 200")
    previous = (folder / f"{name}.log.1").read_text().splitlines()
    number = int(previous[-1].split("request ")[1].split()[0])
    assert number + 1 == int(current[0].split("request ")[1].split()[0])
    # The oldest lines are gone with the files past the third.
    kept = "".join((folder / n).read_text() for n in names)
    assert "request 0000 " not in kept


def test_the_hub_reads_the_newest_lines_of_the_rotated_log(recorder):
    settings, printer, name = recorder
    for i in range(400):
        say(printer, name, f"request {i:04d} {'POST /predict' if i % 2 else 'GET /health'}\n")
    tail = LocalServices(settings).log_tail(name, lines=3, contains="predict")
    assert [line.split("request ")[1] for line in tail.splitlines()] == [
        "0395 POST /predict", "0397 POST /predict", "0399 POST /predict"]


def test_a_dead_process_not_yet_reaped_is_not_running():
    """A service killed under a hung supervisor stays a zombie until reaped; psutil's
    is_running() calls it running, the Infrastructure tab must not."""
    import subprocess
    import sys
    import time

    import psutil

    from gradio_hub.clients.local_services import _alive

    child = subprocess.Popen([sys.executable, "-c", "pass"])  # never waited for: a zombie
    try:
        deadline = time.monotonic() + 30
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.05)
        process = psutil.Process(child.pid)
        assert process.status() == psutil.STATUS_ZOMBIE and process.is_running()
        assert not _alive(child.pid, process.create_time())
    finally:
        child.wait()
    assert _alive(psutil.Process().pid, psutil.Process().create_time())
