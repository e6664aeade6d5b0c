"""One module per stage: ingestion, training, monitoring."""
