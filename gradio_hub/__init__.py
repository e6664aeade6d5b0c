"""The Gradio control hub: `app.py` builds the page, `tabs/` one module per tab, `clients/` the
clients of the services it drives, with login (`auth.py`), shared helpers (`common.py`) and the
batch-prediction upload (`batch.py`) beside them."""
