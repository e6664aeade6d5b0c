"""The attacks of issue 13, replayed with figures (`python -m benchmarks.abuse`).

1. Text cleaning: 200 items whose title and description are 10,000 `<` (the batch that held
   the model thread 25 s) against the same size of plain letters, with the old tag regex
   `<[^>]+>` and with `strip_tags`; figures are ratios to the plain text of the same run.
2. A real API process (`api.main.serve`, no model needed) under the connection attacks: an
   endless header (how many bytes it read before the 431), a half-sent request and a silent
   connection (closed with a 408), more idle sockets than the cap; while each runs, /health
   latency of an honest client, as a ratio to its latency with no attack.
3. The whole served model (the API's `Predictor` over `build_classifier()` fitted on 5,000
   synthetic rows, cold: nothing cached) on the attack batch against honest batches of the same
   size (plain letters, French words): CPU seconds, so the attack's cost is judged by what a
   batch of its size costs anyway, not by cleaning alone (which plain letters almost skip).
"""

from __future__ import annotations

import re
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from rakuten_assets.core.text import clean_text, strip_tags

OLD_TAG = re.compile(r"<[^>]+>")


def _clock(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def text_cleaning(items: int = 200, size: int = 10_000) -> None:
    attack = ["<" * size] * (2 * items)
    plain = ["a" * size] * (2 * items)
    new_attack = _clock(lambda: [clean_text(t) for t in attack])
    new_plain = _clock(lambda: [clean_text(t) for t in plain])
    # The old regex alone, on a tenth of the items (it is quadratic: the full batch takes ~25 s).
    tenth = attack[: len(attack) // 10]
    old_attack = _clock(lambda: [OLD_TAG.sub(" ", t) for t in tenth]) * 10
    old_plain = _clock(lambda: [OLD_TAG.sub(" ", t) for t in plain])
    strip_attack = _clock(lambda: [strip_tags(t) for t in attack])
    print(f"1. text cleaning, {items} items x 2 fields x {size} characters")
    print(f"   clean_text on '<' x {size}: {new_attack / new_plain:.2f}x the time on plain letters "
          f"({new_attack:.3f} s vs {new_plain:.3f} s)")
    print(f"   tag stripping alone on '<' x {size}: old regex {old_attack / old_plain:.0f}x its time on "
          f"plain letters ({old_attack:.1f} s, extrapolated from a tenth), strip_tags "
          f"{strip_attack:.4f} s")


def _health_latencies(url: str, n: int = 40) -> list[float]:
    out = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(n):
            out.append(_clock(client.get, "/health"))
    return out


def api_connections() -> None:
    from tests.support.env import project_home
    from tests.support.services import LiveServer

    root = Path(tempfile.mkdtemp(prefix="abuse-"))
    env = {"RAKUTEN_API_READ_TIMEOUT_SECONDS": "2", "RAKUTEN_API_MAX_CONNECTIONS": "50"}
    with project_home(root, **env), LiveServer(root, env=env) as server:
        base = statistics.median(_health_latencies(server.url))
        print("2. API connection attacks (median /health of an honest client, ratio to no attack)")

        # Endless header: send until the server closes.
        sent = 0
        done = threading.Event()

        def endless_header():
            nonlocal sent
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
                try:
                    while sent < 300 * 2**20:
                        sock.sendall(b"a" * 65536)
                        sent += 65536
                except OSError:
                    pass
            done.set()

        t = threading.Thread(target=endless_header)
        t.start()
        during = statistics.median(_health_latencies(server.url))
        t.join(60)
        print(f"   endless header: 431 and closed; the client had pushed {sent / 2**10:.0f} KiB into "
              f"the socket (of 300 MiB tried; the server reads at most the 64 KiB limit + one read); "
              f"/health during it {during / base:.2f}x")

        # Slowloris and silent sockets: 40 of each, then an honest client.
        slow = []
        for _ in range(40):
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slow.append(s)
        silent = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(40)]
        during = statistics.median(_health_latencies(server.url))
        t0 = time.perf_counter()
        answers = []
        for s in slow + silent:
            s.settimeout(30)
            try:
                answers.append(s.recv(64)[:12])
            except OSError:
                answers.append(b"reset")
            s.close()
        held = time.perf_counter() - t0
        refused = sum(a.startswith(b"HTTP/1.1 408") for a in answers)
        evicted = sum(a in (b"", b"reset") for a in answers)
        print(f"   80 slow or silent sockets (cap 50): /health meanwhile {during / base:.2f}x; "
              f"{refused} closed with a 408 after the 2 s read deadline, {evicted} closed by the cap; "
              f"all gone {held:.1f} s after the last was opened")


def served_model(items: int = 200, size: int = 10_000) -> None:
    from api.engine.predictor import Predictor
    from rakuten_assets.core.model import build_classifier
    from rakuten_assets.core.synthetic import generate_catalogue
    from rakuten_assets.core.training import TEXT_COLUMNS

    frame = generate_catalogue(5_000, seed=7)
    pipeline = build_classifier().fit(frame[TEXT_COLUMNS], frame["prdtypecode"])
    batches = {"'<' x 10000": "<" * size, "plain letters": "a" * size,
               "French words": ("piscine tubulaire pompe filtre " * (size // 30 + 1))[:size]}
    print(f"3. the served model, {items} distinct items x 2 fields x {size} characters, cold predictor")
    cpu = {}
    for name, text in batches.items():
        rows = [text[:-6] + f"{i:06d}" for i in range(items)]  # distinct: no cache helps
        predictor = Predictor(pipeline)
        t0 = time.process_time()
        predictor.predict(rows, rows)
        cpu[name] = time.process_time() - t0
    attack = cpu.pop("'<' x 10000")
    print(f"   '<' x {size}: {attack:.2f} s CPU; " + "; ".join(
        f"{name} {seconds:.2f} s ({attack / seconds:.1f}x)" for name, seconds in cpu.items()))


if __name__ == "__main__":
    text_cleaning()
    api_connections()
    served_model()
