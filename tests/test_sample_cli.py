"""End to end: python -m charrnn.sample in a fresh process on a run folder that training wrote."""

import json
import os
import re
import shutil
import signal

import pytest

from conftest import assert_one_line_error, run_module, start_module


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


def split_samples(output):
    """{seed: text} of the output of --num_samples."""
    parts = re.split(r"^===== sample \d+ of \d+ \(seed (\d+)\) =====\n", output, flags=re.M)
    assert parts[0] == ""
    return {int(seed): text.rstrip("\n") if i < len(parts) // 2 - 1 else text
            for i, (seed, text) in enumerate(zip(parts[1::2], parts[2::2]))}


def test_argmax_top_k_batches_streams_and_seeds(trained_run):
    root, _ = trained_run
    assert sample(root, "-n", 80, "--sample", 0) == sample(root, "-n", 80, "--top_k", 1, "--seed", 3)
    batch = split_samples(sample(root, "-n", 80, "--seed", 11, "--num_samples", 3, "--prime", "All:"))
    assert sorted(batch) == [11, 12, 13] and all(len(t) == len("All:") + 80 for t in batch.values())
    assert len(set(batch.values())) == 3
    # Sample i of a batch is the sample drawn alone with seed + i, in another process, streamed.
    assert sample(root, "-n", 80, "--seed", 12, "--prime", "All:", "--stream") == batch[12]


def test_a_prime_file(trained_run):
    root, _ = trained_run
    (root / "prime.txt").write_text("First Citizen:\n")
    text = sample(root, "-n", 10, "--prime_file", "prime.txt", "--sample", 0)
    assert text.startswith("First Citizen:\n") and len(text) == len("First Citizen:\n") + 10


def peak_rss_mib(root, *flags) -> float:
    process = start_module("charrnn.sample", "--save_dir", "save", *flags, cwd=root)
    process.stdout.read()  # the pipe must be drained for the process to finish
    _, status, usage = os.wait4(process.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return usage.ru_maxrss / 1024


def test_a_long_sample_runs_in_constant_memory(trained_run):
    root, _ = trained_run
    # Both lengths run the XLA-compiled loop (from 8,192 characters), whose compilation alone took
    # about 110 MiB more than the plain graph of a shorter sample here.
    short, long = peak_rss_mib(root, "-n", 10_000), peak_rss_mib(root, "-n", 510_000)
    # Keeping every step's logits (float32, about 30 characters) for the 500,000 more characters
    # would take 57 MiB, their int32 ids 1.9 MiB; a few MiB between two processes is noise.
    assert long - short < 25, (short, long)


def test_ctrl_c_while_streaming_keeps_what_was_printed(trained_run):
    root, _ = trained_run
    process = start_module("charrnn.sample", "--save_dir", "save", "-n", 100_000_000, "--stream", cwd=root)
    try:
        first = process.stdout.read(2000)
        process.send_signal(signal.SIGINT)
        rest, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130 and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1 and "interrupted" in stderr
    assert len(first) == 2000 and (first + rest).endswith("\n")


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
    (("--top_p", 0), "--top_p must be in (0, 1]"), (("--top_p", 1.5), "--top_p"), (("--top_k", -1), "--top_k"),
    (("--num_samples", 0), "--num_samples"), (("--num_samples", 2, "--stream"), "--stream"),
    (("--prime", "a", "--prime_file", "prime.txt"), "not both"), (("--prime_file", "missing.txt"), "missing.txt"),
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
