"""Request and response models of the serving API.

Request models are built per app by `build_request_models` because their limits (longest text,
largest batch) come from the settings; they then appear in the OpenAPI schema with those
limits, so clients and schemathesis see the real contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

# "Not empty" means at least one non-whitespace character; a search, not a full match, both in
# pydantic and in JSON Schema.
NON_BLANK = r"\S"


class TopKEntry(BaseModel):
    prdtypecode: int
    category: str
    probability: float


class PredictResponse(BaseModel):
    prediction_id: str = Field(description="Identifier of this prediction in the inference log.")
    prdtypecode: int = Field(description="Predicted product type code.")
    category: str = Field(description="Readable name of the predicted code.")
    confidence: float = Field(description="Probability of the predicted code.")
    top_k: list[TopKEntry] = Field(description="Most probable codes, most probable first.")
    model_version: str = Field(description="Registry version of the model that answered.")
    known_word_share: float | None = Field(
        description="Share of the item's words (title and description, cleaned) that the model's "
                    "vocabulary knows, 0 to 1. Low means text of a kind the model never saw, so the "
                    "prediction says little; null when the served model has no word vocabulary.")


class BatchPredictResponse(BaseModel):
    predictions: list[PredictResponse] = Field(description="One result per item, in order.")
    model_version: str


class HealthResponse(BaseModel):
    status: str


class ReadyResponse(BaseModel):
    status: str = Field(description="`ready` or `not_ready`.")
    model_version: str | None = None
    reason: str | None = Field(None, description="Why the service is not ready.")


class ChunkCacheStats(BaseModel):
    chunks: int = Field(description="Distinct whitespace-separated chunks of text cached.")
    size: int = Field(description="Entries cached for them (n-grams, tokens) plus their characters.")
    lookups: int = Field(description="Chunks looked up since the model was loaded.")
    hit_rate: float | None = Field(description="Share of the lookups found in the cache.")
    clears: int = Field(description="Times the cache reached its bound and was emptied.")


class ServingPath(BaseModel):
    path: str = Field(description="`fast` (every step on the optimised path), `partial`, or "
                      "`sklearn` (the plain pipeline).")
    linear_models: int = Field(description="Linear estimators whose coefficients were re-laid "
                               "for fast products.")
    text_step: bool = Field(description="Text cleaning called directly, without a DataFrame.")
    fast_vectorizers: int = Field(description="TF-IDF vectorisers on the fast counting path.")
    vectorizers: int = Field(description="TF-IDF vectorisers in the pipeline.")
    fast_classifier: bool = Field(description="The classifier on its fast path: the project's "
                                  "softmax linear model as it is, or sigmoid calibration computed "
                                  "for all classes at once.")
    shared_chunk_cache: bool = Field(description="The texts' raw chunks (markup removed, not "
                                     "yet folded) feed one cache of per-chunk features shared by "
                                     "the fast vectorisers: each distinct chunk is folded and "
                                     "featurised once, then found by its hash.")
    chunk_caches: list[ChunkCacheStats] = Field(description="The per-chunk feature caches.")
    fallbacks: list[str] = Field(description="Why each missing fast part is missing.")


class ModelInfoResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    version: str
    alias: str
    run_id: str | None
    source: str
    metrics: dict[str, float]
    loaded_at: datetime
    n_classes: int
    serving_path: ServingPath
    canary_refusal: dict | None = Field(None, description="The last version the canary refused "
                                        "(version, reason, at, canary_rows, canary_accuracy).")


class ReloadResponse(BaseModel):
    changed: bool = Field(description="Whether a different version is now served.")
    previous_version: str | None
    version: str | None = Field(description="Version served after the check.")
    error: str | None = Field(None, description="Why the check or the load failed, if it did.")


class ErrorResponse(BaseModel):
    error: str = Field(description="Stable machine-readable error kind.")
    detail: Any = Field(description="Human-readable explanation, or a list of field problems.")


@dataclass(frozen=True)
class RequestModels:
    item: type[BaseModel]
    batch: type[BaseModel]


def build_request_models(max_text_chars: int, max_batch: int) -> RequestModels:
    item = create_model(
        "PredictRequest",
        __config__=ConfigDict(extra="ignore", json_schema_extra={
            "examples": [{"designation": "Lot de 3 figurines Pokémon",
                          "description": "<p>Figurines en plastique, 5 cm.</p>"}]}),
        designation=(str, Field(min_length=1, max_length=max_text_chars, pattern=NON_BLANK,
                                description="Product title; required, not blank.")),
        description=(str | None, Field(None, max_length=max_text_chars,
                                       description="Product description (HTML allowed); optional.")),
    )
    batch = create_model(
        "BatchPredictRequest",
        __config__=ConfigDict(extra="ignore"),
        items=(list[item], Field(min_length=1, max_length=max_batch,
                                 description=f"Between 1 and {max_batch} items.")),
    )
    return RequestModels(item=item, batch=batch)
