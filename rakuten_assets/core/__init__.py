"""The ML core: settings, text, categories, model, training, registry, promotion, store (with its
migrations), sources, drift, synthetic catalogue. Plain Python, usable from a notebook: it imports
neither Dagster, Gradio nor FastAPI (an import contract in pyproject.toml says so and CI checks)."""
