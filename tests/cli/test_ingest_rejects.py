"""`rakuten ingest` on a file with poison rows (issue 13: a 23-digit id aborted the whole file
with a traceback): exit 0, the good rows stored, each bad row named with its reason."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from rakuten_assets.cli.app import app


def test_bad_rows_are_named_and_the_rest_stored(rakuten_env, tmp_path):
    rows = [("Peluche Donald", "ok", "11", "1"), ("Livre", None, "12345678901234567890123", "2"),
            ("<b></b>", None, "13", "3"), ("Lampe", None, "1e30", "4"), ("Jeu PS4", None, "14", "5")]
    x = pd.DataFrame(rows, columns=["designation", "description", "productid", "imageid"])
    x.to_csv(tmp_path / "X.csv")
    pd.DataFrame({"prdtypecode": [10] * len(rows)}).to_csv(tmp_path / "Y.csv")
    result = CliRunner().invoke(app, ["ingest", "--x", str(tmp_path / "X.csv"), "--y", str(tmp_path / "Y.csv")])
    assert result.exit_code == 0, result.output
    assert "(ingest_job): SUCCESS" in result.output and "2 stored, 3 rejected" in result.output
    assert "row 2 (productid 12345678901234567890123): productid outside int64" in result.output
    assert "row 3 (productid 13): designation has no text once cleaned" in result.output
    assert "row 4 (productid 1e30): productid outside int64" in result.output
    assert "Traceback" not in result.output
