"""The serving engine: the model being served and hot-swapped (`model_holder`), its fast
prediction path (`predictor`, `featurize`), micro-batching (`batching`), and what the routes call
(`service.PredictionService`)."""
