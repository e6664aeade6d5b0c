"""Stratified k-fold cross-validation of `build_classifier()` on real labelled Rakuten rows, beside
the original project's recipe on the same folds.

    .venv/bin/python benchmarks/model_quality.py [--folds 5] [--seed 42] [--quick]

Data: ../shared/data/rakuten/labeled_text.csv (4,094 real products, all 27 codes; in most rows
the description was already merged into `designation`). Exit status 2 if it is absent.
Prints weighted and macro F1 (mean ± std over folds), the log loss and top-label calibration
error of the predicted probabilities, and fit/predict seconds (wall, and CPU of this process,
which does not depend on the machine's other load; the SGD classifier uses two threads).

Target (issue 14): weighted F1 >= 0.745: met since the sixth session of 2026-12-04 (0.7461, the
word-shapes block below). Target (issue 2): weighted F1 >= 0.78, chosen by cross-validation only. NOT reached: every
linear TF-IDF model tried lands between 0.72 and 0.745 on these folds (below). The folds are
`StratifiedKFold(5, shuffle=True, random_state=42)`; all figures are weighted F1, mean of 5.

What was tried (LinearSVC(C=0.3, class_weight="balanced") unless said otherwise):
  original recipe (5k word TF-IDF, English stop words, LogisticRegression)      0.676
  word 1-2 + char_wb 2-5 TF-IDF, sublinear, LinearSVC C=0.5 (README reference)  0.740
  same, min_df=2 on both (vocabulary 230k -> 113k)                               0.7405
  char_wb 1-5: 0.742 | 3-6: 0.741 | char (not _wb) 2-5: 0.740 | word only: 0.724 | char only: 0.725
  default token pattern (drops 1-char tokens such as "2" in "lot de 2")          0.739
  title weight: extra word+char TF-IDF of the first 120 characters: 0.734 (title = first
    characters, since most rows have the description merged into the title); char block on
    the first 500 / 150 characters only (cheaper): 0.733 / 0.730
  char max_df=0.1 (drops n-grams in >10% of products; half the non-zeros): 0.740 | 0.03: 0.738
  C 0.1 / 0.2 / 0.5 / 1.0 (word + 150-char head): 0.725 / 0.729 / 0.729 / 0.729
  class_weight=None: 0.733 | hinge loss: 0.728 | Crammer-Singer: 0.714 | RidgeClassifier: 0.739
  LogisticRegression(balanced) C=10 / 40: 0.738 / 0.732 (and 10x slower)
  SGD log_loss alpha 5e-5 / 1e-4 / 2e-4: 0.737 / 0.739 / 0.738 (30 full passes: 0.741);
    hinge 0.729; modified_huber 0.713; log_loss without class weights 0.725
  ComplementNB 0.677 | MultinomialNB 0.689 | 10-NN cosine 0.686; blended with the SVM's scores
    (z-scored, weight 0.1-0.5): at best 0.7425 (MNB, weight 0.2), i.e. no gain
Calibration of SGD log_loss alpha=1e-4 on the final features (wF1 / log loss / ECE):
  uncalibrated OvR probabilities 0.739 / 1.24 / 0.28 (far too unsure)
  CalibratedClassifierCV sigmoid cv=3 ensemble=False         0.7375 / 0.96 / 0.10
  sigmoid on a 10% stratified holdout (build_classifier())   0.729 / 1.05 / 0.14
  temperature scaling: unusable, sklearn 1.9 misreads integer class codes (log loss 7.9)
Issue 14 (target 0.745; same folds; LinearSVC/SGD class_weight="balanced"; wF1 / log loss / ECE):
  build_classifier() before (SGD log_loss + sigmoid on a 10% holdout)  0.7286 / 1.046 / 0.138
  LinearSVC C=0.3 / 0.5 / 1.0, sigmoid cv=3 ensemble=False     0.7389 / 0.7359 / 0.7343 (ll 0.99-1.00)
  LinearSVC C=0.3 / 0.5 / 1.0, sigmoid cv=5 ensemble=False     0.7389 / 0.7376 / 0.7359 (ECE 0.085-0.09)
  LinearSVC C=0.5 sigmoid cv=5 ensemble=True (5 models served)  0.7348 / 1.029 / 0.134
  LinearSVC C=0.5 isotonic cv=5                                 0.7291 / 1.288 / 0.073
  per-class sigmoids change the argmax; one softmax temperature fitted on out-of-fold scores
  does not (F1 = the raw model's): LinearSVC C=0.3 / 0.5 / 1.0: 0.7400 / 0.7376 / 0.7358
  (ll 1.05, ECE 0.07); SGD log_loss 1e-4: 0.7398 / 0.975 / 0.056
  char max_df 1.0 (LinearSVC 0.5, temperature): 0.7365 | char_wb 1-6: 0.7394 (SVM), 0.7434 (blend)
  word 1-3: 0.7410 (SVM), 0.7416 (blend) | README recipe on raw text, LinearSVC 0.5: 0.7405
  word block weight 0.6 / 0.8 / 1.25 / 1.6 (blend): 0.7364 / 0.7407 / 0.7411 / 0.7373
  separate title vectorisers (text before the first " - ", 46% of rows have one; word 1-2 +
    char_wb 2-5) appended with weight 0.5 / 1.0: 0.7404 / 0.7350 (blend)
  class weights (n/count)^p, p = 0.5 / 0.75 / 1: best SVM 0.7381 / 0.7380 / 0.7400, best SGD
    0.7339 / 0.7365 / 0.7406: full balancing stays
  raw scores blended (each divided by its std), argmax: SVM C=0.3 + SGD 0.7424 (weights 0.3 /
    0.7: 0.7413 / 0.7413), SVM C=0.2 + SGD 0.7430, SVM + ridge 0.7404, SGD + ridge 0.7392,
    SVM + SGD + ridge 0.7392, five models 0.7371; SGD bagged over 3 / 5 seeds 0.7412 / 0.7409,
    + SVM 0.7426 / 0.7430; SGD hinge/modified_huber 0.68-0.73 (no gain in blends)
  => build_classifier("svm_sgd_blend") (opt-in, RAKUTEN_CLASSIFIER; ~8x the classifier's training
     CPU, so not the default yet): SoftmaxLinearEnsemble(LinearSVC C=0.2 + SGD log_loss, blended into
     one linear model, softmax temperature on 3-fold out-of-fold scores):
     0.7431 / 1.012 / 0.069 (cv=2: 0.7429 / 1.026 / 0.075 for a third less CPU).
     Target 0.745 NOT met: no TF-IDF + linear variant tried here passed
     0.7434 on these folds.
  2026-12-04: NB-SVM (per-class naive-Bayes log-count ratios scaling a one-vs-rest LinearSVC's
    features, folded into one linear model) C 0.1 / 0.3 / 1.0 x smoothing 1.0 / 0.1: 0.7132-0.7310;
    multinomial LogisticRegression C=30 0.7344, + LinearSVC blend 0.7389; blend SVM C 0.15 / 0.1 +
    SGD 1e-4: 0.7422 / 0.7403, SVM C 0.2 + SGD alpha 7e-5 / 1.5e-4: 0.7424 / 0.7423.
  build_classifier() with CalibratedOnHoldout (weight 0 on the calibration rows instead of a
    copy of the others, for memory at 850k rows): 0.7271 / 1.047 / 0.138 (was 0.7286 / 1.046 / 0.138).
  build_classifier() whose SGD stops after 2 flat passes, not 3 (one pass fewer, for 850k-row
    time): 0.7282 / 1.045 / 0.138.
  also tried then (weighted F1): the default's SGD averaged (ASGD) 0.7280; the blend with word
    min_df=1 0.7411, with char_wb 1-5 and word 1-3 0.7411.
  2026-12-04, fourth session (blend = LinearSVC C=0.2 + SGD log_loss, scores each divided by its
    std; blend on these features 0.7430, the SVM alone 0.7396, the SGD alone 0.7391):
    extra char (not _wb) 1-3 block, weight 0.5: 0.7417 | extra char 3-6 block: 0.7405 |
    binary word tf: 0.7394 | char_wb 1-6: 0.7435 | per-view members (SVMs on the word block and
    on the char block added to the blend, weight 0.5): 0.7409; SVM + SGD per view, no joint
    model: 0.7394 | stacking: a multinomial LogisticRegression over both members' 3-fold
    out-of-fold scores (54 inputs; still one linear model once folded), C 0.01 / 0.03 / 0.1 /
    0.3 / 1: 0.7377 / 0.7429 / 0.7412 / 0.7348 / 0.7303 (balanced: 0.7223-0.7398) |
    punctuation made spaces before the char n-grams: 0.7397 (char_wb 1-6: 0.7406);
    punctuation as tokens of its own: 0.7398 / 0.7401 | every digit made 0: 0.7434 / 0.7440 |
    random-subspace bagging (3 or 6 SVM + SGD pairs on 50% / 70% of the columns): 0.7330-0.7392.
    The fold-to-fold standard deviation is ~0.01 (standard error of the 5-fold mean ~0.0045):
    every variant since the blend lies within a third of that of 0.743. TF-IDF + linear models
    have plateaued on these 4,094 rows; 0.745 is not reached by any of them here.
  2026-12-04, fifth session (the scripts: one thread, features cached per fold; wF1 / log loss /
    ECE; "cost" = classifier fit CPU relative to sgd_sigmoid's on the same fold; every
    temperature, offset and scale fitted on training-fold rows only):
    SGD on all rows, temperature on its own training scores: 0.7396 / 1.152 / 0.118 (overconfident)
    holdout at weight 0 -> one softmax temperature on its scores -> 0 / 1 / 2 / 3 more passes of
      partial_fit over ALL rows: 0.7333 / 0.7353 / 0.7374 / 0.7384, log loss 1.000-0.983, ECE
      ~0.06, cost 0.87 / 1.06 / 1.27 / 1.47; +2 passes over three holdout draws: 0.7374 /
      0.7387 / 0.7383  => the new default, build_classifier("sgd_softmax") (SoftmaxOnHoldout);
      its first fit stopping after 1 flat pass instead of 2 (one pass fewer at 850k rows), + 1 /
      2 / 3 passes: - / 0.7371 / 0.7390; 2 flat passes + 1: 0.7353 => n_iter_no_change=1, +2
    the same with a temperature + 27 class biases fitted by log loss: 0.7315-0.7356 (no gain)
    per-class offsets maximising weighted F1 on the holdout (+2 passes): 0.7306; on 3-fold
      out-of-fold scores: 0.7367; on the blend: 0.7371 (they gain 2.5+ points where they are
      fitted and lose them on the test folds: overfitting)
    every digit made 0: default +2 passes 0.7402 (0.740-0.743 over three holdout draws), blend
      0.7440; with char_wb 1-6 as well: blend 0.7436, default +2 passes 0.7387 (both knobs
      were compared on these test folds, so these figures lean optimistic; not adopted)
    blend with an SGD squared-hinge member instead of LinearSVC (cheaper): out-of-fold 0.7411
      (cost 5.8), holdout version +2 passes 0.7372 (cost 2.0)
    On the synthetic 85k catalogue one temperature is ~0.2 points behind per-class sigmoids
    (80/20 split: 0.8605 against 0.8625; ECE 0.031 against 0.068): the synthetic classes are
    cleaner than real ones. Target 0.745 NOT met by any variant: best cheap 0.7402, best 0.7440.
  2026-12-04, sixth session: text SHAPE features. Chosen on fold seeds 0, 1 and 7 (never on this
    benchmark's seed 42), then measured once on seed 42. Dev figures are means over the three
    seeds (wF1; the SVM = LinearSVC C=0.3 balanced on the project's features, dev baseline
    0.7417; the default's dev baseline 0.7378):
    dense "text shape" one-hots appended (log length bins, upper-case share, digit share),
      SVM, seed 42 first look: all three w 0.4 0.7459 (0.7400 without); digit share alone
      0.7458, length alone 0.7397, upper-case alone 0.7365. Dev, all three: +0.24-0.48.
    word shapes (each cleaned word: digit runs -> 9, letter runs -> a; "28/09/2001" -> "9/9/9")
      as a TF-IDF block of 1-2 / 1-3-grams, weight w: SVM dev 1-2 w 0.5 0.7493, 1-3 w 0.3 /
      0.4 / 0.5 / 0.7 0.7463 / 0.7494 / 0.7503 / 0.7509, 1-2 w 1.0 0.7437; digit runs kept to 4
      digits: 0.7478; + digit-share bins 0.3: 0.7528.
    the default (SoftmaxOnHoldout) with them: 1-3 w 0.5 0.7406, 1.0 0.7261, 1.5 0.7049 (the SGD
      wants a lighter block), 0.2 / 0.25 / 0.35 0.7424 / 0.7434 / 0.7429; max_df 0.5 w 0.35 /
      0.45 / 0.5 0.7448 / 0.7448 / 0.7439; max_df 0.1 0.7416-0.7426; 1-2 max_df 0.5 w 0.35 /
      0.45 0.7430 / 0.7433; + digit-share bins 0.15: 0.7456; alpha 7e-5 / 1.4e-4: 0.7418 /
      0.7426; 5 / 10 extra passes: 0.7463 / 0.7464.
    Seed 42 (this benchmark) once chosen: 1-3 max_df 0.5 w 0.35: 0.7461 (1-2: 0.7441); + digit
      share bins 0.15: 0.7478 (not adopted: a per-row statistic the API's per-chunk counting
      does not compute; the shapes alone pass the target). => the default since then: word
      shapes 1-3, max_df 0.5, weight 0.35 (WordShapeTfidf); fitted by the fast word path,
      counted chunk by chunk by the API like the words.
    LinearSVC cost, for the record: 39.5 s on the 85k synthetic features against 11.8 s for the
      default's whole classifier fit (two threads), and 33-36 s with tol 1e-2 / 3e-2: an SVM
      default would not fit the 850k-row budget.
The holdout costs ~1 point here (on 4k rows, 10% fewer training rows and sigmoids fitted on
~330 rows). At full size it costs nothing: on the synthetic 85k catalogue (80/20 split) holdout
vs cv=3 gave 0.8683 vs 0.8686 weighted F1, log loss 0.542 vs 0.539, ECE 0.066 vs 0.067, for
15 vs 44 CPU seconds of classifier training, so build_classifier() uses the holdout.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, log_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "rakuten" / "labeled_text.csv"
OURS, BEFORE, BLEND, THEIRS = "build_classifier()", "sgd_sigmoid", "svm_sgd_blend", "original recipe"


def original_recipe():
    """The original project's model: English stop words on French text, 5,000 features."""
    return make_pipeline(TfidfVectorizer(max_features=5000, ngram_range=(1, 2), stop_words="english"),
                         LogisticRegression(class_weight="balanced", max_iter=1000))


def original_text(frame: pd.DataFrame) -> list[str]:
    return (frame["designation"].fillna("") + " " + frame["description"].fillna("")).tolist()


def calibration_error(proba: np.ndarray, y: np.ndarray, classes: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of the top label: |confidence - accuracy| over 10 bins."""
    confidence = proba.max(axis=1)
    correct = classes[proba.argmax(axis=1)] == y
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    return float(sum(abs(confidence[which == b].mean() - correct[which == b].mean()) * (which == b).mean()
                     for b in range(bins) if (which == b).any()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="only the first 2 of the folds")
    args = parser.parse_args()
    if not DATA.is_file():
        print(f"real data not found at {DATA}: this benchmark needs the shared Rakuten data folder "
              "(../shared/data/rakuten/ beside the project)", file=sys.stderr)
        return 2
    from rakuten_assets.core.model import build_classifier, describe_classifier

    frame = pd.read_csv(DATA)
    y = frame["prdtypecode"].to_numpy()
    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=args.seed).split(frame, y))
    if args.quick:
        folds = folds[:2]
    scores: dict[str, dict[str, list[float]]] = {}
    from rakuten_assets.core.model import DEFAULT_CLASSIFIER

    # the default, the default until 2026-12-04 (per-class sigmoids), the blend, the original
    kinds = {OURS: DEFAULT_CLASSIFIER, BEFORE: BEFORE, BLEND: BLEND}
    names = [OURS] + [n for n in (BEFORE, BLEND) if kinds[n] != DEFAULT_CLASSIFIER] + [THEIRS]
    for name in names:
        s = scores[name] = {k: [] for k in ("weighted", "macro", "log_loss", "ece", "fit_s", "fit_cpu",
                                            "predict_s", "predict_cpu")}
        for train, test in folds:
            if name == THEIRS:
                model, x_train, x_test = original_recipe(), original_text(frame.iloc[train]), original_text(frame.iloc[test])
            else:
                model, x_train, x_test = build_classifier(kinds[name]), frame.iloc[train], frame.iloc[test]
            wall, cpu = time.perf_counter(), time.process_time()
            model.fit(x_train, y[train])
            s["fit_s"].append(time.perf_counter() - wall)
            s["fit_cpu"].append(time.process_time() - cpu)
            wall, cpu = time.perf_counter(), time.process_time()
            proba = model.predict_proba(x_test)
            s["predict_s"].append(time.perf_counter() - wall)
            s["predict_cpu"].append(time.process_time() - cpu)
            predicted = model.classes_[proba.argmax(axis=1)]
            s["weighted"].append(f1_score(y[test], predicted, average="weighted"))
            s["macro"].append(f1_score(y[test], predicted, average="macro"))
            s["log_loss"].append(log_loss(y[test], proba, labels=model.classes_))
            s["ece"].append(calibration_error(proba, y[test], model.classes_))

    print(f"{len(frame):,} real rows, {len(folds)} of {args.folds} stratified folds (seed {args.seed}), "
          "same folds for every model")
    print(f"{OURS} ({DEFAULT_CLASSIFIER}): {describe_classifier(build_classifier())}")
    print(f"{BLEND}: {describe_classifier(build_classifier('svm_sgd_blend'))}")
    print(f"{'model':<20} {'weighted F1':>16} {'macro F1':>16} {'log loss':>9} {'ECE':>6} "
          f"{'fit s (cpu)':>13} {'predict s (cpu)':>16}")
    for name, s in scores.items():
        print(f"{name:<20} {np.mean(s['weighted']):>8.4f} ± {np.std(s['weighted']):.4f} "
              f"{np.mean(s['macro']):>8.4f} ± {np.std(s['macro']):.4f} {np.mean(s['log_loss']):>9.3f} "
              f"{np.mean(s['ece']):>6.3f} {np.mean(s['fit_s']):>6.2f} ({np.mean(s['fit_cpu']):>5.2f}) "
              f"{np.mean(s['predict_s']):>8.3f} ({np.mean(s['predict_cpu']):.3f})")
    ours, theirs = np.mean(scores[OURS]["weighted"]), np.mean(scores[THEIRS]["weighted"])
    gains = np.subtract(scores[OURS]["weighted"], scores[THEIRS]["weighted"])
    print(f"difference: {ours - theirs:+.4f} weighted F1 ({ours / theirs:.3f}x the original; "
          f"better on {int((gains > 0).sum())} of {len(gains)} folds); target >= 0.78: "
          f"{'met' if ours >= 0.78 else 'NOT met'}")
    for name in [n for n in names if n != THEIRS]:
        mean = np.mean(scores[name]["weighted"])
        print(f"{name}: weighted F1 {mean:.4f}, issue 14's target >= 0.745: {'met' if mean >= 0.745 else 'NOT met'}; "
              f"classifier fit {np.mean(scores[name]['fit_cpu']):.1f} s CPU per fold")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
