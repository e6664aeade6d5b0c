"""The Rakuten product classifier's data and ML side.

- `core/`: the ML core (settings, text, model, training, registry, promotion, store and its
  migrations, sources, drift, synthetic catalogue). Plain Python: no Dagster, Gradio or FastAPI.
- `defs/`: the Dagster definitions (assets, checks, resources, jobs, sensors, schedules), loaded
  by `definitions.py`.
- `cli/`: the `rakuten` command line.
"""
