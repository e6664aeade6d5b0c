"""Uploads to the hub are capped and do not stay (issue 13): `/gradio_api/upload` needs no login
(the Predict tab's batch CSV is open to anyone), and 50 MB uploads were accepted and kept for
ever. The cap is RAKUTEN_HUB_MAX_UPLOAD_MB; Gradio's delete_cache removes uploaded files older
than RAKUTEN_HUB_UPLOAD_MAX_AGE_SECONDS every RAKUTEN_HUB_UPLOAD_SWEEP_SECONDS."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

import httpx
import pytest

from gradio_hub.app import MB
from tests.support.hub import launch_hub
from tests.support.services import wait_for


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    from tests.support.env import project_home

    root = tmp_path_factory.mktemp("hub_uploads")
    uploads = root / "gradio-uploads"
    with pytest.MonkeyPatch.context() as mp:
        # Gradio's upload folder, read when the app is built: this hub's own, so what it holds
        # is what this module's requests wrote.
        mp.setenv("GRADIO_TEMP_DIR", str(uploads))
        with project_home(root, RAKUTEN_HUB_USERS="alice:wonder land", RAKUTEN_HUB_MAX_UPLOAD_MB="1",
                          RAKUTEN_HUB_UPLOAD_MAX_AGE_SECONDS="2",
                          RAKUTEN_HUB_UPLOAD_SWEEP_SECONDS="1") as settings:
            demo, url = launch_hub(settings)
            try:
                assert Path(demo.server_app.uploaded_file_dir) == uploads
                yield url, uploads
            finally:
                demo.close()


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_an_upload_over_the_cap_is_refused_and_leaves_nothing(hub):
    url, uploads = hub
    before = files_under(uploads)
    # The attack: one file over the cap, without any login.
    r = httpx.post(url + "/gradio_api/upload", files={"files": ("big.csv", b"a" * (2 * MB))}, timeout=60)
    assert r.status_code == 413, r.text
    # Variant: no Content-Length at all (chunked): refused before a byte is read.
    def chunks():
        boundary_part = (b"--cap\r\nContent-Disposition: form-data; name=\"files\"; filename=\"c.csv\"\r\n"
                         b"Content-Type: text/csv\r\n\r\n")
        yield boundary_part
        for _ in range(32):
            yield b"b" * (64 * 1024)
        yield b"\r\n--cap--\r\n"

    chunked = httpx.post(url + "/gradio_api/upload", content=chunks(), timeout=60,
                         headers={"Content-Type": "multipart/form-data; boundary=cap"})
    assert chunked.status_code == 411, chunked.text
    # Variant: many files each under Gradio's per-file cap in one request (it took them all).
    many = httpx.post(url + "/gradio_api/upload", timeout=60,
                      files=[("files", (f"part{i}.csv", b"c" * (MB - 1024))) for i in range(3)])
    assert many.status_code == 413, many.text
    assert files_under(uploads) == before
    # Variant: a Content-Length under the cap in front of 2 MB: the server reads the declared
    # length only, so whatever it keeps is no larger than that.
    host, port = url.removeprefix("http://").split(":")
    body = (b"--cap\r\nContent-Disposition: form-data; name=\"files\"; filename=\"lie.csv\"\r\n\r\n"
            + b"d" * (2 * MB) + b"\r\n--cap--\r\n")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /gradio_api/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                     b"Content-Type: multipart/form-data; boundary=cap\r\n\r\n")
        with contextlib.suppress(OSError):  # the server may close on the bytes it does not want
            sock.sendall(body)
        with contextlib.suppress(OSError):
            assert sock.recv(100).startswith(b"HTTP/1.1 ")  # it answered, it did not hang
    assert all(p.stat().st_size <= 1000 for p in files_under(uploads))


def test_a_small_upload_is_accepted_then_deleted_once_old(hub):
    url, uploads = hub
    r = httpx.post(url + "/gradio_api/upload", files={"files": ("small.csv", b"designation\nlamp\n")},
                   timeout=60)
    assert r.status_code == 200, r.text
    (path,) = r.json()
    path = Path(path)
    assert path.is_file() and path.is_relative_to(uploads)
    # Aged 2 s, swept every second: gone well within the deadline (a hang, not a speed, fails it).
    wait_for(lambda: not path.exists(), 30, 0.5, f"{path} to be deleted")
    assert not files_under(uploads), os.listdir(uploads)


def test_an_upload_abandoned_mid_body_is_deleted_too(hub):
    """Gradio writes an upload to a temporary file as it arrives; when the client went away
    mid-body that file stayed for ever, outside what delete_cache empties."""
    url, uploads = hub
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /gradio_api/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 900000\r\n"
                     b"Content-Type: multipart/form-data; boundary=cap\r\n\r\n"
                     b"--cap\r\nContent-Disposition: form-data; name=\"files\"; filename=\"p.csv\"\r\n\r\n"
                     + b"e" * 300_000)
        # The part-written file exists before the client leaves (the replay is real).
        wait_for(lambda: files_under(uploads), 30, 0.2, "the part-written upload")
    wait_for(lambda: not files_under(uploads), 30, 0.5, "the abandoned upload to be deleted")
