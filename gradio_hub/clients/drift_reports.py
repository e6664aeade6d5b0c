"""Drift reports as the hub shows them: the HTML files (only those the store or the reports folder
name can be opened) and the drifted share over time."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from gradio_hub.clients.store import StoreReader
from rakuten_assets.core.settings import Settings

HISTORY_COLUMNS = ["time", "drifted share", "drift", "status", "rows compared", "report"]


def drift_reports(settings: Settings, store: StoreReader | None = None) -> dict[str, Path]:
    """Drift report HTML files by name, newest first: the ones the `drift_reports` table points
    to, and any `drift*.html` under RAKUTEN_HOME/reports. Only these can be shown: a name coming
    back from the browser is looked up here, never used as a path."""
    found: list[Path] = []
    if store is not None:
        try:
            for raw in store.drift_records()["html_path"].dropna():
                path = Path(str(raw))
                if path.suffix == ".html" and path.is_file():
                    found.append(path)
        except Exception:  # noqa: BLE001 - the files alone still work
            pass
    folder = settings.reports_dir
    if folder.is_dir():
        found.extend(folder.glob("**/drift*.html"))
    unique = {p.resolve(): p for p in found}
    ordered = sorted(unique.values(), key=lambda p: p.stat().st_mtime, reverse=True)
    return {p.name: p for p in ordered}


def _history_from_files(settings: Settings) -> pd.DataFrame:
    rows = []
    folder = settings.reports_dir
    for path in sorted(folder.glob("**/drift*.json")) if folder.is_dir() else []:
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        share = payload.get("drifted_share", payload.get("drift_share"))
        if share is None:
            continue
        rows.append({"time": payload.get("created_at") or pd.Timestamp(path.stat().st_mtime, unit="s", tz="UTC"),
                     "drifted share": float(share),
                     "drift": "detected" if payload.get("drift_detected") else "not detected",
                     "status": str(payload.get("status", "")),
                     "rows compared": payload.get("rows_current"), "report": path.stem})
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def drift_history(settings: Settings, store: StoreReader | None = None) -> pd.DataFrame:
    """Drift share over time: the `drift_reports` table (what the API exports too) when it has
    rows, else the JSON summaries written beside the HTML reports."""
    frame = pd.DataFrame(columns=HISTORY_COLUMNS)
    if store is not None:
        try:
            records = store.drift_records()
        except Exception:  # noqa: BLE001
            records = pd.DataFrame()
        if not records.empty:
            frame = pd.DataFrame({
                "time": records["created_at"], "drifted share": records["drifted_share"].astype(float),
                "drift": ["detected" if d else "not detected" for d in records["drift_detected"]],
                "status": records["status"].astype(str), "rows compared": records["rows_current"],
                "report": [Path(str(p)).stem if p else "" for p in records["html_path"]]})
    if frame.empty:
        frame = _history_from_files(settings)
    if frame.empty:
        return frame
    times = pd.to_datetime(frame["time"], utc=True, errors="coerce")
    frame = frame.assign(time=times.dt.tz_convert("UTC").dt.tz_localize(None)).dropna(subset=["time"])
    return frame.sort_values("time").reset_index(drop=True)
