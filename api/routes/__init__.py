"""One module per group of endpoints: `prediction`, `operations`, `admin`. Each reads the
running `PredictionService` (and the rest of what `main.create_app` wired) from `app.state`."""
