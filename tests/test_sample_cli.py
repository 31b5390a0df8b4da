"""End to end: python -m charrnn.sample in a fresh process on a run folder that training wrote."""

import json
import os
import shutil

import pytest

from conftest import assert_one_line_error, run_module


def sample(root, *flags):
    result = run_module("charrnn.sample", "--save_dir", "save", *flags, cwd=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("\n")
    return result.stdout[:-1]


def vocabulary(root):
    return set(json.loads((root / "save" / "vocab.json").read_text())["chars"])


def test_sample_prints_the_asked_length_of_vocabulary_characters(trained_run):
    root, _ = trained_run
    text = sample(root, "-n", 300)
    assert len(text) == 300 and set(text) <= vocabulary(root)


def test_prime_is_printed_first(trained_run):
    root, _ = trained_run
    text = sample(root, "-n", 50, "--prime", "First Citizen:\n", "--checkpoint", "best")
    assert text.startswith("First Citizen:\n") and len(text) == len("First Citizen:\n") + 50


def test_argmax_is_deterministic_and_seeds_reproduce(trained_run):
    root, _ = trained_run
    assert sample(root, "-n", 80, "--sample", 0) == sample(root, "-n", 80, "--sample", 0, "--seed", 3)
    assert sample(root, "-n", 80, "--seed", 11) == sample(root, "-n", 80, "--seed", 11)
    assert sample(root, "-n", 80, "--seed", 11) != sample(root, "-n", 80, "--seed", 12)


def test_a_checkpoint_path_can_be_named(trained_run):
    root, _ = trained_run
    assert len(sample(root, "-n", 20, "--checkpoint", os.path.join("save", "ckpt-12"))) == 20


@pytest.fixture
def run_copy(trained_run, tmp_path):
    root, _ = trained_run
    shutil.copytree(root / "save", tmp_path / "save")
    return tmp_path


@pytest.mark.parametrize("flags, message", [
    (("--prime", "First ☃€"), "vocabulary: '€', '☃'"),
    (("--temperature", 0), "--temperature must be > 0"),
    (("-n", -5), "-n must not be negative"),
    (("--sample", 3), "--sample"),
    (("--checkpoint", "save/ckpt-999"), "ckpt-999 does not exist"),
])
def test_bad_sampling_flags_are_one_line(run_copy, flags, message):
    assert_one_line_error(run_module("charrnn.sample", "--save_dir", "save", *flags, cwd=run_copy), message)


def test_a_save_folder_without_checkpoints_is_one_line(run_copy):
    for path in run_copy.joinpath("save").glob("*ckpt*"):
        path.unlink()
    (run_copy / "save" / "checkpoint").unlink()
    assert_one_line_error(run_module("charrnn.sample", "--save_dir", "save", cwd=run_copy), "no latest checkpoint")


def test_a_corrupt_config_is_one_line(run_copy):
    (run_copy / "save" / "config.json").write_text("garbage")
    assert_one_line_error(run_module("charrnn.sample", "--save_dir", "save", cwd=run_copy),
                          "config.json is not valid JSON")


def test_a_missing_save_folder_is_one_line(tmp_path):
    assert_one_line_error(run_module("charrnn.sample", "--save_dir", "nowhere", cwd=tmp_path), "nowhere does not exist")
