"""Helpers shared by the test groups (no tests here): `env` (paths, real data, isolated homes),
`models` (a fitted pipeline, registering versions), `services` (real servers in subprocesses),
`hub` (a local stack and the hub, Chromium)."""
