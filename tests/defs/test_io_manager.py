"""The project's IO manager: step outputs pickled at protocol 5 under the given folder, and read
back whole by the next step (the TF-IDF matrices pass between steps this way)."""

from __future__ import annotations

import dagster as dg
import numpy as np
import scipy.sparse as sp

from rakuten_assets.defs.resources import PicklingFilesystemIOManager


def test_outputs_round_trip_through_protocol_5_pickles(tmp_path):
    matrix = sp.random(50, 40, density=0.1, format="csr", dtype=np.float32, random_state=0)

    @dg.asset
    def upstream() -> sp.csr_matrix:
        return matrix

    @dg.asset
    def downstream(upstream: sp.csr_matrix) -> float:
        return float(upstream.sum())

    result = dg.materialize([upstream, downstream],
                            resources={"io_manager": PicklingFilesystemIOManager(base_dir=str(tmp_path))})
    assert result.success
    assert result.output_for_node("downstream") == float(matrix.sum())
    stored = tmp_path / "upstream"
    assert stored.read_bytes()[:2] == b"\x80\x05"  # pickle protocol 5
