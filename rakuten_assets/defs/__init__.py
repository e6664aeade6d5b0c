"""Dagster definitions of the project, one module per kind (as Dagster's example projects lay
them out): `assets/` (one module per stage), `checks.py`, `resources.py`, `jobs.py`,
`sensors.py`, `schedules.py`, with asset keys in `constants.py` and the assets' typed outputs in
`types.py`. `rakuten_assets/definitions.py` puts them together."""

# No `from __future__ import annotations` in these modules: Dagster reads the annotations of asset,
# check and sensor functions (config classes, resources, IO types) at definition time.
