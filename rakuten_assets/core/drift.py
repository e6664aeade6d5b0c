"""Drift report: the champion's training data against the recent inference-log window.

No Dagster and no Gradio here: the `drift_report` asset, the sensors and the metrics exporter call
`build_drift_report` and read `DriftResult.summary()`.

Signals, one column each in the Evidently 0.7 report (`DataDriftPreset` with per-column methods):

- `text_words`: length in tokens of the text the model reads (cleaned title and description);
- `oov_share`: share of a row's tokens missing from the champion's vectoriser vocabulary
  (normed Wasserstein distance);
- `language`: a stopword-based fr/de/en/other guess per row (Jensen-Shannon distance);
- `text`: Evidently's domain-classifier text drift on the model's input text (ROC AUC of a
  classifier telling reference from current apart; 0.5 means indistinguishable);
- `prdtypecode`: predicted codes of the window against the training labels (Jensen-Shannon).

Designed not to cry wolf:

- both sides go through the model's own preprocessing (`rakuten_assets.core.text.join_fields`,
  `clean_text`) on the same two fields, whatever form the rows were logged in;
- vocabulary-dependent signals are never measured on rows the vocabulary was fitted on (they would
  have no out-of-vocabulary words by construction): a `split` column in the reference selects its
  held-out `test` rows, and without a given vocabulary one is fitted on reference rows that are
  left out of the comparison;
- a minimum window size below which the status is `insufficient_data` and no drift is reported;
- drift needs at least `min_drifted_signals` drifted signals *and* a drifted share of at least
  `drift_share_threshold`, so one noisy column never fires on its own.

Evidently's own `OOVWordsPercentage` descriptor is not used: it downloads NLTK corpora at run
time and measures against an English dictionary, not against the model's vocabulary.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rakuten_assets.core.text import clean_text, join_fields

# The tokeniser of scikit-learn's vectorisers (their default `token_pattern`).
TOKEN = re.compile(r"(?u)\b\w\w+\b")
_WORD = re.compile(r"[a-z]+")

Vocabulary = Collection[str] | Callable[[str], bool]

# --- the signals ---------------------------------------------------------------------------------
TEXT_WORDS = "text_words"
OOV_SHARE = "oov_share"
LANGUAGE = "language"
TEXT = "text"
PREDICTED_CLASS = "prdtypecode"

NUMERICAL_SIGNALS = (TEXT_WORDS, OOV_SHARE)
ALL_SIGNALS = (TEXT_WORDS, OOV_SHARE, LANGUAGE, TEXT, PREDICTED_CLASS)
# Reported, not decided on: how the text is spread over the two fields. The model reads their
# concatenation, so a store that merged descriptions into titles and a log that keeps them
# apart differ here without the model seeing any difference.
TITLE_WORDS = "title_words"
DESCRIPTION_WORDS = "description_words"

STATUS_OK = "ok"
STATUS_DRIFT = "drift"
STATUS_INSUFFICIENT = "insufficient_data"


@dataclass(frozen=True)
class DriftSettings:
    """Every knob of the drift report; the defaults are the ones `benchmarks/drift.py` measures."""

    window_rows: int | None = 500          # newest inference-log rows compared (None: no cap)
    window_hours: float | None = None      # only rows logged in the last T hours (None: no limit)
    min_rows: int = 200                    # fewer current (or reference) rows: insufficient_data
    reference_sample_size: int = 5000      # reference rows compared, sampled with `seed`
    seed: int = 42
    drift_share_threshold: float = 0.4     # share of the (5) signals drifted needed ...
    min_drifted_signals: int = 2           # ... and at least this many, for drift_detected
    # Per-signal method and threshold. The `*_above_noise` methods (registered with Evidently
    # below) score a distance minus the 95th percentile of that distance between random
    # re-splits of the pooled rows, so a threshold means the same at 200 rows as at 5,000.
    length_method: str = "wasserstein_above_noise"
    length_threshold: float = 0.05
    oov_method: str = "wasserstein_above_noise"
    oov_threshold: float = 0.05
    language_method: str = "jensenshannon_above_noise"
    language_threshold: float = 0.03
    text_method: str = "domain_classifier_auc"
    text_threshold: float = 0.6             # domain-classifier ROC AUC
    class_method: str = "jensenshannon_above_noise"
    class_threshold: float = 0.05

    def __post_init__(self) -> None:
        if self.min_rows < 1:
            raise ValueError("min_rows must be at least 1")
        if not 0 < self.drift_share_threshold <= 1:
            raise ValueError("drift_share_threshold must be in (0, 1]")
        if self.min_drifted_signals < 1:
            raise ValueError("min_drifted_signals must be at least 1")
        if self.reference_sample_size < self.min_rows:
            raise ValueError("reference_sample_size must be at least min_rows")

    def method_and_threshold(self, signal: str) -> tuple[str, float]:
        return {
            TEXT_WORDS: (self.length_method, self.length_threshold),
            OOV_SHARE: (self.oov_method, self.oov_threshold),
            LANGUAGE: (self.language_method, self.language_threshold),
            TEXT: (self.text_method, self.text_threshold),
            PREDICTED_CLASS: (self.class_method, self.class_threshold),
        }[signal]


# --- distances above their sampling noise ---------------------------------------------------------
NOISE_PERMUTATIONS = 200
NOISE_QUANTILE = 0.95
_NOISE_SEED = 20240917


def _js_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    from scipy.spatial import distance

    return float(distance.jensenshannon(ref_counts / max(ref_counts.sum(), 1),
                                        cur_counts / max(cur_counts.sum(), 1)))


def _wasserstein_from_counts(values: np.ndarray, ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Normed Wasserstein distance (as Evidently's `wasserstein`: W1 / std of the reference)
    between two samples given as counts over the sorted distinct `values`."""
    n_ref, n_cur = ref_counts.sum(), cur_counts.sum()
    cdf_gap = np.abs(np.cumsum(ref_counts) / n_ref - np.cumsum(cur_counts) / n_cur)[:-1]
    w1 = float(np.sum(cdf_gap * np.diff(values)))
    mean = float(np.dot(ref_counts, values) / n_ref)
    std = float(np.sqrt(max(np.dot(ref_counts, (values - mean) ** 2) / n_ref, 0.0)))
    return w1 / max(std, 0.001)


def distance_above_noise(statistic: Callable[[np.ndarray, np.ndarray], float], codes: np.ndarray,
                         n_reference: int, n_values: int, permutations: int = NOISE_PERMUTATIONS,
                         quantile: float = NOISE_QUANTILE, seed: int = _NOISE_SEED) -> float:
    """`statistic(reference_counts, current_counts)` of the observed split of `codes` (reference
    first, then current; each an index into `n_values` distinct values) minus its `quantile`
    over random re-splits of the pooled rows into groups of the same sizes. Above 0 the distance
    is larger than sampling alone gives (at about 1 - quantile significance), and how far above
    is the effect size; so one threshold means the same at 200 rows as at 5,000."""
    total = np.bincount(codes, minlength=n_values)
    ref_counts = np.bincount(codes[:n_reference], minlength=n_values)
    observed = statistic(ref_counts, total - ref_counts)
    rng = np.random.default_rng(seed)
    null = np.empty(permutations)
    for i in range(permutations):
        sample = rng.permutation(len(codes))[:n_reference]
        ref_counts = np.bincount(codes[sample], minlength=n_values)
        null[i] = statistic(ref_counts, total - ref_counts)
    return float(observed - np.quantile(null, quantile))


# Evidently computes each column's drift up to three times for one report (the count metric,
# the per-column metric and the preset's rendering): the tests below memoise their last results.
_MEMO: dict[tuple, tuple[float, bool]] = {}


def _memoised(name: str, reference_data: pd.Series, current_data: pd.Series, threshold: float,
              compute: Callable[[], tuple[float, bool]]) -> tuple[float, bool]:
    key = (name, threshold, len(reference_data), len(current_data),
           int(pd.util.hash_pandas_object(reference_data, index=False).sum()),
           int(pd.util.hash_pandas_object(current_data, index=False).sum()))
    found = _MEMO.get(key)
    if found is None:
        score, drifted = compute()
        found = (float(score), bool(drifted))
        if len(_MEMO) > 64:
            _MEMO.clear()
        _MEMO[key] = found
    return found


def _js_above_noise(reference_data: pd.Series, current_data: pd.Series, feature_type: Any,
                    threshold: float) -> tuple[float, bool]:
    def compute() -> tuple[float, bool]:
        ref, cur = reference_data.dropna().astype(str), current_data.dropna().astype(str)
        codes, uniques = pd.factorize(pd.concat([ref, cur], ignore_index=True), sort=True)
        score = distance_above_noise(_js_from_counts, codes, len(ref), len(uniques))
        return score, score >= threshold

    return _memoised("js", reference_data, current_data, threshold, compute)


def _wasserstein_above_noise(reference_data: pd.Series, current_data: pd.Series, feature_type: Any,
                             threshold: float) -> tuple[float, bool]:
    def compute() -> tuple[float, bool]:
        ref = pd.to_numeric(reference_data, errors="coerce").dropna().to_numpy(dtype=float)
        cur = pd.to_numeric(current_data, errors="coerce").dropna().to_numpy(dtype=float)
        values, codes = np.unique(np.concatenate([ref, cur]), return_inverse=True)
        if len(values) < 2:
            return 0.0, False
        score = distance_above_noise(lambda r, c: _wasserstein_from_counts(values, r, c),
                                     codes, len(ref), len(values))
        return score, score >= threshold

    return _memoised("wasserstein", reference_data, current_data, threshold, compute)


def _domain_classifier(reference_data: pd.Series, current_data: pd.Series, feature_type: Any,
                       threshold: float) -> tuple[float, bool]:
    """Evidently's own text-content drift (ROC AUC of a TF-IDF classifier telling the two
    samples apart; `abs_text_content_drift`), memoised."""
    from evidently.legacy.utils.data_drift_utils import calculate_text_drift_score

    return _memoised("domain", reference_data, current_data, threshold, lambda: calculate_text_drift_score(
        reference_data, current_data, bootstrap=False, threshold=threshold))


_REGISTERED = False


def _register_stattests() -> None:
    """Make the noise-adjusted distances and the memoised domain classifier usable by name in
    Evidently drift metrics."""
    global _REGISTERED
    if _REGISTERED:
        return
    from evidently.legacy.calculations.stattests.registry import (
        StatTest,
        register_stattest,
    )
    from evidently.legacy.core import ColumnType

    register_stattest(StatTest(
        name="jensenshannon_above_noise",
        display_name="Jensen-Shannon distance above its sampling noise",
        allowed_feature_types=[ColumnType.Categorical], default_threshold=0.03), _js_above_noise)
    register_stattest(StatTest(
        name="wasserstein_above_noise",
        display_name="Wasserstein distance (normed) above its sampling noise",
        allowed_feature_types=[ColumnType.Numerical], default_threshold=0.05), _wasserstein_above_noise)
    register_stattest(StatTest(
        name="domain_classifier_auc",
        display_name="Text content drift (domain classifier ROC AUC)",
        allowed_feature_types=[ColumnType.Text], default_threshold=0.6), _domain_classifier)
    _REGISTERED = True


# --- language mix --------------------------------------------------------------------------------
# Accent-folded, lower-case (as `clean_text` leaves text); words common to two of the languages,
# or frequent in product titles of another (French "on", English "plus", "die-cast"), are left out.
_STOPWORDS = {
    "fr": frozenset((
        "ainsi", "au", "aussi", "aux", "avec", "ce", "ces", "cet", "cette", "chez", "comme",
        "dans", "des", "dont", "du", "elle", "entre", "est", "et", "etre", "il", "ils", "la",
        "le", "les", "leur", "lors", "mais", "ne", "nos", "notre", "nous", "ou", "par", "pas",
        "peut", "pour", "que", "qui", "sa", "sans", "se", "ses", "son", "sont", "sur", "tous",
        "tout", "toutes", "tres", "une", "vos", "votre", "vous"
    )),
    "de": frozenset((
        "auch", "auf", "aus", "bei", "das", "dem", "den", "der", "diese", "dieser", "dieses",
        "ein", "eine", "einem", "einen", "einer", "fuer", "fur", "ihr", "ihre", "im", "ist",
        "kann", "mit", "nach", "nicht", "noch", "nur", "oder", "sehr", "sich", "sie", "sind",
        "uber", "und", "von", "werden", "wie", "wir", "wird", "zu", "zum", "zur"
    )),
    "en": frozenset((
        "also", "and", "any", "are", "at", "be", "by", "can", "each", "for", "from", "has",
        "have", "into", "is", "it", "its", "not", "of", "or", "our", "than", "that", "the",
        "their", "these", "they", "this", "those", "to", "was", "were", "when", "which", "will",
        "with", "you", "your"
    )),
}
LANGUAGES = ("fr", "de", "en", "other")


def detect_language(text: object, *, cleaned: bool = False) -> str:
    """`fr`, `de` or `en` when that language's stopwords clearly dominate the text (cleaned
    here unless `cleaned`), otherwise `other` (no stopword at all, as in many short titles, or
    no clear winner)."""
    words = _WORD.findall(str(text) if cleaned else clean_text(text))
    if not words:
        return "other"
    hits = {lang: sum(w in stop for w in words) for lang, stop in _STOPWORDS.items()}
    best = max(hits, key=hits.get)
    ordered = sorted(hits.values(), reverse=True)
    if ordered[0] == 0 or ordered[0] == ordered[1]:
        return "other"
    return best


# --- out-of-vocabulary share ----------------------------------------------------------------------
def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def build_vocabulary(texts: Iterable[str]) -> set[str]:
    """Unigram vocabulary of already-cleaned texts, tokenised as the vectoriser does."""
    vocab: set[str] = set()
    for text in texts:
        vocab.update(tokens(text))
    return vocab


def vocabulary_from_model(model: Any) -> set[str]:
    """The word unigrams of every fitted word-level vectoriser inside a fitted sklearn estimator
    (Pipeline, FeatureUnion, ColumnTransformer, nested). Character n-gram vectorisers are
    skipped. Raises ValueError when none is found."""
    vocab: set[str] = set()
    seen: set[int] = set()

    def walk(obj: Any) -> None:
        if obj is None or id(obj) in seen or isinstance(obj, (str, bytes, int, float)):
            return
        seen.add(id(obj))
        fitted = getattr(obj, "vocabulary_", None)
        if isinstance(fitted, dict) and getattr(obj, "analyzer", "word") == "word":
            vocab.update(term for term in fitted if " " not in term)
        for attr in ("steps", "transformer_list", "transformers_", "transformers"):
            for item in getattr(obj, attr, None) or []:
                if isinstance(item, tuple):
                    for part in item[1:]:
                        walk(part)
                else:
                    walk(item)
        for attr in ("estimator", "base_estimator", "vectorizer"):
            walk(getattr(obj, attr, None))

    walk(model)
    if not vocab:
        raise ValueError(f"no fitted word-level vectoriser vocabulary found in {type(model).__name__}")
    return vocab


def oov_share(text: str, vocabulary: Vocabulary) -> float:
    """Share of the (cleaned) text's tokens that are not in the vocabulary; 0.0 for no token."""
    toks = tokens(text)
    if not toks:
        return 0.0
    known = vocabulary if callable(vocabulary) else vocabulary.__contains__
    return sum(not known(t) for t in toks) / len(toks)


# --- features: the same preprocessing on both sides --------------------------------------------
def _text_column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def text_features(frame: pd.DataFrame, vocabulary: Vocabulary) -> pd.DataFrame:
    """One row per input row: the model's input text and the descriptor columns.

    `frame` needs `designation` and may have `description` (raw HTML or not: it is cleaned here
    exactly as the model cleans it)."""
    titles = frame["designation"].map(clean_text)
    bodies = _text_column(frame, "description").map(clean_text)
    texts = [f"{t} {b}".strip() if b else t for t, b in zip(titles, bodies)]
    return pd.DataFrame({
        TEXT_WORDS: [float(len(tokens(t))) for t in texts],
        TITLE_WORDS: [float(len(tokens(t))) for t in titles],
        DESCRIPTION_WORDS: [float(len(tokens(b))) for b in bodies],
        OOV_SHARE: [oov_share(t, vocabulary) for t in texts],
        LANGUAGE: [detect_language(t, cleaned=True) for t in texts],
        TEXT: texts,
    }, index=frame.index)


# --- the result ----------------------------------------------------------------------------------
@dataclass
class SignalResult:
    name: str
    method: str
    threshold: float
    score: float | None
    drifted: bool


@dataclass
class DriftResult:
    rows_reference: int
    rows_current: int
    status: str
    drift_detected: bool
    drifted_share: float
    drifted_count: int
    signals: dict[str, SignalResult]
    settings: DriftSettings
    profile_reference: dict[str, Any] = field(default_factory=dict)  # see `profile()`
    profile_current: dict[str, Any] = field(default_factory=dict)
    mean_confidence_current: float | None = None
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    snapshot: Any = field(default=None, repr=False)  # evidently Snapshot, None without a report

    def summary(self) -> dict:
        """Flat, JSON-ready: for Dagster metadata, Prometheus gauges and the JSON file."""
        return {
            "status": self.status,
            "drift_detected": self.drift_detected,
            "drifted_share": round(self.drifted_share, 4),
            "drifted_count": self.drifted_count,
            "signals_total": len(self.signals),
            "rows_reference": self.rows_reference,
            "rows_current": self.rows_current,
            "scores": {n: (None if s.score is None else round(float(s.score), 4))
                       for n, s in self.signals.items()},
            "drifted": {n: s.drifted for n, s in self.signals.items()},
            "thresholds": {n: s.threshold for n, s in self.signals.items()},
            "methods": {n: s.method for n, s in self.signals.items()},
            "profile_reference": self.profile_reference,
            "profile_current": self.profile_current,
            "mean_confidence_current": self.mean_confidence_current,
            "notes": list(self.notes),
            "duration_s": round(self.duration_s, 3),
            "created_at": self.created_at,
            "settings": asdict(self.settings),
        }

    def describe(self) -> str:
        """One line for logs and asset descriptions."""
        if self.status == STATUS_INSUFFICIENT:
            return (f"insufficient data: {self.rows_current} current rows against "
                    f"{self.rows_reference} reference rows (minimum {self.settings.min_rows})")
        drifted = [n for n, s in self.signals.items() if s.drifted]
        return (f"drift {'DETECTED' if self.drift_detected else 'not detected'}: "
                f"{self.drifted_count}/{len(self.signals)} signals drifted "
                f"({', '.join(drifted) or 'none'}); {self.rows_current} current vs "
                f"{self.rows_reference} reference rows")

    def save(self, folder: str | Path, stem: str | None = None) -> tuple[Path, Path]:
        """Writes `<stem>.html` (the Evidently report) and `<stem>.json` (the summary, with the
        Evidently metrics under `evidently`). Returns (html_path, json_path)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        stem = stem or "drift_report_" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        html_path, json_path = folder / f"{stem}.html", folder / f"{stem}.json"
        payload = self.summary()
        if self.snapshot is not None:
            self.snapshot.save_html(str(html_path))
            payload["evidently"] = json.loads(self.snapshot.json())
        else:
            html_path.write_text(_plain_html(self), encoding="utf-8")
        json_path.write_text(json.dumps(payload, indent=2, default=_json_default), encoding="utf-8")
        return html_path, json_path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return str(obj)


def _plain_html(result: DriftResult) -> str:
    import html as _html

    return ("<!doctype html><html><head><meta charset='utf-8'><title>Drift report</title></head>"
            f"<body><h1>Drift report: {_html.escape(result.status)}</h1>"
            f"<p>{_html.escape(result.describe())}</p>"
            f"<pre>{_html.escape(json.dumps(result.summary(), indent=2, default=_json_default))}</pre>"
            "</body></html>")


# --- windows and samples -----------------------------------------------------------------------
def select_window(log: pd.DataFrame, settings: DriftSettings, now: datetime | None = None) -> pd.DataFrame:
    """The rows of an inference-log frame that a report compares: logged within the last
    `window_hours` (if set), then the newest `window_rows` (if set); oldest first."""
    frame = log
    if "created_at" in frame.columns:
        created = pd.to_datetime(frame["created_at"], utc=True)
        order = np.argsort(created.to_numpy(), kind="stable")
        frame, created = frame.iloc[order], created.iloc[order]
        if settings.window_hours is not None:
            now = now or datetime.now(UTC)
            cutoff = pd.Timestamp(now).tz_convert("UTC") if pd.Timestamp(now).tzinfo else \
                pd.Timestamp(now).tz_localize("UTC")
            frame = frame[(created >= cutoff - timedelta(hours=settings.window_hours)).to_numpy()]
    if settings.window_rows is not None:
        frame = frame.tail(settings.window_rows)
    return frame.reset_index(drop=True)


def read_window(store: Any, settings: DriftSettings, now: datetime | None = None) -> pd.DataFrame:
    """The current window straight from a `ProductStore`'s inference log."""
    since = None
    if settings.window_hours is not None:
        since = (now or datetime.now(UTC)) - timedelta(hours=settings.window_hours)
    return store.read_inference_log(last_rows=settings.window_rows, since=since)


def sample_reference(frame: pd.DataFrame, size: int, seed: int, label: str | None = None) -> pd.DataFrame:
    """At most `size` rows, drawn with a fixed seed; proportionally stratified by `label` when
    given (every class keeps its share, small classes at least one row)."""
    if len(frame) <= size:
        return frame
    if label is None or label not in frame.columns:
        return frame.sample(n=size, random_state=seed)
    share = size / len(frame)
    parts = [group.sample(n=max(1, round(len(group) * share)), random_state=seed)
             for _, group in frame.groupby(label, sort=True)]
    out = pd.concat(parts)
    if len(out) > size:
        out = out.sample(n=size, random_state=seed)
    return out


def profile(features: pd.DataFrame) -> dict[str, Any]:
    """Plain descriptive numbers of one side, for the summary (not used to decide)."""
    counts = features[LANGUAGE].value_counts(normalize=True)
    return {
        "language_mix": {lang: round(float(counts.get(lang, 0.0)), 4) for lang in LANGUAGES},
        "mean_oov_share": round(float(features[OOV_SHARE].mean()), 4),
        "mean_text_words": round(float(features[TEXT_WORDS].mean()), 2),
        "mean_title_words": round(float(features[TITLE_WORDS].mean()), 2),
        "mean_description_words": round(float(features[DESCRIPTION_WORDS].mean()), 2),
        "description_share": round(float((features[DESCRIPTION_WORDS] > 0).mean()), 4),
    }


def _codes(values: pd.Series | Iterable) -> pd.Series:
    """Class codes as strings ('10', '2583'), so Evidently treats them as categories."""
    s = pd.Series(list(values)) if not isinstance(values, pd.Series) else values.reset_index(drop=True)
    num = pd.to_numeric(s, errors="coerce")
    return pd.Series(np.where(num.notna(), num.fillna(-1).astype("int64").astype(str), s.astype(str)))


# --- the report --------------------------------------------------------------------------------
def build_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    vocabulary: Vocabulary | None = None,
    reference_labels: pd.Series | None = None,
    current_predictions: pd.Series | None = None,
    settings: DriftSettings | None = None,
) -> DriftResult:
    """Compare `current` (inference-log rows: designation, description, prdtypecode = predicted
    code, confidence, created_at) with `reference` (the champion's training rows: designation,
    description, prdtypecode; optionally `split`).

    `current` is used as given: choose its window with `select_window` / `read_window`.
    `vocabulary`: the champion's vectoriser vocabulary (a set of words, a mapping such as
    `vectorizer.vocabulary_`, or a predicate word -> bool; `vocabulary_from_model` extracts it
    from a fitted pipeline). None: one is fitted on reference rows kept out of the comparison.
    `reference_labels` / `current_predictions` default to the frames' `prdtypecode` columns;
    the class signal is left out when either side has none.
    """
    settings = settings or DriftSettings()
    started = time.perf_counter()
    notes: list[str] = []

    # Which reference rows are compared, and which (if any) the vocabulary comes from.
    reference = reference.copy()
    if reference_labels is not None:
        if len(reference_labels) != len(reference):
            raise ValueError("reference_labels must have one label per reference row")
        reference["prdtypecode"] = np.asarray(reference_labels)
    pool, vocab_pool = reference, None
    if "split" in reference.columns:
        held_out = reference[reference["split"] == "test"]
        if len(held_out) >= settings.min_rows:
            pool, vocab_pool = held_out, reference[reference["split"] != "test"]
            notes.append(f"reference: the {len(held_out)} held-out (split == 'test') rows, "
                         "which the champion never trained on")
        else:
            notes.append(f"reference: only {len(held_out)} held-out rows; all rows compared")
    if vocabulary is None:
        if vocab_pool is None or len(vocab_pool) < settings.min_rows:
            shuffled = reference.sample(frac=1.0, random_state=settings.seed)
            half = len(shuffled) // 2
            vocab_pool, pool = shuffled.iloc[:half], shuffled.iloc[half:]
        vocab_pool = vocab_pool.sample(n=min(len(vocab_pool), settings.reference_sample_size),
                                       random_state=settings.seed)
        notes.append(f"no vocabulary given: one fitted on {len(vocab_pool)} reference rows "
                     "left out of the comparison")
        vocabulary = build_vocabulary(
            join_fields(d, b) for d, b in zip(vocab_pool["designation"],
                                              _text_column(vocab_pool, "description")))
    elif pool is reference:
        notes.append("vocabulary given but the reference has no held-out split: rows the "
                     "vectoriser was fitted on understate the reference OOV share")
    has_labels = "prdtypecode" in pool.columns and pool["prdtypecode"].notna().any()
    ref_sample = sample_reference(pool, settings.reference_sample_size, settings.seed,
                                  "prdtypecode" if has_labels else None)

    current = current.reset_index(drop=True)
    predictions = None
    if current_predictions is not None:
        if len(current_predictions) != len(current):
            raise ValueError("current_predictions must have one code per current row")
        predictions = _codes(current_predictions)
    elif "prdtypecode" in current.columns:
        predictions = _codes(current["prdtypecode"])
    confidence = None
    if "confidence" in current.columns and current["confidence"].notna().any():
        confidence = round(float(pd.to_numeric(current["confidence"], errors="coerce").mean()), 4)

    signals = [s for s in ALL_SIGNALS
               if s != PREDICTED_CLASS or (has_labels and predictions is not None)]
    if PREDICTED_CLASS not in signals:
        notes.append("class signal left out: no reference labels or no current predictions")

    def result(**kw: Any) -> DriftResult:
        return DriftResult(rows_reference=len(ref_sample), rows_current=len(current),
                           settings=settings, notes=notes, mean_confidence_current=confidence,
                           duration_s=time.perf_counter() - started, **kw)

    if len(current) < settings.min_rows or len(ref_sample) < settings.min_rows:
        notes.append(f"fewer than min_rows={settings.min_rows} rows on one side: not compared")
        return result(status=STATUS_INSUFFICIENT, drift_detected=False, drifted_share=0.0,
                      drifted_count=0, signals={
                          s: SignalResult(s, *settings.method_and_threshold(s), None, False)
                          for s in signals})

    ref_features = text_features(ref_sample, vocabulary).reset_index(drop=True)
    cur_features = text_features(current, vocabulary)
    if PREDICTED_CLASS in signals:
        ref_features[PREDICTED_CLASS] = _codes(ref_sample["prdtypecode"])
        cur_features[PREDICTED_CLASS] = predictions

    profile_ref, profile_cur = profile(ref_features), profile(cur_features)
    gap = abs(profile_ref["description_share"] - profile_cur["description_share"])
    if gap >= 0.25:
        notes.append(f"field layout differs: {profile_cur['description_share']:.0%} of current rows "
                     f"have a description against {profile_ref['description_share']:.0%} of reference "
                     "rows (text merged into titles on one side?); the signals read title and "
                     "description together, as the model does, so this alone is not drift")
    snapshot, scores, flags = _run_evidently(ref_features, cur_features, signals, settings)
    outcome = {s: SignalResult(s, *settings.method_and_threshold(s), scores.get(s), flags.get(s, False))
               for s in signals}
    drifted_count = sum(r.drifted for r in outcome.values())
    share = drifted_count / len(outcome)
    detected = drifted_count >= settings.min_drifted_signals and share >= settings.drift_share_threshold
    return result(status=STATUS_DRIFT if detected else STATUS_OK, drift_detected=detected,
                  drifted_share=share, drifted_count=drifted_count, signals=outcome,
                  profile_reference=profile_ref, profile_current=profile_cur,
                  snapshot=snapshot)


def _run_evidently(ref: pd.DataFrame, cur: pd.DataFrame, signals: list[str],
                   settings: DriftSettings) -> tuple[Any, dict[str, float], dict[str, bool]]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    _register_stattests()

    definition = DataDefinition(
        numerical_columns=[s for s in signals if s in NUMERICAL_SIGNALS],
        categorical_columns=[s for s in signals if s in (LANGUAGE, PREDICTED_CLASS)],
        text_columns=[TEXT],
    )
    preset = DataDriftPreset(
        columns=list(signals),
        drift_share=settings.drift_share_threshold,
        per_column_method={s: settings.method_and_threshold(s)[0] for s in signals},
        per_column_threshold={s: settings.method_and_threshold(s)[1] for s in signals},
    )
    report = Report([preset], include_tests=True,
                    metadata={"source": "rakuten_assets.core.drift"}, tags=["drift"])
    snapshot = report.run(
        current_data=Dataset.from_pandas(cur[list(signals)], data_definition=definition),
        reference_data=Dataset.from_pandas(ref[list(signals)], data_definition=definition),
    )
    scores: dict[str, float] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift") and config.get("column") in signals:
            scores[config["column"]] = float(metric["value"])
    flags: dict[str, bool] = {}
    for test in snapshot.dict()["tests"]:
        params = (test.get("metric_config") or {}).get("params", {})
        if params.get("type", "").endswith("ValueDrift") and params.get("column") in signals:
            flags[params["column"]] = str(test.get("status", "")).upper().endswith("FAIL")
    missing = [s for s in signals if s not in scores or s not in flags]
    if missing:
        raise RuntimeError(f"Evidently returned no drift result for {missing}")
    return snapshot, scores, flags
