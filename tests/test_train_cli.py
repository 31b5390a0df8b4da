"""End to end: python -m charrnn.train in a subprocess, as a user runs it."""

import os
import re
import shutil
import signal

import pytest

from conftest import TINY_FLAGS, assert_one_line_error, run_module, start_training, write_corpus


def test_train_prints_progress_and_writes_the_run_folder(trained_run):
    root, stdout = trained_run
    for step in range(1, 13):
        assert re.search(rf"^{step}/12 \(epoch 0\), train_loss = \d+\.\d{{3}}, time/batch = \d+\.\d{{3}}$",
                         stdout, re.M), stdout
    assert re.search(r"^6/12 \(epoch 0\), val_loss = \d+\.\d{3}", stdout, re.M)
    assert "sample with: python -m charrnn.sample --save_dir save" in stdout
    save = root / "save"
    assert {"config.json", "vocab.json", "checkpoint", "ckpt-12.index", "best"} <= set(os.listdir(save))
    assert len(os.listdir(root / "logs" / "e2e")) >= 1


def test_continuing_keeps_the_step_counter(trained_run, tmp_path):
    root, _ = trained_run
    shutil.copytree(root / "save", tmp_path / "save")  # a run folder works wherever it is copied to
    shutil.copytree(root / "data", tmp_path / "data")
    result = run_module("charrnn.train", "--data_dir", "data", "--init_from", "save", "--max_steps", 14,
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "training steps 12 to 14" in result.stdout
    assert re.search(r"^13/14 \(epoch 0\), train_loss", result.stdout, re.M)
    assert not re.search(r"^1/14 ", result.stdout, re.M)
    assert (tmp_path / "save" / "ckpt-14.index").exists()


def error_run(tmp_path, *flags, text=None, data=None):
    if text is not None or data is not None:
        folder = tmp_path / "data"
        folder.mkdir(exist_ok=True)
        (folder / "input.txt").write_bytes(data if data is not None else text.encode())
    return run_module("charrnn.train", "--data_dir", "data", *TINY_FLAGS, *flags, cwd=tmp_path, timeout=120)


# One of each kind of failure, as the user sees it; the checks themselves are tested in-process
# (test_launch, test_config, test_corpus).
@pytest.mark.parametrize("flags, text, message", [
    ((), None, "data does not exist"),
    ((), " \n \n\t", "only whitespace"),
    (("--batch_size", 50, "--seq_length", 50), "short text " * 40, "lower --batch_size or --seq_length"),
    (("--val_frac", 1.5), "abc " * 500, "--val_frac must be in (0, 1)"),
    (("--model", "lstmx"), "abc " * 500, "--model"),
    (("--rnn_size", "big"), "abc " * 500, "--rnn_size"),
])
def test_bad_input_is_one_line(tmp_path, flags, text, message):
    assert_one_line_error(error_run(tmp_path, *flags, text=text), message)


def test_invalid_utf8_names_the_byte_offset(tmp_path):
    assert_one_line_error(error_run(tmp_path, data=b"hello world\n" * 10 + b"\xc3\x28 tail"),
                          "data/input.txt is not valid utf-8", "byte offset 120")


@pytest.fixture
def saved_run(trained_run, tmp_path):
    root, _ = trained_run
    shutil.copytree(root / "save", tmp_path / "save")
    write_corpus(tmp_path / "data")
    return tmp_path


def test_a_save_folder_holding_a_run_is_not_overwritten(saved_run):
    assert_one_line_error(error_run(saved_run), "already holds a run", "--init_from save")


def test_continuing_on_text_with_new_characters_is_refused(saved_run):
    with open(saved_run / "data" / "input.txt", "a", encoding="utf-8") as f:
        f.write("Zwölf ☃\n")
    assert_one_line_error(error_run(saved_run, "--init_from", "save"), "'ö'", "'☃'")


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_saves_and_the_continued_run_keeps_the_step(tmp_path, signum, code):
    write_corpus(tmp_path / "data")
    process = start_training(tmp_path, "--max_steps", 100000)
    try:
        for line in process.stdout:
            if line.startswith("5/"):
                break
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    name = signal.Signals(signum).name
    step = int(re.search(rf"interrupted by {name} at step (\d+); saved save/ckpt-\1", stdout)[1])
    assert step >= 5 and (tmp_path / "save" / f"ckpt-{step}.index").exists()
    assert "continue with: python -m charrnn.train --save_dir save --init_from save" in stdout
    result = run_module("charrnn.train", "--save_dir", "save", "--init_from", "save", "--max_steps", step + 2,
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"training steps {step} to {step + 2}" in result.stdout
