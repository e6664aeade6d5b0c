"""Where the memory of training goes, phase by phase, in one process (no Dagster, no MLflow):
wall seconds, RSS before, peak RSS during (sampled every 0.2 s) and RSS after each phase.

    .venv/bin/python benchmarks/scaling_phases.py 424580

The figures in docs/scaling.md ("Where the memory went") come from this script. `chars fit
(bounded)` is core/training_features.py's exact bounded fit of the same vectoriser, which the
pipeline uses; `chars fit_transform` is the class's own fit, for comparison.
"""

import gc
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.base import clone
from rakuten_assets.core.synthetic import generate_catalogue
from rakuten_assets.core.model import build_classifier
from rakuten_assets.core.training import split_train_test, TEXT_COLUMNS
from rakuten_assets.core.training_features import fit_transform_bounded
proc = psutil.Process()
peak = [0]
def sampler():
    while True:
        peak[0] = max(peak[0], proc.memory_info().rss); time.sleep(0.2)
threading.Thread(target=sampler, daemon=True).start()
def phase(name, fn):
    gc.collect(); base = proc.memory_info().rss; peak[0] = base; t = time.perf_counter()
    out = fn()
    print(f"{name:28s} {time.perf_counter()-t:7.1f}s  rss {base/2**20:7.0f} -> peak {peak[0]/2**20:7.0f} MB (+{(peak[0]-base)/2**20:.0f}) after {proc.memory_info().rss/2**20:.0f}", flush=True)
    return out
n = int(sys.argv[1])
frame = phase("generate", lambda: generate_catalogue(n, seed=42))
frame = phase("split", lambda: split_train_test(frame, 0.2, 42))
train = frame[frame.split == "train"]; test = frame[frame.split == "test"]
tpl = build_classifier()
texts = phase("clean text", lambda: tpl.named_steps["text"].transform(train[TEXT_COLUMNS]))
feats = clone(tpl.named_steps["features"])
words, chars = [clone(t) for _, t in feats.transformer_list]
xw = phase("words fit_transform", lambda: words.fit_transform(texts))
xb = phase("chars fit (bounded)", lambda: fit_transform_bounded(clone(chars), texts))
del xb
xc = phase("chars fit_transform", lambda: chars.fit_transform(texts))
import scipy.sparse as sp
X = phase("hstack", lambda a=xw, b=xc: sp.hstack([a, b], format="csr"))
del xw, xc
print("X", X.shape, X.nnz, X.dtype)
clf = clone(tpl.named_steps["classifier"])
phase("classifier fit", lambda: clf.fit(X, train.prdtypecode.to_numpy()))
