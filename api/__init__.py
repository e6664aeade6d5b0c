"""The prediction API (FastAPI): `main.py` builds the app, `routes/` holds the endpoints,
`engine/` the serving engine, with the inference log, metrics and schemas beside them. Imports
the core (`rakuten_assets.core`), never Dagster or Gradio."""
