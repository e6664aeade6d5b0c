"""The `rakuten` command line (`app.py`): in-process Dagster runs (`runs.py`) and the local
processes of the embedded default (`services.py`)."""
