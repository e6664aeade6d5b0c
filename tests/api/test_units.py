"""Unit tests of the API's parts: the inference-log writer (database down, bound, bad rows,
flush on close), the micro-batcher, and the optimised predictor."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.exc import OperationalError

from api.engine.batching import MicroBatcher
from api.inference_log import InferenceLogWriter
from api.metrics import Metrics
from tests.support.services import wait_for


def row(i: int = 0, pid: str | None = None) -> dict:
    return {"prediction_id": pid or uuid.uuid4().hex, "created_at": datetime.now(UTC),
            "designation": f"item {i}", "description": None, "prdtypecode": 10,
            "confidence": 0.5, "model_version": "1", "latency_ms": 1.0}


class FlakyStore:
    """Fails while `down` is set, like a database restarting."""

    url = "sqlite://"

    def __init__(self):
        self.rows: list[dict] = []
        self.down = threading.Event()
        self.calls = 0

    def append_inference_rows(self, rows):
        self.calls += 1
        if self.down.is_set():
            raise OperationalError("INSERT", {}, Exception("database is restarting"))
        self.rows.extend(rows)
        return len(rows)

    def dispose(self):
        pass


def metric(m: Metrics, name: str, labels: dict | None = None) -> float:
    return m.registry.get_sample_value(name, labels or {}) or 0.0


def test_writer_survives_a_database_outage():
    store, metrics = FlakyStore(), Metrics()
    writer = InferenceLogWriter(lambda: store, metrics, flush_seconds=0.05, buffer_max=1000,
                                retry_attempts=2, retry_max_wait=0.05)
    writer.start()
    store.down.set()
    writer.add([row(i) for i in range(100)])
    wait_for(lambda: store.calls >= 4, 10, 0.05, "write attempts")
    assert writer.pending() == 100 and not store.rows  # kept, not lost
    assert metric(metrics, "rakuten_inference_log_buffer_rows") == 100
    store.down.clear()
    wait_for(lambda: len(store.rows) == 100, 10, 0.05, "rows written after recovery")
    writer.close()
    assert writer.dropped == 0 and metric(metrics, "rakuten_inference_log_written_rows_total") == 100


def test_writer_drops_and_counts_past_the_bound():
    store, metrics = FlakyStore(), Metrics()
    store.down.set()
    writer = InferenceLogWriter(lambda: store, metrics, flush_seconds=0.05, buffer_max=50)
    writer.add([row(i) for i in range(40)])
    writer.add([row(i) for i in range(40, 60)])
    assert writer.pending() == 50 and writer.dropped == 10
    assert metric(metrics, "rakuten_inference_log_dropped_rows_total", {"reason": "buffer_full"}) == 10
    store.down.clear()
    writer.close()
    assert len(store.rows) == 50


def test_writer_keeps_good_rows_when_the_database_rejects_one(tmp_path):
    from rakuten_assets.core.store import ProductStore

    url = f"sqlite:///{tmp_path / 'log.db'}"
    metrics = Metrics()
    writer = InferenceLogWriter(lambda: ProductStore(url), metrics, flush_seconds=60)
    writer.add([row(0, "dup"), row(1), row(2, "dup"), row(3)])  # a duplicate primary key
    writer.close()
    store = ProductStore(url)
    assert store.count_inference_rows() == 3
    assert writer.dropped == 1
    assert metric(metrics, "rakuten_inference_log_dropped_rows_total", {"reason": "rejected"}) == 1


def test_close_flushes_everything_without_waiting_for_the_timer(tmp_path):
    from rakuten_assets.core.store import ProductStore

    url = f"sqlite:///{tmp_path / 'log.db'}"
    writer = InferenceLogWriter(lambda: ProductStore(url), Metrics(), flush_seconds=3600)
    writer.start()
    writer.add([row(i) for i in range(5000)])  # more than one write chunk
    writer.close()
    assert ProductStore(url).count_inference_rows() == 5000


# --- micro-batching ---------------------------------------------------------------------------
def test_micro_batcher_groups_concurrent_requests_and_keeps_order():
    sizes = []

    def run(items):
        time.sleep(0.01)  # a model call
        return [x * 10 for x in items]

    async def main():
        executor = ThreadPoolExecutor(1)
        batcher = MicroBatcher(run, executor, max_items=16, wait_s=0.002, on_batch=sizes.append)
        batcher.start()
        results = await asyncio.gather(*(batcher.submit(i) for i in range(100)))
        await batcher.stop()
        executor.shutdown()
        return results

    results = asyncio.run(main())
    assert results == [i * 10 for i in range(100)]
    assert sum(sizes) == 100 and max(sizes) == 16 and len(sizes) < 20


def test_micro_batcher_hands_errors_to_every_request_and_keeps_going():
    calls = []

    def run(items):
        calls.append(list(items))
        if len(calls) == 1:
            raise ValueError("model exploded")
        return list(items)

    async def main():
        executor = ThreadPoolExecutor(1)
        batcher = MicroBatcher(run, executor, max_items=8, wait_s=0.005)
        batcher.start()
        first = await asyncio.gather(*(batcher.submit(i) for i in range(3)),
                                     return_exceptions=True)
        second = await batcher.submit(7)
        await batcher.stop()
        executor.shutdown()
        return first, second

    first, second = asyncio.run(main())
    assert all(isinstance(r, ValueError) for r in first) and second == 7


# --- the predictor ------------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["project", "project_sgd_sigmoid", "project_without_shapes",
                                        "logistic", "sgd"])
def small_pipeline(request):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from rakuten_assets.core.text import join_fields
    from tests.support.models import small_labelled_frame

    def joined(frame):
        return [join_fields(a, b) for a, b in zip(frame["designation"], frame["description"])]

    frame = small_labelled_frame(800, seed=3)
    if request.param.startswith("project"):  # the served model: build_classifier(), or what
        # registries still hold: the previous default (per-class sigmoids), models made before
        # the word-shapes block (a union of two unweighted parts)
        from rakuten_assets.core.model import CHARS, DEFAULT_CLASSIFIER, WORDS, build_classifier

        kind = "sgd_sigmoid" if request.param == "project_sgd_sigmoid" else DEFAULT_CLASSIFIER
        pipeline = build_classifier(kind)
        if request.param == "project_without_shapes":
            union = pipeline.named_steps["features"]
            union.set_params(transformer_list=[(n, t) for n, t in union.transformer_list if n in (WORDS, CHARS)],
                             transformer_weights=None)
        pipeline.fit(frame[["designation", "description"]], frame["prdtypecode"])
        return frame, pipeline
    pipeline = Pipeline([
        ("text", FunctionTransformer(joined)),
        ("features", FeatureUnion([("word", TfidfVectorizer()),
                                   ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3)))])),
        ("classifier", LogisticRegression(max_iter=100) if request.param == "logistic"
         else SGDClassifier(loss="log_loss", random_state=0)),
    ]).fit(frame[["designation", "description"]], frame["prdtypecode"])
    return frame, pipeline


def test_optimised_predictor_matches_the_pipeline(small_pipeline, request):
    import copy

    from api.engine.predictor import Predictor, to_frame

    frame, pipeline = small_pipeline
    reference = copy.deepcopy(pipeline)
    predictor = Predictor(pipeline)
    parts = predictor.describe()
    # every linear model found (however deeply wrapped) has a C-contiguous coef_.T
    assert parts["path"] != "sklearn" and parts["linear_models"] >= 1, parts
    from api.engine.predictor import _estimators

    for est in _estimators(pipeline):
        if isinstance(getattr(est, "coef_", None), np.ndarray) and est.coef_.ndim == 2:
            assert est.coef_.T.flags.c_contiguous
    kind = request.node.callspec.params["small_pipeline"]
    # words, chars and (the current project model) word shapes, weighted in the union
    n_parts = 3 if kind in ("project", "project_sgd_sigmoid") else 2
    assert parts["fast_vectorizers"] == parts["vectorizers"] == n_parts, parts
    if kind.startswith("project"):
        # the served model runs entirely on the fast path: the softmax model as it is, the
        # sigmoid-calibrated one computed for all classes at once
        assert parts["path"] == "fast" and parts["fallbacks"] == [], parts
        expected_classifier = "FastCalibratedLinear" if kind == "project_sgd_sigmoid" else "SoftmaxOnHoldout"
        assert type(predictor.fast_classifier).__name__ == expected_classifier
    else:
        # a plain text function and an uncalibrated classifier: the fast path for the
        # vectorisers only, and the engine says why the rest is not
        assert parts["path"] == "partial" and not parts["text_step"] and not parts["fast_classifier"]
        assert any("ProductText" in f for f in parts["fallbacks"]), parts
        assert any("predict_proba" in f for f in parts["fallbacks"]), parts
    sample = frame.sample(200, random_state=1)
    designations = sample["designation"].tolist()
    descriptions = [None if pd.isna(d) else d for d in sample["description"]]
    expected = reference.predict_proba(to_frame(designations, descriptions))
    np.testing.assert_allclose(predictor.predict_proba(designations, descriptions), expected,
                               rtol=1e-5, atol=1e-6)  # float32 models: summation order
    results = predictor.predict(designations, descriptions)
    if parts["text_step"]:
        # the shares the fast word vectoriser gives are the ones its tokenizer gives word by word
        from rakuten_assets.core.model import ProductText

        texts = ProductText().transform(to_frame(designations, descriptions))
        assert [r[4] for r in results] == pytest.approx(predictor.known_word_shares(texts))
    for (code, _, confidence, top, _share), probs in zip(results, expected):
        order = np.argsort(-probs)[:6]
        assert confidence == pytest.approx(probs[order[0]], rel=1e-5, abs=1e-6)
        codes = [e["prdtypecode"] for e in top]
        gaps = -np.diff(probs[order])  # gaps[r]: between ranks r and r + 1
        for rank in range(5):  # same ranking, except between near-ties
            if gaps[rank] > 1e-5 and (rank == 0 or gaps[rank - 1] > 1e-5):
                assert codes[rank] == int(reference.classes_[order[rank]])
        if probs[order[0]] - probs[order[1]] > 1e-5:
            assert code == int(reference.classes_[order[0]])


def test_fast_tfidf_counts_equal_sklearn_on_awkward_text():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from api.engine.featurize import FastTfidf

    train = ["le chat noir", "a b c", "x", "Ünïcödé 日本語 🦄 emoji", "tab\tand\nnewline  double",
             "aa aa aa aaaaaa", "<b>html</b> &amp;", "le chien", "bb cc dd ee"] * 3
    docs = ["", " ", "a", "le chat", "🦄🦄 ab", "nouveau mot inconnu", "aa   aa\t\taa",
            "\x00 nul", "x" * 300, "Le CHAT", "a b c d e f g h"]
    for vec in (TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
                TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3)),
                TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32),
                TfidfVectorizer(analyzer="char", ngram_range=(2, 4), binary=True)):
        vec.fit(train)
        fast = FastTfidf(vec)
        expected, got = vec.transform(docs), fast.transform(docs)
        assert expected.shape == got.shape
        assert abs(expected - got).max() < 1e-6, vec
        assert fast.transform(["", " <>"]).nnz == vec.transform(["", " <>"]).nnz


def test_api_package_imports_neither_dagster_nor_gradio():
    import subprocess
    import sys

    code = ("import sys, api.main; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'dagster', 'gradio'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_fast_word_counting_equals_sklearn_for_ngram_ranges():
    """The vectorised word path (token ids, n-gram keys) on 1-3 grams, bigrams only, capped
    vocabularies (n-grams whose words are not unigrams of the vocabulary) and unknown words."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from api.engine.featurize import FastTfidf

    train = ["le chat noir dort", "le chien noir", "lot de 2 chaises", "a b c a b", "x y",
             "Ünïcödé 日本語 mot", "chat chat chat noir"] * 2
    docs = ["", "le chat noir dort", "le le le", "mot inconnu chat noir", "a b c a b c",
            "Le CHAT Noir", "2 chaises lot de 2", "x", "y x y", ""]
    # the batch is tokenised in one call with a break token between documents: a text that
    # holds that token (or one document alone) must count the same
    batches = [docs, docs + [f"chat {FastTfidf._BREAK} noir"], ["le chat"]]
    for kwargs in ({"ngram_range": (1, 3)}, {"ngram_range": (2, 2)}, {"ngram_range": (1, 2), "max_features": 6},
                   {"ngram_range": (1, 2), "token_pattern": r"(?u)\b\w+\b", "min_df": 2, "max_df": 0.5}):
        vec = TfidfVectorizer(sublinear_tf=True, **kwargs).fit(train)
        fast = FastTfidf(vec)
        assert fast.word_tables is not None, kwargs  # the vectorised path, not the generic one
        for batch in batches:
            expected, got = vec.transform(batch), fast.transform(batch)
            assert expected.shape == got.shape
            assert abs(expected - got).max() < 1e-6, kwargs
        expected = vec.transform(docs)
        same, shares = fast.transform_with_shares(docs)
        assert abs(same - expected).max() < 1e-6
        tokenize = vec.build_tokenizer()
        unigrams = {t for t in vec.vocabulary_ if " " not in t}
        for doc, share in zip(docs, shares):
            words = tokenize(doc.lower())
            assert share == pytest.approx(sum(w in unigrams for w in words) / len(words) if words else 0.0)


def _vectorisers_sharing_a_cache(train: list[str]):
    """A word and a char_wb vectoriser fitted on `train` (as the project's pipeline makes them),
    their fast versions, and the one 40-chunk cache the fast versions share."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from api.engine.featurize import ChunkCache, FastTfidf
    from rakuten_assets.core.model import CharWbTfidf

    word = TfidfVectorizer(ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b", sublinear_tf=True,
                           min_df=2, dtype=np.float32).fit(train)
    chars = CharWbTfidf(ngram_range=(2, 5), min_df=2).fit(train)
    fast_word, fast_chars = FastTfidf(word), FastTfidf(chars)
    shared = ChunkCache(max_chunks=40)
    for fast in (fast_word, fast_chars):
        assert fast.chunks is not None and fast.preprocess_is_lowercase
        fast.share(shared)
    return word, chars, fast_word, fast_chars, shared


def test_chunk_cache_keeps_counts_exact_across_batches_evictions_and_threads():
    """Per-chunk caching (issue 14): a word and a char_wb vectoriser sharing one cache give
    scikit-learn's matrices on every batch, whether the chunks are new, cached, or the cache
    was just emptied at its bound; concurrent batches from several threads too."""
    from api.engine.featurize import FastTfidf

    rng = np.random.default_rng(0)
    words = ["le", "chat", "noir", "lot", "de", "2", "l'école", "piscine", "3,66x0,76m", "ünï",
             "日本語", "🦄", "a", "x" * 40, "qqrakutenbreakqq"]

    def text(n_words: int) -> str:
        picked = rng.choice(len(words) + 50, size=n_words)
        return " ".join(words[i] if i < len(words) else f"w{i}{rng.integers(3)}" for i in picked)

    # a bound of 40 chunks: batches of new words empty the cache again and again
    word, chars, fast_word, fast_chars, shared = _vectorisers_sharing_a_cache([text(12) for _ in range(300)])
    batches = [[text(rng.integers(0, 30)) for _ in range(rng.integers(1, 20))] for _ in range(30)]
    batches += [["", "   ", "\t"], batches[0], batches[0]]
    largest = 0
    for batch in batches:
        largest = max(largest, len({c for d in batch for c in d.split()}))
        located = shared.locate(batch)
        got_word, shares = fast_word.transform_with_shares(batch, located)
        got_chars = fast_chars.transform(batch, located)
        assert abs(got_word - word.transform(batch)).max() < 1e-6
        assert abs(got_chars - chars.transform(batch)).max() < 1e-6
        tokenize = word.build_tokenizer()
        for doc, share in zip(batch, shares):
            tokens = tokenize(doc)
            known = sum(t in word.vocabulary_ for t in tokens)
            assert share == pytest.approx(known / len(tokens) if tokens else 0.0)
        # bounded: by the limit, or by one batch larger than it (kept until the next new chunk)
        assert shared.n <= max(40, largest)
    stats = shared.stats()
    assert stats["clears"] > 0 and 0 < stats["hit_rate"] < 1, stats
    # the same batch again is answered from the cache alone
    before = shared.stats()["lookups"], shared.misses
    shared.locate(batches[-1])
    assert shared.misses == before[1] and shared.stats()["lookups"] > before[0]

    own = FastTfidf(chars)  # a cache of its own, used by threads at once
    expected = [chars.transform(b) for b in batches]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(own.transform, batches * 3))
    for got, want in zip(results, expected * 3):
        assert abs(got - want).max() < 1e-6


def test_chunk_cache_from_raw_chunks_gives_the_cleaned_texts_features():
    """`locate_raw` (issue 14): raw chunks (markup removed, accents and case not folded yet) mapped
    to the rows of their folded words give exactly scikit-learn's matrices on the cleaned texts,
    including raw chunks that fold into no word or several (U+00A8 and U+00B4 decompose into a
    space and an accent), case and accent variants of one word, and a bound that empties the
    cache again and again."""
    from rakuten_assets.core.text import fold_words, join_fields, markup_free_texts

    rng = np.random.default_rng(1)
    words = ["Le", "CHAT", "chat", "Élégant", "ÉLÉGANT", "élégant", "&amp;eacute;t&eacute;", "<b>gras</b>",
             "a\u00a8b", "\u00a8", "\u00b4", "\u0301", "ΣΑΣ", "ΣΑΣ.", "ﬁn", "Ⅻ", "ＡＢＣ", "l'école", "3,66x0,76M",
             "x" * 40, "qqrakutenbreakqq", "<p>", "&nbsp;"]

    def field(n_words: int):
        if n_words == 0:
            return None
        picked = rng.choice(len(words) + 40, size=n_words)
        return " ".join(words[i] if i < len(words) else f"W{i}é{rng.integers(3)}" for i in picked)

    def batch(n: int):
        return [field(rng.integers(1, 15)) for _ in range(n)], [field(rng.integers(0, 15)) for _ in range(n)]

    train = [join_fields(t, d) for t, d in zip(*batch(300))]
    word, chars, fast_word, fast_chars, shared = _vectorisers_sharing_a_cache(train)
    batches = [batch(rng.integers(1, 20)) for _ in range(30)]
    batches += [([None, "  ", "\u00a8"], ["\t", None, "\u00b4 \u0301"]), batches[0], batches[0]]
    largest = 0
    for titles, bodies in batches:
        cleaned = [join_fields(t, d) for t, d in zip(titles, bodies)]
        texts = markup_free_texts(titles, bodies)
        largest = max(largest, len({c for t in texts for c in t.split()}))
        located = shared.locate_raw(texts, fold_words)
        got_word, shares = fast_word.transform_with_shares(None, located)
        assert got_word.shape[0] == len(cleaned)
        assert abs(got_word - word.transform(cleaned)).max() < 1e-6
        assert abs(fast_chars.transform(None, located) - chars.transform(cleaned)).max() < 1e-6
        tokenize = word.build_tokenizer()
        for doc, share in zip(cleaned, shares):
            tokens = tokenize(doc)
            assert share == pytest.approx(sum(t in word.vocabulary_ for t in tokens) / len(tokens) if tokens else 0.0)
        # bounded: by the limit, or by one batch larger than it (kept until the next new chunk)
        assert len(shared.raw_index) <= max(shared.max_chunks, largest)
    stats = shared.stats()
    assert stats["clears"] > 0 and 0 < stats["hit_rate"] < 1, stats
    # a batch seen before is answered from the raw chunks alone: nothing computed, and only the
    # raw chunks that do not fold into exactly one word are folded again
    texts = markup_free_texts(*batches[-1])
    refolded = sum(len(fold_words(c)) != 1 for t in texts for c in t.split())
    assert refolded  # the batch holds some (U+00A8, U+00B4)
    before = shared.misses, shared.n
    shared.locate_raw(texts, fold_words)
    assert (shared.misses, shared.n) == (before[0] + refolded, before[1])

    # threads at once on one small cache (emptied again and again meanwhile): still exact
    from concurrent.futures import ThreadPoolExecutor

    _, _, fast_word, fast_chars, shared = _vectorisers_sharing_a_cache(train)

    def features(batch):
        located = shared.locate_raw(markup_free_texts(*batch), fold_words)
        return fast_word.transform(None, located), fast_chars.transform(None, located)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(features, batches * 3))
    for (got_word, got_chars), batch in zip(results, batches * 3):
        cleaned = [join_fields(t, d) for t, d in zip(*batch)]
        assert abs(got_word - word.transform(cleaned)).max() < 1e-6
        assert abs(got_chars - chars.transform(cleaned)).max() < 1e-6
    assert shared.stats()["clears"] > 0


def test_served_pipeline_shares_one_chunk_cache_only_behind_the_project_text_step(small_pipeline, request):
    """Behind ProductText (lower-cased, cleaned texts) the word and char vectorisers share one
    chunk cache; behind any other text step each keeps its own (their preprocessing may
    differ on such texts)."""
    from api.engine.predictor import Predictor

    frame, pipeline = small_pipeline
    predictor = Predictor(pipeline)
    rows = frame.head(50)
    predictor.predict(rows["designation"].tolist(), [None if pd.isna(d) else d for d in rows["description"]])
    parts = predictor.describe()
    caches = parts["chunk_caches"]
    if request.node.callspec.params["small_pipeline"].startswith("project"):
        # words from cleaning go straight to the one cache
        assert parts["shared_chunk_cache"] is True and len(caches) == 1, parts
    else:
        assert parts["shared_chunk_cache"] is False and len(caches) == 2, parts
    assert all(c["lookups"] > 0 and c["chunks"] > 0 for c in caches), caches


def test_prediction_ids_are_distinct_time_ordered_version_7_uuids():
    from api.engine.service import prediction_ids

    before = time.time_ns() // 1_000_000
    ids = prediction_ids(2_000)
    later = prediction_ids(3)
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == 2_000 and prediction_ids(0) == []
    for pid in ids + later:
        parsed = uuid.UUID(hex=pid)
        assert parsed.hex == pid and parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert before <= int(pid[:12], 16) <= after  # the millisecond it was made
    assert max(ids)[:12] <= min(later)[:12]  # a later batch never sorts before an earlier one


def test_batch_parts_are_bounded_by_text_not_items():
    from api.engine.service import text_parts

    assert text_parts([], 100) == []
    items = [("a" * 30, None), ("b" * 30, "c" * 40), ("d" * 10, ""), ("e" * 500, None), ("f", None)]
    # 30 + 70 = 100 | 10 | 500 alone (longer than the bound) | 1
    assert text_parts(items, 100) == [(0, 2), (2, 3), (3, 4), (4, 5)]
    assert text_parts(items, 10_000) == [(0, 5)]
    typical = [("t" * 80, "d" * 420)] * 256  # a typical batch: one turn of the model thread
    assert text_parts(typical, 262_144) == [(0, 256)]


def test_observe_many_equals_one_observe_per_amount():
    """The batch route observes its items' text lengths and known-word shares in bulk (issue 14):
    the exposition must be what one `observe` per amount gives, bounds and the +Inf bucket too."""
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    from api.metrics import SHARE_BUCKETS, TEXT_LEN_BUCKETS, observe_many

    rng = np.random.default_rng(3)
    for buckets, amounts in ((TEXT_LEN_BUCKETS, [0, 10, 11, 50_000, 50_001, 7, 7, 7] + rng.integers(0, 60_000, 300).tolist()),
                             (SHARE_BUCKETS, [0.0, 1.0, 0.5, 0.95, 0.951] + rng.random(300).tolist()),
                             (SHARE_BUCKETS, [])):
        one, bulk = CollectorRegistry(), CollectorRegistry()
        by_one = Histogram("h", "h", buckets=buckets, registry=one)
        by_bulk = Histogram("h", "h", buckets=buckets, registry=bulk)
        for amount in amounts:
            by_one.observe(amount)
        observe_many(by_bulk, amounts[:3])  # few: one observe each
        observe_many(by_bulk, amounts[3:100])
        observe_many(by_bulk, amounts[100:])
        lines = {}
        for name, registry in (("one", one), ("bulk", bulk)):
            # _created is the histogram's creation time; the sum may differ in its last bits (the
            # amounts are added in another order)
            text = generate_latest(registry).decode().splitlines()
            lines[name] = [line for line in text if "_created" not in line and not line.startswith("h_sum")]
            lines[name + "_sum"] = float(next(line for line in text if line.startswith("h_sum")).split()[-1])
        assert lines["bulk"] == lines["one"]
        assert lines["bulk_sum"] == pytest.approx(lines["one_sum"], rel=1e-12)
        assert any(line.startswith('h_bucket{le="+Inf"}') for line in lines["one"])


def test_raw_chunks_split_and_hash_like_python_strings():
    """`RawChunks` finds chunks in numpy (issue 14): they must be `str.split()`'s, every
    whitespace character of Unicode included, and a chunk's hashes must depend on its text
    alone, wherever it stands."""
    from api.engine.featurize import _WHITESPACE, RawChunks

    whitespace = [c for c in range(0x110000) if chr(c).isspace()]
    assert max(whitespace) < _WHITESPACE.size and np.flatnonzero(_WHITESPACE).tolist() == whitespace
    rng = np.random.default_rng(5)
    alphabet = ["a", "b", "é", "\x00", "\ud800", "🦄", "Σ"] + [chr(c) for c in whitespace]
    texts = ["".join(rng.choice(alphabet, size=rng.integers(0, 30))) for _ in range(300)] + ["", " ", "x"]
    raw = RawChunks(texts)
    chunks = [raw.chunk(i) for i in range(raw.start.size)]
    assert chunks == [c for t in texts for c in t.split()]
    assert raw.per_doc().tolist() == [len(t.split()) for t in texts]
    by_text: dict[str, set] = {}
    for chunk, h1, h2 in zip(chunks, raw.h1.tolist(), raw.h2.tolist()):
        by_text.setdefault(chunk, set()).add((h1, h2))
    assert all(len(hashes) == 1 for hashes in by_text.values())  # same text, same hashes
    assert len({h for hashes in by_text.values() for h in hashes}) == len(by_text)  # else different
    pair = RawChunks(["a", "a\x00"])  # a code point 0 counts
    assert pair.h1[0] != pair.h1[1] and pair.h2[0] != pair.h2[1]


def test_raw_index_keeps_one_chunk_per_first_hash():
    """Two raw chunks alike in their first 64-bit hash (made up here; never met in practice):
    the index keeps the first, answers -1 for the other (which is then folded each time, the
    slow but right path), and never confuses them: the second hash must match too."""
    from api.engine.featurize import _RawIndex

    def u(*values):
        return np.array(values, dtype=np.uint64)

    index = _RawIndex()
    index.add(u(5, 3, 9), u(50, 30, 90), np.array([0, 1, 2]))
    index.add(u(4, 5, 4, 7), u(40, 51, 41, 70), np.array([3, 4, 5, 6]))  # 5 taken; 4 twice
    assert len(index) == 5
    assert index.lookup(u(5, 5, 3, 9, 4, 4, 7, 8), u(50, 51, 30, 90, 40, 41, 70, 80)).tolist() == \
        [0, -1, 1, 2, 3, -1, 6, -1]
    assert _RawIndex().lookup(u(1), u(1)).tolist() == [-1]


def test_raw_index_finds_every_chunk_in_its_table_and_among_the_recent_ones():
    """Chunks added in batches of every size land in the hash table (rebuilt as the index
    grows) or in the sorted array of those added since: every one is found with its row, any
    other pair of hashes is not, whichever part holds it."""
    from api.engine.featurize import _RawIndex

    rng = np.random.default_rng(7)
    index, h1s, h2s, rows = _RawIndex(), [], [], []
    for size in (1, 5, 700, 1500, 3, 2500, 40, 9000, 1):
        h1 = rng.integers(0, 2**64, size, dtype=np.uint64)
        h2 = rng.integers(0, 2**64, size, dtype=np.uint64)
        row = np.arange(len(rows), len(rows) + size)
        index.add(h1, h2, row)
        h1s += h1.tolist(); h2s += h2.tolist(); rows += row.tolist()
        held = np.array(h1s, dtype=np.uint64), np.array(h2s, dtype=np.uint64)
        assert index.lookup(*held).tolist() == rows
        assert 0 < index.tabled or len(index) <= _RawIndex._REBUILD_MIN  # the table is used
        others = rng.integers(0, 2**64, 500, dtype=np.uint64)
        assert (index.lookup(others, others) == -1).all()
        assert (index.lookup(held[0], held[1] + np.uint64(1)) == -1).all()  # second hash differs
