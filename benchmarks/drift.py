"""Drift detector, proven both ways on real Rakuten rows.

    .venv/bin/python -m benchmarks.drift [--repetitions 30] [--seed 0] [--quick]

Data: ../shared/data/rakuten/ beside the project root (exit 2 when it is absent).

Set-up, as production runs it:
- `labeled_text.csv` rows detected as German or English are set aside as foreign-language
  traffic; the rest is split (stratified, fixed seed) into the reference world (60%) and
  held-out traffic (40%);
- the reference gets a `split` column exactly as `training_dataset` does
  (`training.split_train_test`); a "champion" (`rakuten_assets.core.model.build_classifier()` when it
  exists, else word 1-2 gram TF-IDF + LinearSVC on `join_fields`) is fitted on its train rows,
  its vocabulary extracted with `vocabulary_from_model`;
- every traffic window is predicted by that champion and its predictions stand as the logged
  `prdtypecode`, as the inference log would hold them.

Scenarios (windows of 300-500 rows unless a pool is smaller):
- expected quiet: held-out rows (in-distribution);
- expected drift: books family only, foreign-language rows (half the window), X_test_sample
  mixed with synthetic rows of the garden & pool family, and `synthetic.drifted_catalogue`
  kinds when that module is there;
- controls, reported but not scored: X_test_sample (official format, descriptions separate)
  topped up with held-out rows, and plain synthetic `generate_catalogue` rows (tells how far the
  synthetic scenarios are detected merely for being synthetic).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from rakuten_assets.core.drift import (
    ALL_SIGNALS,
    DriftSettings,
    build_drift_report,
    detect_language,
    vocabulary_from_model,
)
from rakuten_assets.core.text import join_fields

DATA_DIR = PROJECT_ROOT.parent / "shared" / "data" / "rakuten"
TEXT_COLUMNS = ["designation", "description"]
BOOKS = (10, 2280, 2403, 2522, 2705)
GARDEN_POOL = (2582, 2583, 2585)
SHORT = {"text_words": "length", "oov_share": "oov",
         "language": "lang", "text": "text", "prdtypecode": "class"}


@dataclass
class Outcome:
    scenario: str
    expect: str  # "quiet", "drift" or "control"
    rows: list[int] = field(default_factory=list)
    flagged: list[bool] = field(default_factory=list)
    shares: list[float] = field(default_factory=list)
    signal_flags: dict[str, list[bool]] = field(default_factory=dict)
    signal_scores: dict[str, list[float]] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)


# --- the champion ------------------------------------------------------------------------------
def fit_champion(train: pd.DataFrame):
    try:
        from rakuten_assets.core.model import build_classifier
    except ImportError:
        build_classifier = None
    if build_classifier is not None:
        model = build_classifier().fit(train[TEXT_COLUMNS], train["prdtypecode"])
        return "rakuten_assets.core.model.build_classifier()", model.predict, model
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
                          LinearSVC(C=0.5, class_weight="balanced"))
    texts = lambda frame: [join_fields(a, b) for a, b in zip(frame["designation"], frame["description"])]
    model.fit(texts(train), train["prdtypecode"])
    return "TF-IDF word 1-2 grams + LinearSVC", lambda frame: model.predict(texts(frame)), model


# --- data --------------------------------------------------------------------------------------
def load_real() -> dict[str, pd.DataFrame]:
    labeled = pd.read_csv(DATA_DIR / "labeled_text.csv")
    labeled["description"] = labeled["description"].where(labeled["description"].notna(), None)
    # Some rows have no productid; the hash split needs one: give them unique made-up ids.
    missing = labeled["productid"].isna()
    labeled.loc[missing, "productid"] = 10**12 + np.flatnonzero(missing)
    labeled["productid"] = labeled["productid"].astype("int64")
    x_test = pd.read_csv(DATA_DIR / "X_test_sample.csv", index_col=0)
    x_test["description"] = x_test["description"].where(x_test["description"].notna(), None)
    return {"labeled": labeled, "x_test": x_test}


def split_world(labeled: pd.DataFrame, seed: int, reference_share: float):
    from sklearn.model_selection import train_test_split

    from rakuten_assets.core.training import split_train_test

    lang = [detect_language(join_fields(a, b)) for a, b in zip(labeled["designation"], labeled["description"])]
    foreign_mask = np.isin(lang, ["de", "en"])
    foreign, world = labeled[foreign_mask], labeled[~foreign_mask]
    reference, held_out = train_test_split(world, train_size=reference_share, random_state=seed,
                                           stratify=world["prdtypecode"])
    reference = split_train_test(reference, test_size=0.3, seed=13)
    return reference, held_out, foreign


def _synthetic():
    try:
        from rakuten_assets import synthetic
    except ImportError:
        return None
    return synthetic


def _sample(frame: pd.DataFrame, n: int, rng) -> pd.DataFrame:
    """n rows without replacement; from a small pool at most 80% of it, so windows differ."""
    n = min(n, len(frame) if len(frame) <= 250 else int(0.8 * len(frame)))
    return frame.sample(n=n, random_state=int(rng.integers(2**31)))


@dataclass
class World:
    name: str
    reference: pd.DataFrame  # with a `split` column, as training_dataset writes it
    scenarios: list[tuple[str, str, Callable]]  # (name, expectation, draw(rng, n) -> window)
    description: str = ""


def real_world(seed: int, reference_share: float) -> World:
    data = load_real()
    reference, held_out, foreign = split_world(data["labeled"], seed, reference_share)
    x_test = data["x_test"]
    books = held_out[held_out["prdtypecode"].isin(BOOKS)]
    scenarios = [
        ("in-distribution: held-out rows", "quiet", lambda rng, n: _sample(held_out, n, rng)),
        (f"books family only (pool {len(books)} rows)", "drift", lambda rng, n: _sample(books, n, rng)),
        (f"foreign language: 1/2 de/en rows (pool {len(foreign)})", "drift",
         lambda rng, n: pd.concat([_sample(foreign, n // 2, rng), _sample(held_out, n - min(n // 2, len(foreign)), rng)])),
        ("X_test_sample + held-out rows (official layout)", "control",
         lambda rng, n: pd.concat([x_test, _sample(held_out, n - len(x_test), rng)])),
    ]
    synthetic = _synthetic()
    if synthetic is not None:
        def garden(rng, n):
            rows = synthetic.generate_catalogue(max(n * 8, 600), seed=int(rng.integers(2**31)))
            return rows[rows["prdtypecode"].isin(GARDEN_POOL)].head(n)

        scenarios += [
            ("X_test_sample + synthetic garden&pool rows", "drift",
             lambda rng, n: pd.concat([x_test, garden(rng, n - len(x_test))])),
            ("synthetic catalogue, all classes", "control",
             lambda rng, n: synthetic.generate_catalogue(n, seed=int(rng.integers(2**31)))),
        ]
    else:
        print("note: rakuten_assets.core.synthetic is absent: synthetic scenarios skipped", file=sys.stderr)
    return World("real rows (labeled_text.csv)", reference, scenarios,
                 f"{len(held_out)} held-out rows, {len(foreign)} rows detected as de/en set aside")


def synthetic_world(seed: int) -> World | None:
    """What the embedded demo and the end-to-end loop test run on: a synthetic catalogue."""
    synthetic = _synthetic()
    if synthetic is None:
        return None
    from rakuten_assets.core.training import split_train_test

    reference = split_train_test(synthetic.generate_catalogue(6000, seed=seed + 100), test_size=0.2, seed=13)
    draw = lambda kind: lambda rng, n: synthetic.drifted_catalogue(n, seed=int(rng.integers(2**31)), kind=kind)
    scenarios = [
        ("in-distribution: fresh generate_catalogue rows", "quiet",
         lambda rng, n: synthetic.generate_catalogue(n, seed=int(rng.integers(2**31)))),
        ("drifted_catalogue(kind='german')", "drift", draw("german")),
        ("drifted_catalogue(kind='single_family')", "drift", draw("single_family")),
        ("drifted_catalogue(kind='noisy')", "drift", draw("noisy")),
    ]
    return World("synthetic catalogue (rakuten_assets.core.synthetic)", reference, scenarios,
                 "reference generate_catalogue(6000); traffic drawn with fresh seeds")


# --- running -------------------------------------------------------------------------------------
def run_world(world: World, settings: DriftSettings, args) -> list[Outcome]:
    reference = world.reference
    train = reference[reference["split"] == "train"]
    t0 = time.perf_counter()
    champion_name, predict, model = fit_champion(train)
    vocabulary = vocabulary_from_model(model)
    print(f"\n== {world.name}: reference {len(reference)} rows ({len(train)} train for the champion, "
          f"{int((reference['split'] == 'test').sum())} held-out rows compared); {world.description}; "
          f"champion {champion_name} fitted in {time.perf_counter() - t0:.1f}s, "
          f"vocabulary {len(vocabulary)} words")
    rng = np.random.default_rng(args.seed)
    outcomes = []
    for name, expect, draw in world.scenarios:
        outcome = Outcome(name, expect, signal_flags={s: [] for s in ALL_SIGNALS})
        for _ in range(args.repetitions):
            n = int(rng.integers(args.window_min, args.window_max + 1))
            window = draw(rng, n).reset_index(drop=True)
            # What the inference log holds: the champion's prediction as prdtypecode.
            window = window.assign(prdtypecode=predict(window), confidence=np.nan)
            result = build_drift_report(reference, window, vocabulary=vocabulary, settings=settings)
            outcome.rows.append(result.rows_current)
            outcome.flagged.append(result.drift_detected)
            outcome.shares.append(result.drifted_share)
            outcome.statuses.append(result.status)
            outcome.seconds.append(result.duration_s)
            for s in ALL_SIGNALS:
                if s in result.signals:
                    outcome.signal_flags[s].append(result.signals[s].drifted)
                    if result.signals[s].score is not None:
                        outcome.signal_scores.setdefault(s, []).append(result.signals[s].score)
        outcomes.append(outcome)
        print(f"  {name}: {np.mean(outcome.seconds):.2f}s per report", file=sys.stderr)
    print_table(outcomes)
    if args.scores:
        print("per-signal scores: mean [5th-95th percentile]")
        for o in outcomes:
            print(f"  {o.scenario[:56]:56} " + " ".join(
                f"{SHORT[s]}={np.mean(v):.3f}[{np.percentile(v, 5):.3f},{np.percentile(v, 95):.3f}]"
                for s, v in o.signal_scores.items()))
    return outcomes


def run(args) -> int:
    if not (DATA_DIR / "labeled_text.csv").is_file():
        print(f"error: real Rakuten data not found at {DATA_DIR} (expected labeled_text.csv and "
              "X_test_sample.csv in ../shared/data/rakuten/ beside the project root)", file=sys.stderr)
        return 2
    settings = replace(DriftSettings(), seed=args.seed)
    print(f"drift when >= {settings.min_drifted_signals} of the {len(ALL_SIGNALS)} signals drift "
          f"and their share >= {settings.drift_share_threshold}; min_rows={settings.min_rows}; "
          "thresholds: " + ", ".join(f"{SHORT[s]} {settings.method_and_threshold(s)[0]} "
                                     f">= {settings.method_and_threshold(s)[1]}" for s in ALL_SIGNALS))
    print(f"{args.repetitions} repetitions per scenario, windows of {args.window_min}-{args.window_max} "
          "rows (small pools: at most 80% of the pool)")
    worlds = [real_world(args.seed, args.reference_share)]
    if not args.real_only:
        synthetic = synthetic_world(args.seed)
        if synthetic is not None:
            worlds.append(synthetic)
    outcomes = [o for world in worlds for o in run_world(world, settings, args)]
    if args.timing:
        timing(settings)
    quiet = [f for o in outcomes if o.expect == "quiet" for f in o.flagged]
    drift = [o for o in outcomes if o.expect == "drift"]
    detected = [f for o in drift for f in o.flagged]
    print(f"\nfalse-alarm rate on in-distribution traffic: {np.mean(quiet):.1%} ({sum(quiet)}/{len(quiet)}); "
          f"detection rate on shifted traffic: {np.mean(detected):.1%} ({sum(detected)}/{len(detected)}), "
          f"lowest scenario {min(np.mean(o.flagged) for o in drift):.0%}")
    return 0


def print_table(outcomes: list[Outcome]) -> None:
    head = (f"{'scenario':58} {'expect':7} {'reps':>4} {'rows':>9} {'flagged':>8} {'share':>6}  "
            "per-signal drift rate")
    print(head)
    print("-" * len(head))
    for o in outcomes:
        per_signal = " ".join(f"{SHORT[s]}={np.mean(v):.0%}" for s, v in o.signal_flags.items() if v)
        insufficient = sum(s == "insufficient_data" for s in o.statuses)
        rows = f"{min(o.rows)}-{max(o.rows)}" if min(o.rows) != max(o.rows) else str(o.rows[0])
        print(f"{o.scenario[:58]:58} {o.expect:7} {len(o.flagged):>4} {rows:>9} "
              f"{np.mean(o.flagged):>8.0%} {np.mean(o.shares):>6.2f}  {per_signal}"
              + (f" ({insufficient} insufficient_data)" if insufficient else ""))


def timing(settings: DriftSettings) -> None:
    """Run time of one report: 5,000 reference rows against 500 and 2,000 current rows (synthetic
    rows: the real samples hold fewer than 5,000), with a given vocabulary as in production."""
    synthetic = _synthetic()
    if synthetic is None:
        print("timing skipped: rakuten_assets.core.synthetic is absent")
        return
    from rakuten_assets.core.drift import build_vocabulary
    from rakuten_assets.core.training import split_train_test

    reference = split_train_test(synthetic.generate_catalogue(30_000, seed=1), test_size=0.2, seed=13)
    train = reference[reference["split"] == "train"].head(5000)
    vocabulary = build_vocabulary(join_fields(a, b) for a, b in zip(train["designation"], train["description"]))
    current = synthetic.generate_catalogue(2_000, seed=2)
    print()
    for rows_current in (500, 2000):
        t0 = time.perf_counter()
        result = build_drift_report(reference, current.head(rows_current), vocabulary=vocabulary,
                                    settings=settings)
        print(f"timing: {result.rows_reference} reference vs {result.rows_current} current rows "
              f"(reference store {len(reference)} rows): {time.perf_counter() - t0:.2f}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repetitions", type=int, default=30)
    parser.add_argument("--window-min", type=int, default=300)
    parser.add_argument("--window-max", type=int, default=500)
    parser.add_argument("--reference-share", type=float, default=0.6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-timing", dest="timing", action="store_false")
    parser.add_argument("--scores", action="store_true", help="also print per-signal score ranges")
    parser.add_argument("--real-only", action="store_true", help="skip the synthetic world")
    parser.add_argument("--quick", action="store_true", help="5 repetitions, for a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.repetitions = 5
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
