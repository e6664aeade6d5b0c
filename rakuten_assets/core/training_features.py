"""Fitting the featuriser of `build_classifier()` part by part, so an orchestrator can run the
parts in parallel (the `tfidf_features` asset fans them out as a dynamic Dagster graph, and
Dagster's multiprocess, Celery or Kubernetes executors spread them).

The featuriser is a `FeatureUnion` of independent vectorisers (word and character TF-IDF today):
each part is fitted on the same cleaned texts and nothing flows between parts, so fitting them in
separate processes and stacking their matrices side by side gives exactly what
`FeatureUnion.fit_transform` gives. Any other featuriser is one part. Nothing here knows which
vectorisers the model uses, so a change of `build_classifier()` needs no change here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import FeatureUnion

from rakuten_assets.core.training import TEXT_COLUMNS

WHOLE = "whole"  # the part name of a featuriser that is not a FeatureUnion


@dataclass
class CleanTexts:
    """The train and test texts as the model reads them, cleaned once for every part."""

    train: list[str]
    test: list[str]
    y_train: np.ndarray
    y_test: np.ndarray
    first_row: int = 0  # where these rows start in the snapshot, to join chunks back in order


@dataclass
class FittedPart:
    """One fitted part of the featuriser with the matrices it produced."""

    name: str
    transformer: BaseEstimator
    x_train: sp.csr_matrix
    x_test: sp.csr_matrix
    fit_seconds: float


def clean_split_texts(text_step: BaseEstimator, frame: pd.DataFrame, first_row: int = 0) -> CleanTexts:
    """`frame` is a training snapshot (or `first_row`.. of one) with its `split` column."""
    train = frame[frame["split"] == "train"]
    test = frame[frame["split"] == "test"]
    return CleanTexts(train=list(text_step.transform(train[TEXT_COLUMNS])),
                      test=list(text_step.transform(test[TEXT_COLUMNS])),
                      y_train=train["prdtypecode"].to_numpy(), y_test=test["prdtypecode"].to_numpy(),
                      first_row=first_row)


def row_chunks(n_rows: int, chunk_rows: int) -> list[tuple[int, int]]:
    """[start, stop) bounds covering n_rows (one empty chunk for none): cleaning the text costs
    ~0.1 ms a row in Python, so chunks of the snapshot are cleaned in parallel steps."""
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    return [(start, min(start + chunk_rows, n_rows)) for start in range(0, n_rows, chunk_rows)] or [(0, 0)]


def join_texts(chunks: list[CleanTexts]) -> CleanTexts:
    """Chunks cleaned apart, joined in snapshot order (whatever order they finished in)."""
    ordered = sorted(chunks, key=lambda c: c.first_row)
    return CleanTexts(train=[t for c in ordered for t in c.train], test=[t for c in ordered for t in c.test],
                      y_train=np.concatenate([c.y_train for c in ordered]),
                      y_test=np.concatenate([c.y_test for c in ordered]),
                      first_row=ordered[0].first_row if ordered else 0)


def feature_parts(features: BaseEstimator) -> list[tuple[str, BaseEstimator]]:
    """(name, unfitted copy) of every part that can be fitted on its own, in stacking order.
    Dropped parts ("drop") are left out, as FeatureUnion leaves them out."""
    if isinstance(features, FeatureUnion):
        return [(name, clone(part)) for name, part in features.transformer_list
                if part is not None and not (isinstance(part, str) and part == "drop")]
    return [(WHOLE, clone(features))]


# Documents per sparse product when counting character n-gram document frequencies.
DF_CHUNK_ROWS = 50_000


def _char_wb_fit_transform(vec, docs: list[str], chunk_rows: int = DF_CHUNK_ROWS) -> sp.csr_matrix:
    """`CharWbTfidf.fit_transform` in bounded memory, same fitted vocabulary, idf and matrix.

    Its own fit builds documents x *every* n-gram before dropping the rare and the frequent ones
    (max_df=0.1 drops the n-grams that hold most of the counts): at 425k rows that matrix was a
    4.4 GB peak, the largest of the whole pipeline. Here the documents x distinct words and the
    distinct words x n-grams matrices are built once (as it builds them), document frequencies
    are summed `chunk_rows` documents at a time, and the one product kept is restricted to the
    kept n-grams. tests/core/test_training_features.py checks it against the class's own fit."""
    from array import array

    from rakuten_assets.core.model import _padded_word_grams

    words: dict[str, int] = {}
    add_word = words.setdefault
    word_ids, doc_ptr = array("q"), array("q", [0])  # 8 bytes an entry, not a Python int each
    for doc in docs:
        word_ids.extend([add_word(w, len(words)) for w in doc.split()])
        doc_ptr.append(len(word_ids))
    n_docs = len(doc_ptr) - 1
    doc_words = sp.csr_matrix((np.ones(len(word_ids), dtype=np.float32), np.frombuffer(word_ids, dtype=np.int64),
                               np.frombuffer(doc_ptr, dtype=np.int64)), shape=(n_docs, len(words)))
    doc_words.sum_duplicates()
    del word_ids, doc_ptr
    lo, hi = vec.ngram_range
    grams: dict[str, int] = {}
    add_gram = grams.setdefault
    gram_ids, word_ptr = array("q"), array("q", [0])
    for w in words:
        gram_ids.extend([add_gram(g, len(grams)) for g in _padded_word_grams(w, lo, hi)])
        word_ptr.append(len(gram_ids))
    del words
    word_grams = sp.csr_matrix((np.ones(len(gram_ids), dtype=np.float32), np.frombuffer(gram_ids, dtype=np.int64),
                                np.frombuffer(word_ptr, dtype=np.int64)), shape=(len(word_ptr) - 1, len(grams)))
    word_grams.sum_duplicates()
    del gram_ids, word_ptr
    df = np.zeros(len(grams), dtype=np.int64)
    frequency = np.zeros(len(grams), dtype=np.float64) if vec.max_features is not None else None
    for start in range(0, n_docs, chunk_rows):
        counts = (doc_words[start:start + chunk_rows] @ word_grams).tocsr()
        df += np.bincount(counts.indices, minlength=len(grams))
        if frequency is not None:
            frequency += np.asarray(counts.sum(axis=0)).ravel()
        del counts
    # from here on, CharWbTfidf.fit_transform's own selection
    min_df = vec.min_df if isinstance(vec.min_df, (int, np.integer)) else vec.min_df * n_docs
    max_df = vec.max_df if isinstance(vec.max_df, (int, np.integer)) else vec.max_df * n_docs
    keep = np.flatnonzero((df >= min_df) & (df <= max_df))
    if vec.max_features is not None and keep.size > vec.max_features:
        keep = keep[np.argsort(-frequency[keep].astype(np.float32), kind="stable")[: vec.max_features]]
    terms = np.array(list(grams), dtype=object)[keep]
    del grams
    order = np.argsort(terms.astype(str), kind="stable")
    keep, terms = keep[order], terms[order]
    vec.vocabulary_ = {t: i for i, t in enumerate(terms.tolist())}
    vec.idf_ = (np.log((1 + n_docs) / (1 + df[keep])) + 1).astype(vec.dtype)
    # The kept n-grams' matrix weighted (row-wise: tf, idf, l2) one chunk of documents at a time,
    # each compacted to 32-bit indices, instead of the whole 64-bit-index product and its weighted
    # copy at once. At 850k rows this did not lower the pipeline's peak (8,212 MB, which is in
    # assemble_features), but it bounds this step's own.
    kept = word_grams[:, keep].tocsr()
    del word_grams
    blocks = [compact_indices(vec._weight((doc_words[start:start + chunk_rows] @ kept).tocsr()))
              for start in range(0, n_docs, chunk_rows)]
    if not blocks:
        return vec._weight(sp.csr_matrix((0, len(vec.vocabulary_)), dtype=vec.dtype))
    return compact_indices(sp.vstack(blocks, format="csr"))


def fit_transform_bounded(transformer: BaseEstimator, docs: list[str]) -> sp.csr_matrix:
    """`transformer.fit_transform(docs)`, in bounded memory where this module knows how."""
    from rakuten_assets.core.model import CharWbTfidf

    if type(transformer) is CharWbTfidf:
        return _char_wb_fit_transform(transformer, docs)
    return sp.csr_matrix(transformer.fit_transform(docs))


def compact_indices(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """The same matrix with int32 indices when they fit (the sparse products behind the char
    n-grams give int64): a third less memory for every copy downstream (pickled between steps,
    stacked, copied by the calibration split)."""
    limit = np.iinfo(np.int32).max
    if matrix.indices.dtype != np.int32 and matrix.nnz < limit and max(matrix.shape) < limit:
        matrix.indices = matrix.indices.astype(np.int32)
        matrix.indptr = matrix.indptr.astype(np.int32)
    return matrix


def fit_part(name: str, transformer: BaseEstimator, texts: CleanTexts) -> FittedPart:
    import time

    started = time.perf_counter()
    x_train = compact_indices(fit_transform_bounded(transformer, texts.train))
    fit_seconds = time.perf_counter() - started
    x_test = compact_indices(sp.csr_matrix(transformer.transform(texts.test)))
    return FittedPart(name, transformer, x_train, x_test, fit_seconds)


def assemble(features: BaseEstimator, parts: list[FittedPart]) -> tuple[BaseEstimator, sp.csr_matrix, sp.csr_matrix]:
    """The fitted featuriser made of the fitted parts (in `features`' order, whatever order they
    finished in), and the train and test matrices stacked as `FeatureUnion` stacks them
    (weighted by its `transformer_weights`). The parts give their matrices up: each part's
    `x_train` and `x_test` is None afterwards."""
    by_name = {p.name: p for p in parts}
    if not isinstance(features, FeatureUnion):
        whole = by_name[WHOLE]
        return whole.transformer, whole.x_train, whole.x_test
    names = [name for name, _ in feature_parts(features)]
    missing = sorted(set(names) - set(by_name))
    if missing:
        raise ValueError(f"featuriser parts not fitted: {missing}")
    weights = features.transformer_weights or {}
    fitted = features.set_params(transformer_list=[
        (name, by_name[name].transformer if name in by_name else part)
        for name, part in features.transformer_list])

    def stack(side: str) -> sp.csr_matrix:
        blocks = []
        for name in names:
            block = getattr(by_name[name], side)
            blocks.append(block * weights[name] if name in weights else block)
            # the part lets go of its matrix once the stack holds it (at 850k rows the train
            # parts are 2.2 GB); measured, this did not lower the step's 8.2 GB peak
            setattr(by_name[name], side, None)
        return compact_indices(sp.hstack(blocks, format="csr"))

    x_train = stack("x_train")
    return fitted, x_train, stack("x_test")
