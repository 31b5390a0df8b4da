"""Faults injected into real training processes: kill -9, a diverging loss, a damaged checkpoint."""

import random
import re
import threading
import time

from conftest import TINY_FLAGS, assert_one_line_error, run_module, start_training, write_corpus

TARGET_STEP = 60


def latest_step(root) -> int:
    index = root / "save" / "checkpoint"
    if not index.exists():
        return 0
    return int(re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', index.read_text(), re.M)[1])


WAIT = 120  # seconds any one wait may take before the test fails
STEP_LINE = re.compile(r"^(\d+)/\d+ \(epoch \d+\), train_loss")


def test_kill_9_at_random_moments_never_loses_the_run(tmp_path):
    """Four SIGKILLs at random moments, some while a checkpoint is being written (one is saved every
    step); each continuation must find an intact checkpoint listed, with nothing damaged to skip,
    and make progress before it is killed. The TensorBoard curve of the four kills and the final
    continuation holds each step once."""
    write_corpus(tmp_path / "data")
    rng = random.Random(0)
    steps = [0]
    for kill in range(4):
        resume = ["--init_from", "save"] if kill else []
        process = start_training(tmp_path, "--max_steps", 10_000, "--save_every", 1, "--eval_every", 7,
                                 "--run_name", "killed", *resume)
        give_up = threading.Timer(WAIT, process.kill)  # bounds the wait for the line below
        give_up.start()
        try:
            # Waits for an event, not a time: step (last checkpoint + 2) printed means the checkpoint
            # of the step before it is listed, however loaded the machine. Then a random while longer.
            for line in process.stdout:
                match = STEP_LINE.match(line)
                if match and int(match[1]) >= steps[-1] + 2:
                    break
            else:
                raise AssertionError(f"no step {steps[-1] + 2} within {WAIT} s")
            time.sleep(rng.uniform(0, 0.3))
        finally:
            give_up.cancel()
            process.kill()  # SIGKILL, the fault under test; also ends the process if the test fails
        _, stderr = process.communicate(timeout=60)
        assert "damaged" not in stderr and "Traceback" not in stderr, stderr
        steps.append(latest_step(tmp_path))
    assert all(b > a for a, b in zip(steps, steps[1:])), steps  # every continuation made progress
    result = run_module("charrnn.train", "--save_dir", "save", "--init_from", "save", "--max_steps", TARGET_STEP,
                        "--save_every", 1, cwd=tmp_path)
    assert result.returncode == 0 and not result.stderr, result.stderr
    assert f"training steps {steps[-1]} to {TARGET_STEP}" in result.stdout
    assert latest_step(tmp_path) == TARGET_STEP
    assert not [p for p in (tmp_path / "save").iterdir() if "temp" in p.name or p.name.endswith(".tmp")]
    sample = run_module("charrnn.sample", "--save_dir", "save", "-n", 20, cwd=tmp_path)
    assert sample.returncode == 0 and len(sample.stdout) == 21, sample.stderr
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logged = [e.step for e in EventAccumulator(str(tmp_path / "logs" / "killed"),
                                               size_guidance={"tensors": 0}).Reload().Tensors("train/loss")]
    assert logged == sorted(set(logged)) and logged[-1] == TARGET_STEP, logged  # no step twice


def test_a_diverging_run_stops_and_its_last_good_checkpoint_samples(tmp_path):
    write_corpus(tmp_path / "data")
    result = run_module("charrnn.train", "--data_dir", "data", *TINY_FLAGS, "--learning_rate", 3e38,
                        "--save_every", 1, "--max_steps", 50, cwd=tmp_path)
    assert_one_line_error(result, "became", "at step", "last good checkpoint: save/ckpt-", "--learning_rate")
    step = int(re.search(r"at step (\d+)", result.stderr)[1])
    assert latest_step(tmp_path) == step - 1
    sample = run_module("charrnn.sample", "--save_dir", "save", "-n", 30, "--sample", 0, cwd=tmp_path)
    assert sample.returncode == 0, sample.stderr
    assert len(sample.stdout) == 31


def test_sample_evaluate_and_a_continuation_use_the_newest_intact_checkpoint_and_say_so(tmp_path):
    write_corpus(tmp_path / "data")
    result = run_module("charrnn.train", "--data_dir", "data", *TINY_FLAGS, "--save_every", 3, "--max_steps", 9,
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = tmp_path / "save" / "ckpt-9.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])

    def assert_fell_back(stderr):
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and "damaged" in lines[0] and "ckpt-9" in lines[0], lines
        assert "using save/ckpt-6" in lines[0], lines

    for module, flags in (("charrnn.sample", ("-n", 60, "--seed", 3)), ("charrnn.evaluate", ())):
        fallen_back = run_module(module, "--save_dir", "save", *flags, cwd=tmp_path)
        assert fallen_back.returncode == 0, fallen_back.stderr
        assert_fell_back(fallen_back.stderr)
        # What it printed is ckpt-6's: the same text, the same loss.
        direct = run_module(module, "--save_dir", "save", "--checkpoint", "save/ckpt-6", *flags, cwd=tmp_path)
        assert direct.returncode == 0 and direct.stderr.strip() == "", direct.stderr
        assert fallen_back.stdout == direct.stdout and fallen_back.stdout.strip()

    result = run_module("charrnn.train", "--save_dir", "save", "--init_from", "save", "--max_steps", 10,
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert_fell_back(result.stderr)
    assert "training steps 6 to 10" in result.stdout


def test_a_checkpoint_that_cannot_be_written_stops_the_run_with_one_line_and_keeps_the_earlier_ones(tmp_path):
    """The best checkpoint of step 6 cannot be written: a file stands where TensorFlow makes its
    temporary folder (as a full disk or a read-only folder would fail it, which root ignores)."""
    write_corpus(tmp_path / "data")
    (tmp_path / "save" / "best").mkdir(parents=True)
    (tmp_path / "save" / "best" / "ckpt-6_temp").write_text("")
    result = run_module("charrnn.train", "--data_dir", "data", *TINY_FLAGS, "--save_every", 3, "--eval_every", 6,
                        "--max_steps", 9, cwd=tmp_path)
    assert_one_line_error(result, "cannot write a checkpoint into save/best", "Not a directory",
                          "the checkpoints saved before are intact (newest: save/ckpt-3)")
    assert "6/9 (epoch 0), train_loss" in result.stdout and "7/9" not in result.stdout
    assert latest_step(tmp_path) == 3
    sampled = run_module("charrnn.sample", "--save_dir", "save", "-n", 40, cwd=tmp_path)
    assert sampled.returncode == 0 and sampled.stderr.strip() == "" and len(sampled.stdout) >= 40, sampled.stderr


def checkpoint_tensors(path) -> dict:
    """Every tensor a checkpoint holds, by name, but those that differ between a run ended at a
    step and continued and one straight through: how many saves it took, the wall-clock seconds it
    has taken, and the best validation loss (the first part's end was validated too)."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(path))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if not name.startswith(("save_counter", "time_spent", "best_val_loss"))}


def test_a_deterministic_run_stopped_and_continued_equals_the_run_straight_through(tmp_path):
    """Through charrnn.train with --seed --deterministic and dropout: 30 steps straight, and 13
    steps then 17 more with --init_from, give the same loss at every step and the same checkpoint,
    bit for bit."""
    import numpy as np

    write_corpus(tmp_path / "data")
    flags = ("--dropout", 0.3, "--deterministic", "--print_every", 1, "--eval_every", 100, "--save_every", 100)

    def train(save, *more):
        result = run_module("charrnn.train", "--data_dir", "data", *TINY_FLAGS, *flags, "--save_dir", save,
                            "--log_dir", f"{save}_logs", *more, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return {int(m[1]): m[2] for m in re.finditer(r"^(\d+)/\d+ \(epoch \d+\), train_loss = ([\d.]+)",
                                                    result.stdout, re.M)}

    straight = train("straight", "--max_steps", 30)
    in_parts = train("parts", "--max_steps", 13)
    in_parts.update(train("parts", "--init_from", "parts", "--max_steps", 30))
    assert sorted(straight) == sorted(in_parts) == list(range(1, 31))
    assert in_parts == straight
    expected, continued = checkpoint_tensors(tmp_path / "straight" / "ckpt-30"), checkpoint_tensors(
        tmp_path / "parts" / "ckpt-30")
    assert sorted(expected) == sorted(continued) and len(expected) > 10
    for name in expected:
        np.testing.assert_array_equal(expected[name], continued[name], err_msg=name)


def test_a_disk_short_of_the_kept_checkpoints_is_one_warning_and_the_run_goes_on(tmp_path):
    """A trillion checkpoints kept need more than any disk has."""
    write_corpus(tmp_path / "data")
    result = run_module("charrnn.train", "--data_dir", "data", *TINY_FLAGS, "--max_steps", 3,
                        "--keep_checkpoints", 10**12, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and re.fullmatch(r"warning: save has [\d,]+ MB free, but the 1000000000001 checkpoints "
                                            r"kept need about [\d,]+ MB", lines[0]), lines
    assert latest_step(tmp_path) == 3
