"""How live accuracy grows with the labels fed back: the loop of issue 12, measured on real rows.

    .venv/bin/python benchmarks/loop.py [--synthetic-rows 20000] [--steps 0,100,300,1000,3000]

1. A champion is trained by the pipeline (Dagster, in-process) on the synthetic catalogue only.
2. Real rows of the challenge (`../shared/data/rakuten/labeled_text.csv`, 4,094 labelled
   products) are production traffic. 1,000 of them are held out: they are only ever scored,
   never labelled. The others are the labelling pool.
3. For each number of labels k: the pool's next rows are predicted through the API (FastAPI app,
   in-process), their true codes are posted to POST /feedback, and training_job retrains on the
   store (synthetic catalogue + the k feedback products). The rule then keeps or replaces the
   champion. Both the version this run trained and the champion serving after the rule's decision
   are scored on the 1,000 held-out real rows: the first says what the labels taught, the second
   what production answers with (a rejected version is never served).

Prints one table: labels fed back, training rows, feedback labels on the test side, the new
version's accuracy and weighted F1 on the held-out real traffic, the rule's decision, and the
serving champion's version, accuracy and weighted F1 on the same rows.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REAL = ROOT.parent / "shared" / "data" / "rakuten" / "labeled_text.csv"
TOKEN = "loop-benchmark"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic-rows", type=int, default=20_000)
    parser.add_argument("--steps", default="0,100,300,1000,3000")
    parser.add_argument("--held-out", type=int, default=1000)
    args = parser.parse_args()
    steps = sorted({int(s) for s in args.steps.split(",")})
    if not REAL.is_file():
        print(f"real rows not found at {REAL}: this benchmark needs the shared data folder")
        return 2

    home = Path(tempfile.mkdtemp(prefix="rakuten-loop-"))
    for key in [k for k in os.environ if k.startswith("RAKUTEN_")] + ["MLFLOW_TRACKING_URI"]:
        os.environ.pop(key, None)
    os.environ.update({"RAKUTEN_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"),
                       "RAKUTEN_SYNTHETIC_ROWS": str(args.synthetic_rows), "RAKUTEN_INITIAL_SHARE": "1.0",
                       "RAKUTEN_FEEDBACK_TOKEN": TOKEN, "RAKUTEN_INFERENCE_LOG_FLUSH_SECONDS": "0.2"})

    import mlflow.sklearn
    from dagster import DagsterInstance
    from fastapi.testclient import TestClient
    from sklearn.metrics import f1_score

    from api.main import create_app
    from rakuten_assets.cli.services import prepare_dagster_home
    from rakuten_assets.core.registry import ModelRegistry
    from rakuten_assets.core.settings import get_settings
    from rakuten_assets.core.store import ProductStore
    from rakuten_assets.definitions import defs

    settings = get_settings()
    prepare_dagster_home(settings)
    definitions = defs()
    registry = ModelRegistry(settings)
    store = ProductStore(settings.db_url)
    real = pd.read_csv(REAL).sample(frac=1.0, random_state=2026).reset_index(drop=True)
    real["description"] = real["description"].where(real["description"].notna(), None)
    held_out, pool = real.iloc[:args.held_out], real.iloc[args.held_out:]
    if steps[-1] > len(pool):
        print(f"only {len(pool)} rows in the labelling pool; steps up to {steps[-1]} asked")
        return 2
    texts = held_out[["designation", "description"]]

    def materialise(job: str, instance):
        result = definitions.resolve_job_def(job).execute_in_process(
            instance=instance, raise_on_error=False,
            run_config={"loggers": {"terminal": {"config": {"log_level": "WARNING"}}}})
        if not result.success:
            raise SystemExit(f"{job} failed")
        return {e.event_specific_data.materialization.asset_key.path[-1]:
                {k: getattr(v, "value", v) for k, v in e.event_specific_data.materialization.metadata.items()}
                for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}

    scores: dict[str, tuple[float, float]] = {}

    def score(version: str) -> tuple[float, float]:
        # the held-out rows only: they are never predicted through the API, so never labelled
        if version not in scores:
            model = mlflow.sklearn.load_model(registry.model_uri(version))
            predicted = model.predict(texts)
            truth = held_out["prdtypecode"].to_numpy()
            scores[version] = (float((predicted == truth).mean()),
                               float(f1_score(truth, predicted, average="weighted")))
        return scores[version]

    def serving() -> str:
        return str(registry.champion().version)

    started = time.perf_counter()
    rows = []
    with DagsterInstance.get() as instance, TestClient(create_app(settings)) as client:
        first = materialise("all_assets_job", instance)
        champion = first["trained_model"]["model_version"]
        if serving() != champion:
            raise SystemExit(f"the first model v{champion} was not made champion: {first['promoted_model']}")
        accuracy, f1 = score(champion)
        rows.append((0, first["training_dataset"]["rows"], 0, f"v{champion}", accuracy, f1,
                     "first champion", f"v{champion}", accuracy, f1))
        print(f"champion v{champion} on {args.synthetic_rows:,} synthetic rows: test weighted F1 "
              f"{first['model_evaluation']['weighted_f1']:.4f}; on {len(held_out)} held-out real rows: "
              f"accuracy {accuracy:.4f}, weighted F1 {f1:.4f}", flush=True)
        labelled = 0
        for k in [s for s in steps if s > 0]:
            new = pool.iloc[labelled:k]
            items = [{"designation": r.designation, "description": r.description} for r in new.itertuples()]
            answers = []
            for start in range(0, len(items), 256):
                response = client.post("/predict/batch", json={"items": items[start:start + 256]})
                response.raise_for_status()
                answers += response.json()["predictions"]
            while store.count_inference_rows() < labelled + len(items) + 0:
                time.sleep(0.1)
            feedback = [{"prediction_id": a["prediction_id"], "prdtypecode": int(code)}
                        for a, code in zip(answers, new["prdtypecode"])]
            for start in range(0, len(feedback), 1000):
                response = client.post("/feedback/batch", json={"items": feedback[start:start + 1000]},
                                       headers={"Authorization": f"Bearer {TOKEN}"})
                response.raise_for_status()
            labelled = k
            mats = materialise("training_job", instance)
            version = mats["trained_model"]["model_version"]
            accuracy, f1 = score(version)
            decision = mats["promoted_model"]
            champion = serving()
            champion_accuracy, champion_f1 = score(champion)
            rows.append((k, mats["training_dataset"]["rows"], mats["model_evaluation"]["feedback_labels_in_test"],
                         f"v{version}", accuracy, f1, decision["decision"], f"v{champion}",
                         champion_accuracy, champion_f1))
            print(f"{k} labels: v{version} accuracy {accuracy:.4f}, weighted F1 {f1:.4f}; "
                  f"{decision['decision']}: {decision['reason']}; serving v{champion} "
                  f"(accuracy {champion_accuracy:.4f})", flush=True)

    print(f"\nheld-out real traffic: {len(held_out)} rows of labeled_text.csv, never labelled; "
          f"synthetic catalogue: {args.synthetic_rows:,} rows; {time.perf_counter() - started:.0f} s")
    print("| labels fed back | training rows | feedback labels on the test side | new version | its accuracy "
          "| its weighted F1 | the rule | serving after | serving accuracy | serving weighted F1 |")
    print("|---:|---:|---:|---|---:|---:|---|---|---:|---:|")
    for (k, train_rows, test_labels, version, accuracy, f1, decision, champion, champion_accuracy,
         champion_f1) in rows:
        print(f"| {k:,} | {train_rows:,} | {test_labels} | {version} | {accuracy:.4f} | {f1:.4f} | {decision} "
              f"| {champion} | {champion_accuracy:.4f} | {champion_f1:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
