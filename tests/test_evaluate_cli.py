"""End to end: python -m charrnn.evaluate on the run folder that training wrote."""

import re

import pytest

from conftest import VERSE, assert_one_line_error, run_module

SCORE = re.compile(r"^(.*): (\d+\.\d{4}) nats/char, (\d+\.\d{4}) bits/char, perplexity (\d+\.\d{3}) "
                   r"\(([\d,]+) characters scored\)$")


def evaluate(root, *flags):
    result = run_module("charrnn.evaluate", "--save_dir", "save", *flags, cwd=root)
    assert result.returncode == 0, result.stderr
    match = SCORE.match(result.stdout.strip())
    assert match, result.stdout
    return match[1], float(match[2]), float(match[3]), int(match[5].replace(",", ""))


def test_validation_split_matches_the_figure_training_printed(trained_run):
    root, stdout = trained_run
    val_loss = float(re.findall(r"^12/12 \(epoch 0\), val_loss = (\d+\.\d{3})", stdout, re.M)[-1])
    what, nats, bits, count = evaluate(root)
    assert what == "val split of data" and nats == pytest.approx(val_loss, abs=6e-4)
    assert bits == pytest.approx(nats / 0.6931472, abs=2e-4)
    assert count == int(6000 * 0.05) - 1


def test_test_split_and_a_text_file(trained_run):
    root, _ = trained_run
    assert evaluate(root, "--split", "test")[0] == "test split of data"
    (root / "other.txt").write_text(VERSE * 3)
    what, nats, _, count = evaluate(root, "--text_file", "other.txt", "--checkpoint", "best")
    assert what == "other.txt" and count == len(VERSE * 3) - 1 and nats > 0


def test_unknown_characters_are_named_unless_skipped(trained_run):
    root, _ = trained_run
    (root / "odd.txt").write_text("First Citizen: ☃ Zebra\n")
    assert_one_line_error(run_module("charrnn.evaluate", "--text_file", "odd.txt", cwd=root),
                          "'☃'", "'Z'", "--skip_unknown")
    what, _, _, count = evaluate(root, "--text_file", "odd.txt", "--skip_unknown")
    assert "(3 unknown characters left out)" in what and count == len("First Citizen: ☃ Zebra\n") - 3 - 1


@pytest.mark.parametrize("flags, message", [
    (("--text_file", "missing.txt"), "missing.txt does not exist"),
    (("--save_dir", "nowhere"), "save folder nowhere does not exist"),
    (("--split", "train"), "--split"),
    (("--batch_size", 0), "--batch_size"),
])
def test_bad_input_is_one_line(trained_run, flags, message):
    root, _ = trained_run
    assert_one_line_error(run_module("charrnn.evaluate", *flags, cwd=root), message)
