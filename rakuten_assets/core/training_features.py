"""Fitting the featuriser of `build_classifier()` part by part, so an orchestrator can run the
parts in parallel (the `tfidf_features` asset fans them out as a dynamic Dagster graph, and
Dagster's multiprocess, Celery or Kubernetes executors spread them).

The featuriser is a `FeatureUnion` of independent vectorisers (word, character and word-shape TF-IDF today):
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
    x_train: RowPieces  # None once assemble has stacked them
    x_test: RowPieces
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

    from rakuten_assets.core.model import (
        _padded_word_grams,
        document_count_bounds,
        numbering,
    )

    words, word_id = numbering()
    word_ids, doc_ptr = array("q"), array("q", [0])  # 8 bytes an entry, not a Python int each
    for doc in docs:
        word_ids.extend(map(word_id, doc.split()))
        doc_ptr.append(len(word_ids))
    n_docs = len(doc_ptr) - 1
    doc_words = sp.csr_matrix((np.ones(len(word_ids), dtype=np.float32), np.frombuffer(word_ids, dtype=np.int64),
                               np.frombuffer(doc_ptr, dtype=np.int64)), shape=(n_docs, len(words)))
    doc_words.sum_duplicates()
    del word_ids, doc_ptr
    lo, hi = vec.ngram_range
    grams, gram_id = numbering()
    gram_ids, word_ptr = array("q"), array("q", [0])
    for w in words:
        gram_ids.extend(map(gram_id, _padded_word_grams(w, lo, hi)))
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
    min_df, max_df = document_count_bounds(vec, n_docs)
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
    # copy at once: it bounds this step's own peak (the pipeline's is in assemble_features).
    kept = word_grams[:, keep].tocsr()
    del word_grams
    blocks = [compact_indices(vec._weight((doc_words[start:start + chunk_rows] @ kept).tocsr()))
              for start in range(0, n_docs, chunk_rows)]
    if not blocks:
        return vec._weight(sp.csr_matrix((0, len(vec.vocabulary_)), dtype=vec.dtype))
    return compact_indices(sp.vstack(blocks, format="csr"))


# The word vectorisers the fast fit below reproduces exactly: word tokens that cannot hold a space
# (so no unigram can read as a bigram), uni- and bigrams, no stop words or custom callables.
_FAST_WORD_PATTERNS = (r"(?u)\b\w\w+\b", r"(?u)\b\w+\b")


def _fast_word_fit_applies(vec) -> bool:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from rakuten_assets.core.model import WordShapeTfidf

    if type(vec) is WordShapeTfidf:  # its own tokenizer, no preprocessing
        tokens_ok = vec.tokenizer is None and not vec.lowercase
    else:
        tokens_ok = (type(vec) is TfidfVectorizer and vec.token_pattern in _FAST_WORD_PATTERNS
                     and vec.tokenizer is None)
    return (tokens_ok and vec.analyzer == "word" and vec.input == "content"
            and vec.preprocessor is None and vec.stop_words is None and vec.strip_accents is None
            and vec.vocabulary is None and not vec.binary and vec.ngram_range[0] == 1
            and 1 <= vec.ngram_range[1] <= 3)


def _word_tfidf_fit_transform(vec, train: list[str], test: list[str]
                              ) -> tuple[sp.csr_matrix, sp.csr_matrix] | None:
    """`vec.fit_transform(train), vec.transform(test)` for a word TfidfVectorizer
    (`_fast_word_fit_applies`): the same fitted vectoriser (vocabulary_, idf_) and matrices.
    None when its n-grams cannot be coded as int64 (trigrams of over 2 million distinct tokens):
    then scikit-learn fits it.

    sklearn builds every bigram as a Python string and counts it in a per-document dict: at 850k
    rows the word step took 97 s, the longest of the pipeline. Here each token is looked up once
    and bigrams are pairs of token ids (one int64 each) counted with numpy; strings are made
    only for the terms that pass min_df/max_df, to sort them as sklearn does. max_features then
    picks the same terms: sklearn ranks the term frequencies (float32, in term order) with
    numpy's default argsort, and so does this, on the identical array.
    tests/core/test_training_features.py compares both on real and synthetic rows."""
    from array import array

    from sklearn.feature_extraction.text import TfidfTransformer

    from rakuten_assets.core.model import document_count_bounds, numbering

    vec.build_analyzer()  # sklearn's own parameter checks (and the state they leave)
    tokenize = vec.build_tokenizer()
    lower = vec.lowercase
    max_n = vec.ngram_range[1]
    tokens, token_id = numbering()

    def token_ids(docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        ids, ptr = array("i"), array("q", [0])
        for doc in docs:
            ids.extend(map(token_id, tokenize(doc.lower() if lower else doc)))
            ptr.append(len(ids))
        return np.frombuffer(ids, dtype=np.int32), np.frombuffer(ptr, dtype=np.int64)

    def gram_codes(ids: np.ndarray, ptr: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Each document's n consecutive tokens as one code (ids in base n_tokens, first token
        most significant), and their row ptr."""
        per_doc = np.maximum(np.diff(ptr) - (n - 1), 0)
        gptr = np.zeros(ptr.size, dtype=np.int64)
        np.cumsum(per_doc, out=gptr[1:])
        if ids.size < n:
            return np.empty(0, dtype=np.int64), gptr
        windows = ids.size - n + 1
        same_doc = np.ones(windows, dtype=bool)
        starts = ptr[1:-1]  # where the second and later documents begin
        for back in range(1, n):  # a window starting `back` tokens before one crosses into it
            crossing = starts - back
            same_doc[crossing[(crossing >= 0) & (crossing < windows)]] = False
        codes = ids[:windows].astype(np.int64)
        for j in range(1, n):
            codes = codes * n_tokens + ids[j:j + windows]
        return codes[same_doc], gptr

    def counts(indices: np.ndarray, indptr: np.ndarray, n_cols: int) -> sp.csr_matrix:
        matrix = sp.csr_matrix((np.ones(indices.size, dtype=vec.dtype), indices, indptr),
                               shape=(indptr.size - 1, n_cols))
        matrix.sum_duplicates()  # also sorts each row's columns, as sklearn's sort_indices
        return matrix

    train_ids, train_ptr = token_ids(train)
    test_ids, test_ptr = token_ids(test)
    n_tokens = len(tokens)
    if max(n_tokens, 1) ** max_n >= 2**63:
        return None
    names = list(tokens)
    del tokens
    n_docs = train_ptr.size - 1
    # train: unigram columns are token ids, then one column per distinct bigram, per trigram
    blocks, seen = [], []  # seen[k]: the codes of the (k + 2)-grams, in column order
    for n in range(2, max_n + 1):
        codes, gptr = gram_codes(train_ids, train_ptr, n)
        column, distinct = pd.factorize(codes)  # hashing: 15x faster than np.unique's sort
        del codes
        blocks.append(counts(column.astype(np.int32), gptr, distinct.size))
        seen.append(distinct)
        del column
    unigrams = counts(train_ids, train_ptr, n_tokens)  # sorts train_ids in place: used last
    blocks.insert(0, unigrams)
    del train_ids
    both = sp.hstack(blocks, format="csr") if len(blocks) > 1 else blocks[0]
    del blocks, unigrams
    first_column = np.cumsum([0, n_tokens] + [d.size for d in seen])  # where each n starts
    df = np.bincount(both.indices, minlength=both.shape[1])
    min_df, max_df = document_count_bounds(vec, n_docs)
    if max_df < min_df:
        raise ValueError("max_df corresponds to < documents than min_df")
    candidates = np.flatnonzero((df >= min_df) & (df <= max_df))

    def term(column: int) -> str:
        if column < n_tokens:
            return names[column]
        n = int(np.searchsorted(first_column, column, side="right"))  # the column's n-gram size
        code = int(seen[n - 2][column - first_column[n - 1]])
        parts = []
        for _ in range(n):
            code, last = divmod(code, n_tokens)
            parts.append(names[last])
        return " ".join(reversed(parts))

    terms = [term(c) for c in candidates.tolist()]
    order = sorted(range(len(terms)), key=terms.__getitem__)  # sklearn: sorted(vocabulary.items())
    candidates = candidates[order]
    terms = [terms[i] for i in order]
    if vec.max_features is not None and candidates.size > vec.max_features:
        frequency = np.asarray(both.sum(axis=0)).ravel().astype(vec.dtype)[candidates]
        chosen = np.sort((-frequency).argsort()[: vec.max_features])  # sklearn's own ranking
        candidates = candidates[chosen]
        terms = [terms[i] for i in chosen.tolist()]
    if not terms:
        raise ValueError("After pruning, no terms remain. Try a lower min_df or a higher max_df.")
    x_train = both[:, candidates]
    del both
    vec.vocabulary_ = {t: np.int64(i) for i, t in enumerate(terms)}  # sklearn's value type
    vec.fixed_vocabulary_ = False
    vec._tfidf = TfidfTransformer(norm=vec.norm, use_idf=vec.use_idf, smooth_idf=vec.smooth_idf,
                                  sublinear_tf=vec.sublinear_tf).fit(x_train)
    x_train = vec._tfidf.transform(x_train, copy=False)

    # test: the kept unigram columns found by token id, the kept n-grams by their code
    column_of_token = np.full(n_tokens, -1, dtype=np.int64)
    is_unigram = candidates < n_tokens
    column_of_token[candidates[is_unigram]] = np.flatnonzero(is_unigram)
    test_cols = [column_of_token[test_ids]]
    test_rows = [np.repeat(np.arange(test_ptr.size - 1), np.diff(test_ptr))]
    for n in range(2, max_n + 1):
        if not test_ids.size:
            break
        codes, gptr = gram_codes(test_ids, test_ptr, n)
        of_n = (candidates >= first_column[n - 1]) & (candidates < first_column[n])
        kept_codes = seen[n - 2][candidates[of_n] - first_column[n - 1]]  # in term order
        kept_columns = np.flatnonzero(of_n)
        by_code = np.argsort(kept_codes)
        kept_codes, kept_columns = kept_codes[by_code], kept_columns[by_code]
        gram_cols = np.full(codes.size, -1, dtype=np.int64)
        if kept_codes.size:
            where = np.searchsorted(kept_codes, codes)
            found = where < kept_codes.size
            found[found] = kept_codes[where[found]] == codes[found]
            gram_cols[found] = kept_columns[where[found]]
        test_cols.append(gram_cols)
        test_rows.append(np.repeat(np.arange(gptr.size - 1), np.diff(gptr)))
    cols, rows = np.concatenate(test_cols), np.concatenate(test_rows)
    keep = cols >= 0
    x_test = sp.csr_matrix((np.ones(int(keep.sum()), dtype=vec.dtype), (rows[keep], cols[keep])),
                           shape=(test_ptr.size - 1, len(terms)))
    x_test.sum_duplicates()
    return x_train, vec._tfidf.transform(x_test, copy=False)


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


# Rows copied per slice when stacking: bounds the index arrays of one copy to ~5k rows' entries.
STACK_CHUNK_ROWS = 5_000
# Rows per piece of a fitted part's matrix (RowPieces): at 850k rows a piece of the char block is
# ~170 MB, above glibc's largest mmap threshold (32 MB), so freeing it returns it to the system.
PIECE_ROWS = 100_000


class RowPieces:
    """A CSR matrix held as consecutive blocks of rows (copies; the whole is no longer needed).

    Why: the stacked train matrix is as large as its parts together. Stacked from whole parts,
    every part stays in memory until its last row is copied, so the parts and the result were
    all resident at once, the pipeline's peak at 850k rows (docs/scaling.md). Stacked from row
    pieces, each piece is freed as soon as it is copied and the result grows as the parts shrink."""

    def __init__(self, matrix: sp.csr_matrix, rows_per_piece: int = PIECE_ROWS):
        if rows_per_piece < 1:
            raise ValueError("rows_per_piece must be at least 1")
        matrix = sp.csr_matrix(matrix)
        self.shape = matrix.shape
        self.nnz = int(matrix.nnz)
        self.dtype = matrix.dtype
        n_rows = matrix.shape[0]
        if n_rows <= rows_per_piece:
            self.pieces: list[sp.csr_matrix | None] = [matrix]
        else:
            self.pieces = [compact_indices(matrix[start:start + rows_per_piece])
                           for start in range(0, n_rows, rows_per_piece)]

    def row_lengths(self) -> np.ndarray:
        return np.concatenate([np.diff(p.indptr).astype(np.int64) for p in self.pieces])

    def tocsr(self) -> sp.csr_matrix:
        if len(self.pieces) == 1:
            return self.pieces[0]
        return sp.vstack(self.pieces, format="csr")


def hstack_releasing(blocks: list[tuple[sp.csr_matrix | RowPieces, float | None]],
                     chunk_rows: int = STACK_CHUNK_ROWS) -> sp.csr_matrix:
    """`sp.hstack([b * w for b, w in blocks], format="csr")` (w None: unweighted) that frees each
    block's rows as soon as they are copied. scipy's own stack concatenates every block's data and
    indices into temporaries before it interleaves them into the result: at 850k rows, 2.9 GB of
    train and test blocks took 4.4 GB more (the pipeline's peak then). Here the result is
    allocated once and each block's entries are written straight to their places, `chunk_rows`
    rows at a time (measured on the same blocks, 7,233 -> 5,166 MB peak); blocks given as
    `RowPieces` are copied piece after piece, all blocks' first pieces first, and each piece is
    freed once copied, so the result grows as the blocks shrink.
    The list is emptied: the caller must hold no other reference for the blocks to be freed."""
    if not blocks:
        raise ValueError("nothing to stack")
    pieces = [(b if isinstance(b, RowPieces) else RowPieces(b, max(b.shape[0], 1)), w) for b, w in blocks]
    blocks.clear()
    n_rows = pieces[0][0].shape[0]
    if any(b.shape[0] != n_rows for b, _ in pieces):
        raise ValueError(f"blocks of different row counts: {[b.shape[0] for b, _ in pieces]}")
    lengths = [b.row_lengths() for b, _ in pieces]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.sum(lengths, axis=0), out=indptr[1:])
    n_cols = sum(b.shape[1] for b, _ in pieces)
    nnz = int(indptr[-1])
    index_dtype = np.int32 if max(nnz, n_cols) < np.iinfo(np.int32).max else np.int64
    dtype = np.result_type(*[b.dtype for b, _ in pieces])
    data = np.empty(nnz, dtype=dtype)
    indices = np.empty(nnz, dtype=index_dtype)
    # where each block's entries of each row start in the result
    offsets, filled = [], indptr[:-1].copy()
    for row_nnz in lengths:
        offsets.append(filled.copy())
        filled += row_nnz
    del filled, lengths
    first_cols = np.cumsum([0] + [b.shape[1] for b, _ in pieces])
    next_row = [0] * len(pieces)  # the first row of each block's next piece
    for k in range(max(len(b.pieces) for b, _ in pieces)):
        for j, (block, weight) in enumerate(pieces):
            if k >= len(block.pieces):
                continue
            piece, block.pieces[k] = block.pieces[k], None
            first_row = next_row[j]
            next_row[j] += piece.shape[0]
            piece_nnz = np.diff(piece.indptr).astype(np.int64)
            for start in range(0, piece.shape[0], chunk_rows):
                stop = min(start + chunk_rows, piece.shape[0])
                lo, hi = int(piece.indptr[start]), int(piece.indptr[stop])
                if lo == hi:
                    continue
                # the result position of entry e of piece row r: offsets[j][first_row + r] + (e - indptr[r])
                where = np.repeat(offsets[j][first_row + start:first_row + stop] - piece.indptr[start:stop],
                                  piece_nnz[start:stop])
                where += np.arange(lo, hi, dtype=np.int64)
                values = piece.data[lo:hi]
                data[where] = values * weight if weight is not None else values
                indices[where] = piece.indices[lo:hi] + int(first_cols[j])
            del piece
    return sp.csr_matrix((data, indices, indptr.astype(index_dtype)), shape=(n_rows, n_cols))


def fit_part(name: str, transformer: BaseEstimator, texts: CleanTexts) -> FittedPart:
    import time

    started = time.perf_counter()
    fitted = (_word_tfidf_fit_transform(transformer, texts.train, texts.test)
              if _fast_word_fit_applies(transformer) else None)
    if fitted is not None:
        # fits and transforms both sides in one pass, so its fit time includes the test side
        x_train, x_test = fitted
        fit_seconds = time.perf_counter() - started
    else:
        x_train = fit_transform_bounded(transformer, texts.train)
        fit_seconds = time.perf_counter() - started
        x_test = transformer.transform(texts.test)
    # in row pieces, which assemble frees one by one as it stacks them (RowPieces)
    x_train = RowPieces(compact_indices(sp.csr_matrix(x_train)))
    x_test = RowPieces(compact_indices(sp.csr_matrix(x_test)))
    return FittedPart(name, transformer, x_train, x_test, fit_seconds)


def assemble(features: BaseEstimator, parts: list[FittedPart]) -> tuple[BaseEstimator, sp.csr_matrix, sp.csr_matrix]:
    """The fitted featuriser made of the fitted parts (in `features`' order, whatever order they
    finished in), and the train and test matrices stacked as `FeatureUnion` stacks them
    (weighted by its `transformer_weights`). The parts give their matrices up: each part's
    `x_train` and `x_test` is None afterwards."""
    by_name = {p.name: p for p in parts}
    if not isinstance(features, FeatureUnion):
        whole = by_name[WHOLE]
        x_train, x_test = whole.x_train.tocsr(), whole.x_test.tocsr()
        whole.x_train = whole.x_test = None
        return whole.transformer, x_train, x_test
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
            blocks.append((getattr(by_name[name], side), weights.get(name)))
            setattr(by_name[name], side, None)  # the stack below frees each block once copied
        return hstack_releasing(blocks)

    x_train = stack("x_train")
    return fitted, x_train, stack("x_test")
