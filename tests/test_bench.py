import json

import pytest

from charrnn.bench import parse_row
from charrnn.core.config import ModelConfig
from charrnn.core.errors import CharRNNError
from charrnn.training.speed import training_flops_per_batch

from conftest import assert_one_line_error, run_module


def test_flops_of_the_default_model():
    # 2 x 128 LSTM, 65 characters, batch 50 x 50: 4.06 GFLOP per training step, as in the issue.
    flops = training_flops_per_batch(ModelConfig(vocab_size=65), 50, 50)
    assert flops == pytest.approx(4.06e9, rel=1e-3)


def test_rows_parse_and_bad_rows_are_named():
    assert parse_row("gru:3:512") == ("gru", 3, 512, ())
    assert parse_row("lstm:2:128:layer_norm:residual") == ("lstm", 2, 128, ("layer_norm", "residual"))
    for text in ("lstm:2", "cnn:1:128", "lstm:0:128", "lstm:x:1", "lstm:2:128:dropout"):
        with pytest.raises(CharRNNError, match=text):
            parse_row(text)


def test_bench_writes_a_report(tmp_path):
    result = run_module("charrnn.bench", "--rows", "lstm:2:8,gru:1:8:layer_norm", "--steps", 2, "--warmup", 1,
                        "--batch_size", 3, "--seq_length", 5, "--out", "report.json", "--summary_dir", "logs",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert {"device", "tensorflow", "precision", "threads", "rows"} <= set(report)
    assert [(r["model"], r["num_layers"], r["rnn_size"]) for r in report["rows"]] == [("lstm", 2, 8), ("gru", 1, 8)]
    for row in report["rows"]:
        assert row["seconds_per_batch"] > 0 and row["chars_per_second"] > 0 and row["peak_rss_mib"] > 0
    assert [r["layer_norm"] for r in report["rows"]] == [False, True]
    assert "lstm 2 x 8" in result.stdout and "gru 1 x 8    +layer_norm" in result.stdout and (tmp_path / "logs").is_dir()


def test_bad_bench_flags_are_one_line(tmp_path):
    assert_one_line_error(run_module("charrnn.bench", "--rows", "lstm:2", cwd=tmp_path), "lstm:2")
    assert_one_line_error(run_module("charrnn.bench", "--precision", "int8", cwd=tmp_path), "--precision")
