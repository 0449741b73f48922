"""The benchmark script still runs (tiny sizes, no timing asserted: speed is measured by
scripts/bench-python.sh, never in tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "checkpoint_bench.py"


def test_checkpoint_bench_runs_every_row(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--threads", "3",
            "--steps", "2",
            "--concurrency", "2",
            "--list-checkpoints", "5",
            "--list-repeat", "1",
            "--dir", str(tmp_path),
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    report = json.loads(out[out.index("{\n"):])
    assert [r["anchor"] for r in report["rows"]] == ["SqliteSaver", "AsyncSqliteSaver", "InMemorySaver", "SqliteSaver"]
    assert all(r["botstore"] > 0 and r["anchor_value"] > 0 for r in report["rows"])
    assert report["fsync_per_s"] > 0
