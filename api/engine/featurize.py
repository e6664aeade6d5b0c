"""Faster `TfidfVectorizer.transform` for serving, with the same output.

Profiling the served pipeline (py-spy, then cProfile on batches of 256 synthetic products of
~450 cleaned characters) put most of the time in `CountVectorizer._count_vocab`: a Python
loop over every n-gram of every document (1,800 character n-grams for such a product), each a
dict look-up and a counter update. The fitted vocabulary, idf and norm are all kept; only the
counting is done differently:

* `char_wb` analyzers (the big one): n-grams are never built as strings. The batch becomes
  one array of code points in which every word is padded by one space and words are two spaces
  apart, so a window lies inside one padded word exactly when it holds no double space; each
  window gets a 64-bit polynomial hash, computed for all windows of a length at once, looked
  up in an open-addressing hash table of the vocabulary's terms of that length (`_HashTable`,
  checked collision-free at load; one probe per look-up where a `searchsorted` needed ~16).
* word analyzers (sklearn's own tokenizer and preprocessor, no stop words): n-grams are never
  built as strings either. Each document is tokenised by the vectorizer's own compiled
  `findall` (C), every token becomes an integer id in one C-level `map(dict.get, ...)` over the
  whole batch, unigrams are an array look-up, and the n-grams of n >= 2 are integer keys (ids in
  base "number of known tokens") computed for the whole batch at once and looked up in a
  `_HashTable`. sklearn's analyzer instead joins every bigram into a new string and looks each
  up in a dict in a Python loop: with the char_wb path vectorised, that made the word
  vectoriser half of a 256-row batch (26 of 52 ms CPU, measured; issue 14).
* other analyzers: sklearn's own analyzer produces the features, and the look-up is one
  C-level `map(vocabulary.get, ...)` instead of a Python loop.
* the project's own `CharWbTfidf` (rakuten_assets.core.model, same matrix as sklearn's char_wb
  without lower-casing) takes the hashed char_wb path too.

* the served pipeline (the project's text step, then vectorisers sharing one `ChunkCache`):
  each text's whitespace-separated chunks, markup removed but accents and case not folded yet,
  are found and hashed in numpy (`RawChunks`) and looked up by hash (`ChunkCache.locate_raw`); a
  chunk is folded and featurised only the first time it comes. Python touches no chunk it has
  seen before: the split, fold and dict look-up per chunk were most of a batch's CPU (issue 14).

The counts then go through the vectorizer's own fitted `TfidfTransformer`. `FastTfidf.check`
compares the result with sklearn's on sample documents; the predictor also compares the final
probabilities, and falls back to the plain pipeline on any difference.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from itertools import chain, repeat

import numpy as np
import scipy.sparse as sp
from sklearn.utils.sparsefuncs_fast import (
    inplace_csr_row_normalize_l1,
    inplace_csr_row_normalize_l2,
)

_B = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the rolling hash (mod 2**64)
_M = np.uint64(0xBF58476D1CE4E5B9)  # splitmix64's multiplier, to spread hashes over slots
_S29, _S32 = np.uint64(29), np.uint64(32)


def _slot_bits(h: np.ndarray) -> np.ndarray:
    """The rolling hash of short n-grams over a small alphabet is far from uniform in its top
    bits (long probe runs were measured); one xor-shift-multiply round fixes that."""
    x = h ^ (h >> _S29)
    x = x * _M
    return x ^ (x >> _S32)
_SPACE = 32


def _hash_terms(terms: list[str], n: int) -> np.ndarray:
    codes = np.frombuffer("".join(terms).encode("utf-32-le"), dtype=np.uint32)
    codes = codes.reshape(len(terms), n).astype(np.uint64)
    h = codes[:, 0].copy()
    for j in range(1, n):
        h = h * _B + codes[:, j]
    return h


class _HashTable:
    """Open addressing (linear probing) from 64-bit hashes to feature indices, looked up for
    a whole array of hashes at once; kept at most 1/16 full, so nearly every look-up is one
    probe (a `searchsorted` in the sorted hashes costs ~16 dependent probes)."""

    def __init__(self, hashes: np.ndarray, values: np.ndarray):
        bits = max(10, int(np.ceil(np.log2(max(hashes.size, 1) * 16))))
        self.shift = np.uint64(64 - bits)
        size = 1 << bits
        self.mask = size - 1
        self.keys = np.zeros(size, dtype=np.uint64)
        self.values = np.full(size, -1, dtype=np.int32)  # -1: empty slot
        slots = (_slot_bits(hashes) >> self.shift).astype(np.int64)
        pending = np.arange(hashes.size)
        self.max_probe = 0
        while pending.size:
            s = slots[pending]
            # one writer per free slot per round; the others move on to the next slot
            free = self.values[s] < 0
            s_free, first = np.unique(s[free], return_index=True)
            winners = pending[free][first]
            self.keys[s_free] = hashes[winners]
            self.values[s_free] = values[winners]
            placed = np.zeros(hashes.size, dtype=bool)
            placed[winners] = True
            pending = pending[~placed[pending]]
            slots[pending] = (slots[pending] + 1) & self.mask
            self.max_probe += 1 if pending.size else 0

    def lookup(self, h: np.ndarray) -> np.ndarray:
        """Feature index of every hash, -1 when it is not in the vocabulary."""
        slot = (_slot_bits(h) >> self.shift).astype(np.intp)
        vals = np.take(self.values, slot)
        hit = np.take(self.keys, slot) == h
        out = np.where(hit, vals, -1)
        # the few that met another key in their home slot probe on (linear probing)
        todo = np.flatnonzero(~hit & (vals >= 0))
        for _ in range(self.max_probe):
            if not todo.size:
                break
            slot_t = (slot[todo] + 1) & self.mask
            slot[todo] = slot_t
            vals = np.take(self.values, slot_t)
            match = (np.take(self.keys, slot_t) == h[todo]) & (vals >= 0)
            out[todo[match]] = vals[match]
            todo = todo[~match & (vals >= 0)]
        return out


# Token patterns whose matches never hold whitespace and whose boundaries (\b) read whitespace
# and the ends of the string alike: tokenising a text is then tokenising each of its
# whitespace-separated chunks, which the chunk cache below relies on.
_CHUNKWISE_TOKEN_PATTERNS = {r"(?u)\b\w\w+\b", r"(?u)\b\w+\b", r"\b\w\w+\b", r"\b\w+\b"}


class _Entries:
    """One vectoriser's entries per cached chunk: CSR rows in growable arrays (int32 indices,
    as scipy wants them: a CSR view of them is not a converted copy)."""

    def __init__(self, with_counts: bool):
        self.ptr = np.zeros(1024, dtype=np.int32)  # entries of row r: ptr[r]:ptr[r + 1]
        self.values = np.empty(16_384, dtype=np.int32)
        self.counts = np.empty(16_384, dtype=np.float32) if with_counts else None
        self.nnz = 0

    @staticmethod
    def _grown(array: np.ndarray, need: int) -> np.ndarray:
        if need <= array.size:
            return array
        bigger = np.empty(max(need, 2 * array.size), dtype=array.dtype)
        bigger[:array.size] = array
        return bigger

    def append(self, n: int, lengths: np.ndarray, values: np.ndarray, counts) -> None:
        """Rows n, n+1, ... (one per entry of `lengths`). Only positions past the current
        ends are written, so a `view` taken earlier never changes."""
        nnz, added = self.nnz, len(lengths)
        self.ptr = self._grown(self.ptr, n + added + 1)
        self.ptr[n + 1:n + 1 + added] = np.cumsum(lengths) + nnz
        self.values = self._grown(self.values, nnz + values.size)
        self.values[nnz:nnz + values.size] = values
        if self.counts is not None:
            self.counts = self._grown(self.counts, nnz + values.size)
            self.counts[nnz:nnz + values.size] = counts
        self.nnz += values.size

    def view(self, n: int) -> _EntriesView:
        return _EntriesView(self.ptr[:n + 1], self.values[:self.nnz],
                            None if self.counts is None else self.counts[:self.nnz])


class _EntriesView:
    def __init__(self, ptr, values, counts):
        self.ptr, self.values, self.counts = ptr, values, counts

    def matrix(self, n_features: int) -> sp.csr_matrix:
        """The cached rows as one CSR matrix (chunks x features)."""
        return sp.csr_matrix((self.counts, self.values, self.ptr),
                             shape=(self.ptr.size - 1, n_features), copy=False)

    def gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The entries of `rows`, one row after the other, and how many each row has."""
        starts = self.ptr[rows].astype(np.int64)
        lengths = self.ptr[rows + 1] - starts
        # position k of row j's block reads values[starts[j] + k]
        shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        return self.values[shift + np.arange(int(lengths.sum()))].astype(np.int64), lengths


class LocatedChunks:
    """A batch of texts as cache rows: every chunk of every text, in order (`rows`), how many
    chunks each text has (`per_doc`), and each vectoriser's entries as they were then."""

    def __init__(self, rows: np.ndarray, per_doc: np.ndarray, views: dict[int, _EntriesView]):
        self.rows, self.per_doc, self.views = rows, per_doc, views
        self.doc_of_chunk = np.repeat(np.arange(per_doc.size, dtype=np.int64), per_doc)


# Every character `str.split()` splits on is at or below U+3000 (checked over all of Unicode in
# tests/api/test_units.py): a table of them, indexed by code point.
_WHITESPACE = np.array([chr(c).isspace() for c in range(0x3001)], dtype=bool)
_RAW_B1 = np.uint64(0x9E3779B97F4A7C15)  # odd bases of the two polynomial hashes of raw chunks
_RAW_B2 = np.uint64(0xC2B2AE3D27D4EB4F)


class _Powers:
    """b**i and b**-i mod 2**64 for i < n, grown on demand (b odd, so invertible). Shared by
    threads: a caller keeps the pair it read or made, which is long enough for it."""

    def __init__(self, base: np.uint64):
        self.base, self.inverse = base, np.uint64(pow(int(base), -1, 1 << 64))
        self.pair = (np.ones(0, dtype=np.uint64), np.ones(0, dtype=np.uint64))

    def upto(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        pair = self.pair
        if pair[0].size < n:
            size = max(n, 2 * pair[0].size, 1 << 16)
            pair = self._powers(self.base, size), self._powers(self.inverse, size)
            self.pair = pair  # one assignment: other threads see the old pair or the new one
        return pair

    @staticmethod
    def _powers(base: np.uint64, n: int) -> np.ndarray:
        factors = np.full(n, base, dtype=np.uint64)  # all uint64: a mix with int64 is float64
        factors[0] = 1
        return np.cumprod(factors, dtype=np.uint64)  # wraps mod 2**64


class RawChunks:
    """The whitespace-separated chunks of a batch of texts found and hashed in numpy, without a
    Python string per chunk: `start`/`end` (positions in `text`, the texts joined by spaces),
    `doc` (the text each chunk belongs to) and two independent 64-bit polynomial hashes of each
    chunk's code points. Chunks are what `str.split()` gives (same whitespace)."""

    _p1, _p2 = _Powers(_RAW_B1), _Powers(_RAW_B2)

    def __init__(self, texts: list[str]):
        self.n_docs = len(texts)
        self.text = " ".join(texts)
        # surrogatepass: a JSON body may carry a lone surrogate (a "\ud800" escape)
        codes = np.frombuffer(self.text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        space = _WHITESPACE[np.minimum(codes, 0x3000)] & (codes <= 0x3000)
        edges = np.diff(np.concatenate(([True], space, [True])).view(np.int8))
        self.start, self.end = np.flatnonzero(edges == -1), np.flatnonzero(edges == 1)
        doc_starts = np.cumsum([0] + [len(t) + 1 for t in texts[:-1]]) if texts else np.zeros(0, np.int64)
        self.doc = np.searchsorted(doc_starts, self.start, side="right") - 1
        # +1: a code point 0 must still count (else "a" and "a\0" would hash alike)
        values = codes.astype(np.uint64) + np.uint64(1)
        self.h1, self.h2 = self._hash(values, self._p1), self._hash(values, self._p2)

    def _hash(self, values: np.ndarray, powers: _Powers) -> np.ndarray:
        # sum over the chunk of value[j] * b**(j - start): prefix sums of value * b**j, shifted
        up, down = powers.upto(values.size + 1)
        prefix = np.zeros(values.size + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            np.cumsum(values * up[:values.size], out=prefix[1:])
            return (prefix[self.end] - prefix[self.start]) * down[self.start]

    def chunk(self, i: int) -> str:
        return self.text[self.start[i]:self.end[i]]

    def per_doc(self) -> np.ndarray:
        return np.bincount(self.doc, minlength=self.n_docs).astype(np.int64)


class _RawIndex:
    """Raw chunk -> row, by the chunk's two hashes: the first hash looked up in an
    open-addressing table (`_HashTable`: one probe per look-up, where a `searchsorted` in the
    sorted hashes needed ~13 dependent probes and was a third of `locate_raw`'s time, issue 14),
    the second hash confirming a hit (two chunks alike in 128 bits of hash: never, in practice).
    Chunks added since the table was built wait in a small sorted array searched with
    `searchsorted`; the table is rebuilt when they outnumber half of it, so each chunk is put
    into a table a bounded number of times on average."""

    _REBUILD_MIN = 1024

    def __init__(self):
        # in the order added; entries [0, tabled) are in the table, the others in `recent_*`
        self.h1 = np.zeros(0, dtype=np.uint64)
        self.h2 = np.zeros(0, dtype=np.uint64)
        self.rows = np.zeros(0, dtype=np.int64)
        self.table: _HashTable | None = None
        self.tabled = 0
        self.recent_h1 = np.zeros(0, dtype=np.uint64)  # sorted
        self.recent_at = np.zeros(0, dtype=np.int64)  # their positions in h1/h2/rows

    def __len__(self) -> int:
        return int(self.rows.size)

    def _positions(self, h1: np.ndarray) -> np.ndarray:
        """Where each first hash is held, -1 where it is not."""
        if self.table is None:
            pos = np.full(h1.size, -1, dtype=np.int64)
        else:
            pos = self.table.lookup(h1).astype(np.int64)
        if self.recent_h1.size:
            miss = np.flatnonzero(pos < 0)
            if miss.size:
                at = np.minimum(np.searchsorted(self.recent_h1, h1[miss]), self.recent_h1.size - 1)
                found = self.recent_h1[at] == h1[miss]
                pos[miss[found]] = self.recent_at[at[found]]
        return pos

    def lookup(self, h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
        if not self.rows.size:
            return np.full(h1.size, -1, dtype=np.int64)
        pos = self._positions(h1)
        at = np.maximum(pos, 0)
        hit = (pos >= 0) & (self.h2[at] == h2)
        return np.where(hit, self.rows[at], -1)

    def add(self, h1: np.ndarray, h2: np.ndarray, rows: np.ndarray) -> None:
        """Adds the (distinct) chunks; one whose first hash is already taken is left out (it is
        then folded each time it comes, which is only slower)."""
        fresh = self._positions(h1) < 0
        once = np.zeros(h1.size, dtype=bool)  # two new chunks with one first hash: the first only
        once[np.unique(h1, return_index=True)[1]] = True
        fresh &= once
        self.h1 = np.concatenate((self.h1, h1[fresh]))
        self.h2 = np.concatenate((self.h2, h2[fresh]))
        self.rows = np.concatenate((self.rows, np.asarray(rows, dtype=np.int64)[fresh]))
        if self.rows.size - self.tabled > max(self._REBUILD_MIN, self.tabled // 2):
            self.table = _HashTable(self.h1, np.arange(self.rows.size))
            self.tabled = self.rows.size
        recent = np.arange(self.tabled, self.rows.size)
        order = np.argsort(self.h1[recent], kind="stable")
        self.recent_h1, self.recent_at = self.h1[recent][order], recent[order]


class ChunkCache:
    """Per distinct whitespace-separated chunk of text ("chunk": what `str.split()` gives),
    what it contributes to a document, for each vectoriser that uses the cache: its character
    n-gram columns and counts (char_wb) or its token ids in order (word). Both depend on the
    chunk alone (char_wb n-grams stay inside a padded word; a word token never crosses
    whitespace), so a document is the sum (chars) or the concatenation (words) of its
    chunks' entries. Vectorisers reading the same texts share one cache (`FastTfidf.share`),
    so a batch is split and looked up once.

    A catalogue repeats its words: a batch of 256 synthetic products holds ~20,000 chunks, of
    which ~2,300 are distinct, and after a few batches nearly all are known: n-grams are hashed
    and the tokeniser runs once per new chunk instead of once per occurrence (issue 14).
    Memory is bounded: when `max_chunks` chunks or `max_entries` entries (counting the chunks'
    characters too) would be exceeded, the cache is emptied and refilled by the traffic that
    follows (a single batch larger than the bound still works, kept until the next one).
    Thread-safe: lookups and additions hold a lock, and a `LocatedChunks` keeps views of the
    arrays that later additions never write into.
    """

    def __init__(self, max_chunks: int = 200_000, max_entries: int = 8_000_000):
        self.max_chunks = max_chunks
        self.max_entries = max_entries
        self._compute: dict[int, Callable] = {}
        self._with_counts: dict[int, bool] = {}
        self._lock = threading.Lock()
        self._fold: Callable | None = None  # the fold locate_raw's raw_index was made with
        self.lookups = 0
        self.misses = 0
        self.clears = 0  # the times a full cache was emptied
        self._empty()

    def register(self, key: int, compute: Callable, with_counts: bool) -> None:
        """A vectoriser's entries: `compute(new_chunks) -> (entries per chunk, values, counts
        or None)`. Empties the cache (every cached chunk needs entries of every vectoriser)."""
        with self._lock:
            self._compute[key] = compute
            self._with_counts[key] = with_counts
            self._empty()

    def _empty(self) -> None:
        self.rows: dict[str, int] = {}
        self.raw_index = _RawIndex()  # raw chunk (before folding) -> row: see locate_raw
        self.entries = {k: _Entries(self._with_counts[k]) for k in self._compute}
        self.n = 0
        self.size = 0  # entries of all vectorisers plus the chunks' characters

    def locate(self, texts: list[str]) -> LocatedChunks:
        per_doc = list(map(str.split, texts))
        counts = np.fromiter(map(len, per_doc), dtype=np.int64, count=len(per_doc))
        chunks = list(chain.from_iterable(per_doc))
        with self._lock:
            rows = self._rows(chunks)
            views = {k: e.view(self.n) for k, e in self.entries.items()}
        return LocatedChunks(rows, counts, views)

    def locate_raw(self, texts: list[str], fold: Callable[[str], list[str]]) -> LocatedChunks:
        """`locate` of texts given raw, before `fold` turns each of their whitespace-separated
        chunks into the cleaned chunks it stands for (usually one; `fold` must work chunk by
        chunk, as `rakuten_assets.core.text.fold_words` does). Each distinct raw chunk is
        folded once, then found by its hash (`RawChunks`): no Python string, fold or dict
        look-up per chunk, which was most of a served batch's CPU (issue 14). A raw chunk that
        folds into no chunk or several is folded again each time it comes (rare: U+00A8, for
        one, decomposes into a space and an accent). One cache serves one `fold`."""
        raw = RawChunks(texts)
        with self._lock:
            if fold is not self._fold:
                self.raw_index = _RawIndex()
                self._fold = fold
            rows, per_doc = self._raw_rows(raw, fold)
            views = {k: e.view(self.n) for k, e in self.entries.items()}
        return LocatedChunks(rows, per_doc, views)

    def _raw_rows(self, raw: RawChunks, fold) -> tuple[np.ndarray, np.ndarray]:
        rows = self.raw_index.lookup(raw.h1, raw.h2)
        missing = np.flatnonzero(rows < 0)
        self.lookups += rows.size
        self.misses += int(missing.size)
        if not missing.size:
            return rows, raw.per_doc()
        # one of each distinct missing chunk, by its hashes
        h1, h2 = raw.h1[missing], raw.h2[missing]
        order = np.lexsort((h2, h1))
        first = np.ones(order.size, dtype=bool)
        first[1:] = (h1[order][1:] != h1[order][:-1]) | (h2[order][1:] != h2[order][:-1])
        distinct = missing[np.sort(order[first])]
        folded = [fold(raw.chunk(i)) for i in distinct.tolist()]
        words = list(chain.from_iterable(folded))
        clears = self.clears
        found = dict(zip(words, self._rows(words, count=False).tolist()))
        if self.clears != clears and missing.size < rows.size:
            # the cache was emptied to make room: the rows of the raw chunks found above are gone
            self.lookups -= rows.size
            self.misses -= int(missing.size)
            return self._raw_rows(raw, fold)
        single = np.fromiter((len(ws) == 1 for ws in folded), dtype=bool, count=len(folded))
        single_rows = np.array([found[ws[0]] for ws in folded if len(ws) == 1], dtype=np.int64)
        if single.any():
            if len(self.raw_index) + int(single.sum()) > self.max_chunks:
                self.raw_index = _RawIndex()  # bounded like the rows; the rows stay valid
            self.raw_index.add(raw.h1[distinct[single]], raw.h2[distinct[single]], single_rows)
        rows[missing] = self.raw_index.lookup(raw.h1[missing], raw.h2[missing])
        if (rows >= 0).all():
            return rows, raw.per_doc()
        # some raw chunks fold into no chunk or several (or were left out of the index): expand
        # every chunk into its rows
        keys = list(zip(raw.h1.tolist(), raw.h2.tolist()))
        rows_of = {keys[i]: [found[w] for w in ws] for i, ws in zip(distinct.tolist(), folded)}
        expanded = [[r] if r >= 0 else rows_of[key] for r, key in zip(rows.tolist(), keys)]
        lengths = np.fromiter(map(len, expanded), dtype=np.int64, count=len(expanded))
        rows = np.fromiter(chain.from_iterable(expanded), dtype=np.int64, count=int(lengths.sum()))
        return rows, np.bincount(raw.doc, weights=lengths, minlength=raw.n_docs).astype(np.int64)

    def _rows(self, chunks: list[str], count: bool = True) -> np.ndarray:
        """The rows of `chunks`, computing and adding the new ones; `count`: add them to the
        look-up statistics (locate_raw counts its raw chunks instead)."""
        rows = np.fromiter(map(self.rows.get, chunks, repeat(-1)), dtype=np.int64, count=len(chunks))
        missing = np.flatnonzero(rows < 0)
        if count:
            self.lookups += len(chunks)
            self.misses += int(missing.size)
        if not missing.size:
            return rows
        absent = [chunks[i] for i in missing.tolist()]
        new = list(dict.fromkeys(absent))
        computed = {k: compute(new) for k, compute in self._compute.items()}
        size = sum(v.size for _, v, _ in computed.values()) + sum(map(len, new))
        if self.n and (self.n + len(new) > self.max_chunks or self.size + size > self.max_entries):
            self._empty()  # the rows found above do not survive: look the whole batch up again
            self.clears += 1
            if count:
                self.lookups -= len(chunks)
                self.misses -= int(missing.size)
            return self._rows(chunks, count)
        for k, (lengths, values, counts) in computed.items():
            self.entries[k].append(self.n, lengths, values, counts)
        self.rows.update(zip(new, range(self.n, self.n + len(new))))
        self.n += len(new)
        self.size += size
        rows[missing] = np.fromiter(map(self.rows.__getitem__, absent), dtype=np.int64, count=len(absent))
        return rows

    def stats(self) -> dict:
        return {"chunks": self.n, "size": self.size, "lookups": self.lookups,
                "hit_rate": round(1 - self.misses / self.lookups, 4) if self.lookups else None,
                "clears": self.clears}


class FastTfidf:
    """Wraps one fitted TfidfVectorizer; `transform(docs)` equals `vec.transform(docs)`."""

    def __init__(self, vec):
        self.vec = vec
        self.vocab = vec.vocabulary_
        self.n_features = len(self.vocab)
        self.dtype = vec.dtype
        self.char_tables: dict[int, _HashTable] | None = None
        self.word_tables = None
        self.chunks: ChunkCache | None = None  # set for the char_wb and word paths
        if type(vec).__name__ == "CharWbTfidf":
            # the project's own char_wb vectorizer (rakuten_assets.core.model): no lower-casing,
            # words split on whitespace, sublinear tf, idf, l2 norm
            self.preprocess = lambda doc: doc
            self.analyze = None
            self.binary = False
            self.sublinear_tf, self.idf, self.norm = vec.sublinear_tf, vec.idf_, "l2"
            self.char_tables = self._char_tables()
            if self.char_tables is None:
                raise ValueError("vocabulary not suited to the hashed char_wb path")
            self.share(ChunkCache())
            return
        self.preprocess = vec.build_preprocessor()
        self.analyze = vec.build_analyzer()
        self.binary = vec.binary
        tfidf = vec._tfidf
        self.sublinear_tf, self.idf, self.norm = (tfidf.sublinear_tf,
                                                  getattr(tfidf, "idf_", None), tfidf.norm)
        self.word_tables = None
        if vec.analyzer == "char_wb":
            self.char_tables = self._char_tables()
            if self.char_tables is not None:
                self.share(ChunkCache())
        elif vec.analyzer == "word":
            self.word_tables = self._word_tables()
            # the project's WordShapeTfidf says so of its own tokenizer
            chunkwise = (vec.token_pattern in _CHUNKWISE_TOKEN_PATTERNS
                         or getattr(vec, "chunkwise_tokens", False) is True)
            if self.word_tables is not None and chunkwise:
                self.share(ChunkCache())

    def share(self, cache: ChunkCache) -> None:
        """Keep this vectoriser's per-chunk entries in `cache` (its own by default; the
        predictor gives the vectorisers of one FeatureUnion one cache)."""
        if self.char_tables:
            cache.register(id(self), self._chunk_char_counts, with_counts=True)
        else:
            cache.register(id(self), self._chunk_token_ids, with_counts=False)
        self.chunks = cache

    @property
    def preprocess_is_lowercase(self) -> bool:
        """Its preprocessing changes no text that is already lower-cased (nothing, or
        lower-casing only): it can read the chunks of such texts looked up by another."""
        if self.analyze is None:  # CharWbTfidf: no preprocessing
            return True
        vec = self.vec
        return vec.preprocessor is None and vec.strip_accents is None

    @staticmethod
    def supports(vec) -> bool:
        if type(vec).__name__ == "CharWbTfidf":
            return (hasattr(vec, "vocabulary_") and hasattr(vec, "idf_")
                    and tuple(vec.ngram_range)[0] <= 3)
        return (type(vec).__name__ in ("TfidfVectorizer", "WordShapeTfidf") and hasattr(vec, "vocabulary_")
                and vec.input == "content" and not callable(vec.analyzer)
                and hasattr(vec, "_tfidf"))

    def _char_tables(self):
        min_n, max_n = self.vec.ngram_range
        if not 1 <= min_n <= 3:  # padded words are >= 3 long: no short-word special case
            return None
        by_len: dict[int, list[tuple[str, int]]] = {}
        for term, idx in self.vocab.items():
            if not min_n <= len(term) <= max_n:
                return None
            by_len.setdefault(len(term), []).append((term, idx))
        tables = {}
        for n, pairs in by_len.items():
            h = _hash_terms([t for t, _ in pairs], n)
            if np.unique(h).size != h.size:
                return None  # a hash collision inside the vocabulary: use the generic path
            tables[n] = _HashTable(h, np.asarray([i for _, i in pairs], dtype=np.int64))
        return tables

    def _word_tables(self):
        """(token ids, unigram column per token id, {n: table of n-gram keys}), or None when
        the vectorizer tokenises in a way this path does not reproduce."""
        vec = self.vec
        min_n, max_n = vec.ngram_range
        if (vec.tokenizer is not None or vec.stop_words is not None or not 1 <= min_n <= max_n
                or max_n > 3):
            return None
        tokens: dict[str, int] = {}
        add = tokens.setdefault
        grams: dict[int, tuple[list[list[int]], list[int]]] = {}
        for term, idx in self.vocab.items():
            parts = term.split(" ")
            if not min_n <= len(parts) <= max_n or "" in parts:
                return None
            ids, cols = grams.setdefault(len(parts), ([], []))
            ids.append([add(p, len(tokens)) for p in parts])
            cols.append(idx)
        base = len(tokens) + 1
        if base ** max_n >= 2**63:
            return None
        unigram = np.full(len(tokens), -1, dtype=np.int64)
        if 1 in grams:
            ids, cols = grams.pop(1)
            unigram[np.asarray(ids, dtype=np.int64)[:, 0]] = cols
        tables = {}
        for n, (ids, cols) in grams.items():
            tables[n] = _HashTable(self._gram_keys(np.asarray(ids, dtype=np.int64).T, base),
                                   np.asarray(cols, dtype=np.int64))
        self._tokenize = vec.build_tokenizer()
        # the break token maps to id -2; usable only if the tokenizer keeps it whole
        self._break_ok = (self._BREAK not in tokens and self._tokenize(f"a {self._BREAK} b").count(self._BREAK) == 1)
        tokens = {**tokens, self._BREAK: -2} if self._break_ok else tokens
        return tokens, unigram, tables, base

    @staticmethod
    def _gram_keys(parts, base: int) -> np.ndarray:
        """The n-gram of token ids (one array per position) as one integer, exact (no hash)."""
        key = np.asarray(parts[0], dtype=np.int64).copy()
        for p in parts[1:]:
            key = key * base + p
        return key.astype(np.uint64)

    # joins the documents of a batch so that one `findall` tokenises them all (one C call
    # instead of a list per document: half the word path's time, measured); a token no
    # product text holds (checked per batch), as the tokenizer must see it alone
    _BREAK = "qqrakutenbreakqq"

    def _token_ids(self, docs: list[str], located: LocatedChunks | None = None):
        """Token ids of the whole batch (-1: a token no vocabulary term holds) and the number
        of tokens of each document."""
        if located is None:
            texts = list(map(self.preprocess, docs))
            if self.chunks is None:
                return self._tokenised(texts)
            located = self.chunks.locate(texts)
        ids, per_chunk = located.views[id(self)].gather(located.rows)
        lengths = np.bincount(located.doc_of_chunk, weights=per_chunk,
                              minlength=located.per_doc.size).astype(np.int64)
        return ids, lengths

    def _chunk_token_ids(self, chunks: list[str]):
        ids, lengths = self._tokenised(chunks)
        return lengths, ids, None

    def _tokenised(self, texts: list[str]):
        """`_token_ids` of texts already preprocessed, by the tokenizer itself."""
        tokens, tokenize = self.word_tables[0], self._tokenize
        joined = f" {self._BREAK} ".join(texts) if self._break_ok else None
        if joined is not None and joined.count(self._BREAK) == len(texts) - 1:
            flat = tokenize(joined)
            ids = np.fromiter(map(tokens.get, flat, repeat(-1)), dtype=np.int64, count=len(flat))
            breaks = np.flatnonzero(ids == -2)
            if breaks.size == len(texts) - 1:
                bounds = np.concatenate(([-1], breaks, [ids.size]))
                lengths = np.diff(bounds) - 1
                return ids[ids != -2], lengths
        per_doc = list(map(tokenize, texts))
        lengths = np.fromiter(map(len, per_doc), dtype=np.int64, count=len(per_doc))
        flat = list(chain.from_iterable(per_doc))
        ids = np.fromiter(map(tokens.get, flat, repeat(-1)), dtype=np.int64, count=len(flat))
        return ids, lengths

    @staticmethod
    def _shares(ids: np.ndarray, lengths: np.ndarray, unigram: np.ndarray) -> np.ndarray:
        known = np.zeros(ids.size)
        hit = ids >= 0
        known[hit] = unigram[ids[hit]] >= 0
        row_of = np.repeat(np.arange(lengths.size), lengths)
        counts = np.bincount(row_of, weights=known, minlength=lengths.size)
        return np.divide(counts, lengths, out=np.zeros(lengths.size), where=lengths > 0)

    def transform_with_shares(self, docs, located: LocatedChunks | None = None
                              ) -> tuple[sp.csr_matrix, np.ndarray | None]:
        """`transform(docs)` and, for a word vectorizer on the fast path, per document the
        share of its tokens (as the vectorizer tokenises them) that are unigrams of the
        vocabulary (0.0 for a document without tokens), from the same tokenisation; else None.
        `located`: the documents already looked up in this vectoriser's chunk cache."""
        if located is None:
            docs = list(docs)
        if not self.word_tables or self.char_tables:
            return self.transform(docs, located), None
        counts, ids, lengths = self._word_counts(docs, located)
        return self._weigh(counts), self._shares(ids, lengths, self.word_tables[1])

    def _word_counts(self, docs: list[str], located: LocatedChunks | None = None):
        _, unigram, tables, base = self.word_tables
        min_n, max_n = self.vec.ngram_range
        ids, lengths = self._token_ids(docs, located)
        n_docs = lengths.size
        row_of = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        rows, cols = [], []
        if min_n == 1 and ids.size:
            col = np.where(ids >= 0, unigram[np.maximum(ids, 0)], -1)
            hit = col >= 0
            rows.append(row_of[hit])
            cols.append(col[hit])
        for n in range(max(2, min_n), max_n + 1):
            windows = ids.size - n + 1
            table = tables.get(n)
            if windows <= 0 or table is None:
                continue
            # a window is an n-gram of one document, all of whose tokens some term holds
            ok = row_of[:windows] == row_of[n - 1:n - 1 + windows]
            for j in range(n):
                ok &= ids[j:j + windows] >= 0
            starts = np.flatnonzero(ok)
            found = table.lookup(self._gram_keys([ids[starts + j] for j in range(n)], base))
            hit = found >= 0
            rows.append(row_of[starts[hit]])
            cols.append(found[hit])
        return self._to_csr(rows, cols, n_docs), ids, lengths

    # --- counting -----------------------------------------------------------------------------
    def _char_counts(self, docs: list[str], located: LocatedChunks | None = None):
        if located is None:
            texts = list(map(self.preprocess, docs))
            if self.chunks is None:
                return self._char_counts_of(list(map(str.split, texts)))
            located = self.chunks.locate(texts)
        # documents x chunks (how often each chunk occurs) times chunks x n-grams
        # built as it stands, no sort: the chunks come in document order, and the product
        # adds up a chunk that occurs twice in a document (a duplicate column) as well as a
        # count of 2 would (a sixth of the char path's time, issue 14)
        indptr = np.zeros(located.per_doc.size + 1, dtype=np.int32)
        np.cumsum(located.per_doc, out=indptr[1:])
        occurrences = sp.csr_matrix((np.ones(located.rows.size, dtype=np.float32),
                                     located.rows.astype(np.int32), indptr),
                                    shape=(located.per_doc.size, located.views[id(self)].ptr.size - 1),
                                    copy=False)
        return (occurrences @ located.views[id(self)].matrix(self.n_features)).tocsr()

    def _chunk_char_counts(self, chunks: list[str]):
        counts = self._char_counts_of([[c] for c in chunks])
        return np.diff(counts.indptr), counts.indices, counts.data

    def _char_counts_of(self, per_doc: list[list[str]]):
        """n-gram counts of documents given as their (preprocessed) whitespace-split words."""
        min_n, max_n = self.vec.ngram_range
        padded = [" " + "  ".join(words) + " " if words else "" for words in per_doc]
        lengths = np.fromiter(map(len, padded), dtype=np.int64, count=len(padded))
        codes = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32)
        total = codes.size
        row_of = np.repeat(np.arange(len(per_doc), dtype=np.int64), lengths)
        space = codes == _SPACE
        double = np.zeros(total + 1, dtype=np.int64)
        np.cumsum(space[:-1] & space[1:], out=double[1:total])
        double[total] = double[total - 1] if total else 0
        c64 = codes.astype(np.uint64)
        rows, cols = [], []
        h = c64[: total - min_n + 1].copy() if total >= min_n else np.empty(0, np.uint64)
        for j in range(1, min_n):
            h = h * _B + c64[j: j + h.size]
        for n in range(min_n, max_n + 1):
            windows = total - n + 1
            if windows <= 0:
                break
            if n > min_n:
                h = h[:windows] * _B + c64[n - 1: n - 1 + windows]
            table = self.char_tables.get(n)
            if table is None:
                continue
            # a window [i, i+n) holds a double space iff a pair starts in [i, i+n-2]
            ok = (double[n - 1: n - 1 + windows] - double[:windows]) == 0
            starts = np.flatnonzero(ok)
            found = table.lookup(h[starts])
            hit = found >= 0
            rows.append(row_of[starts[hit]])
            cols.append(found[hit])
        return self._to_csr(rows, cols, len(per_doc))

    def _generic_counts(self, docs: list[str]):
        features = [self.analyze(d) for d in docs]
        lengths = np.fromiter(map(len, features), dtype=np.int64, count=len(features))
        flat = list(chain.from_iterable(features))
        ids = np.fromiter(map(self.vocab.get, flat, repeat(-1)), dtype=np.int64, count=len(flat))
        row_of = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
        keep = ids >= 0
        return self._to_csr([row_of[keep]], [ids[keep]], len(docs))

    def _to_csr(self, rows, cols, n_docs, n_cols: int | None = None):
        """Counts as a canonical CSR matrix (sorted indices, no duplicates), like
        CountVectorizer's: one sort of row-major keys (SIMD-sorted by numpy) instead of a
        per-row index sort."""
        n_cols = self.n_features if n_cols is None else n_cols
        r = np.concatenate(rows) if rows else np.empty(0, np.int64)
        c = np.concatenate(cols) if cols else np.empty(0, np.int64)
        # int32 keys sort about twice as fast; they fit for any batch the API accepts
        key_type = np.int32 if n_docs * n_cols < 2**31 - 1 else np.int64
        keys = r.astype(key_type)
        keys *= n_cols
        keys += c.astype(key_type, copy=False)
        keys.sort()
        if keys.size:
            first = np.empty(keys.size, dtype=bool)
            first[0] = True
            np.not_equal(keys[1:], keys[:-1], out=first[1:])
            starts = np.flatnonzero(first)
            unique = keys[starts]
            counts = np.empty(starts.size, dtype=np.int64)
            counts[:-1] = starts[1:] - starts[:-1]
            counts[-1] = keys.size - starts[-1]
        else:
            unique = keys
            counts = np.empty(0, np.int64)
        row_of = unique // n_cols
        indices = (unique - row_of * n_cols).astype(np.int32, copy=False)
        indptr = np.zeros(n_docs + 1, dtype=np.int32)
        np.cumsum(np.bincount(row_of, minlength=n_docs), out=indptr[1:])
        data = counts.astype(self.dtype)
        X = sp.csr_matrix((data, indices, indptr), shape=(n_docs, n_cols), copy=False)
        X.has_sorted_indices = True
        X.has_canonical_format = True
        return X

    def _weigh(self, X):
        """TfidfTransformer.transform(X, copy=False) without its per-call validation (which
        inspects signatures: milliseconds per call, measured), same arithmetic."""
        if self.binary:
            X.data.fill(1)
        if self.sublinear_tf:
            np.log(X.data, X.data)
            X.data += 1.0
        if self.idf is not None:
            X.data *= self.idf[X.indices]
        if self.norm == "l2":
            inplace_csr_row_normalize_l2(X)
        elif self.norm == "l1":
            inplace_csr_row_normalize_l1(X)
        elif self.norm is not None:
            raise ValueError(f"unsupported norm {self.norm!r}")
        return X

    def transform(self, docs, located: LocatedChunks | None = None) -> sp.csr_matrix:
        """`located`: the documents already looked up in this vectoriser's chunk cache
        (`self.chunks.locate(docs)`), as the predictor does once for all vectorisers; `docs`
        may then be None."""
        if located is None:
            docs = list(docs)
        if self.char_tables:
            counts = self._char_counts(docs, located)
        elif self.word_tables:
            counts = self._word_counts(docs, located)[0]
        else:
            counts = self._generic_counts(docs)
        return self._weigh(counts)

    def check(self, docs: list[str]) -> bool:
        expected = self.vec.transform(docs)
        got = self.transform(docs)
        return (expected.shape == got.shape and abs(expected - got).max() <= 1e-6
                if expected.nnz or got.nnz else True)
