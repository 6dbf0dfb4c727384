from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.bench.cli import main
from loadtests.bench.trace import read_trace


def test_gen_writes_a_readable_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "trace.jsonl"
    argv = ["gen", "--workload", "shared-prefix", "--seed", "3", "--rate", "5"]
    argv += ["--param", "groups=2", "--param", "prefix_tokens=100", "--out", str(out)]
    assert main(argv) == 0
    records = list(read_trace(out))
    assert len(records) == 2 * 5
    assert "wrote 10 requests" in capsys.readouterr().out


def test_gen_reports_bad_parameters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["gen", "--workload", "no-reuse", "--rate", "5", "--out", str(tmp_path / "t.jsonl")]
    assert main(argv) == 2  # endless without --duration or --count
    assert "endless" in capsys.readouterr().err
