import io
import os
import re

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from charrnn import checkpoints
from charrnn.config import ModelConfig, RunConfig, TrainConfig
from charrnn.data import make_splits
from charrnn.errors import CharRNNError
from charrnn.run_folder import read_run_files
from charrnn.trainer import Trainer
from charrnn.vocab import Vocab

from conftest import VERSE

TEXT = (VERSE * 10)[:1200]
VOCAB = Vocab.from_text(TEXT)


def tiny_run(**train):
    defaults = dict(batch_size=4, seq_length=10, val_frac=0.1, learning_rate=0.01, seed=1, eval_every=10,
                    save_every=10)
    defaults.update(train)
    return RunConfig(model=ModelConfig(vocab_size=len(VOCAB), rnn_size=16, num_layers=2),
                     train=TrainConfig(**defaults), run_name="tiny")


def make_trainer(tmp_path, run):
    train, splits = make_splits(VOCAB.encode(TEXT), run.train.batch_size, run.train.seq_length,
                                run.train.val_frac)
    out = io.StringIO()
    trainer = Trainer(run, VOCAB, train, splits.val, str(tmp_path / "save"), str(tmp_path / "logs"), out=out)
    return trainer, out


def losses_by_step(output: str) -> dict:
    return {int(m[1]): float(m[2]) for m in re.finditer(r"^(\d+)/\d+ \(epoch \d+\), train_loss = ([\d.]+)", output, re.M)}


def test_training_runs_learns_and_writes_a_run_folder(tmp_path):
    trainer, out = make_trainer(tmp_path, tiny_run(max_steps=40))
    assert len(trainer.train_batches) == 26
    result = trainer.train()
    assert result.step == 40 and not result.interrupted
    losses = losses_by_step(out.getvalue())
    assert sorted(losses) == list(range(1, 41))
    assert losses[40] < 0.9 * losses[1]
    assert "(epoch 1), train_loss" in out.getvalue() and "val_loss" in out.getvalue()
    assert result.median_time_per_batch > 0 and np.isfinite(result.best_val_loss)

    save = tmp_path / "save"
    config, vocab = read_run_files(str(save))
    assert config == trainer.run and vocab == VOCAB
    assert checkpoints.find_checkpoint(str(save)).endswith("ckpt-40")
    assert checkpoints.find_checkpoint(str(save), "best")
    for name in ("config.json", "vocab.json", "checkpoint"):
        assert "/" + str(tmp_path).strip("/") not in (save / name).read_text()

    events = EventAccumulator(str(tmp_path / "logs" / "tiny"), size_guidance={"tensors": 0}).Reload()
    tags = set(events.Tags()["tensors"])
    assert {"train/loss", "val/loss", "time_per_batch", "chars_per_second", "learning_rate", "grad_norm",
            "sample"} <= tags
    assert [e.step for e in events.Tensors("train/loss")] == list(range(1, 41))
    learning_rates = {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in events.Tensors("learning_rate")}
    assert learning_rates[26] == pytest.approx(0.01) and learning_rates[27] == pytest.approx(0.01 * 0.97)


def test_continued_run_matches_an_uninterrupted_one(tmp_path):
    straight, straight_out = make_trainer(tmp_path / "a", tiny_run(max_steps=36))
    straight.train()

    first, first_out = make_trainer(tmp_path / "b", tiny_run(max_steps=18))
    first.train()
    second, second_out = make_trainer(tmp_path / "b", tiny_run(max_steps=36))
    second.restore(checkpoints.find_checkpoint(str(tmp_path / "b" / "save")))
    assert second.step == 18
    second.train()

    assert second.step == straight.step == 36
    assert float(second.learning_rate(second.step)) == float(straight.learning_rate(straight.step))
    expected = losses_by_step(straight_out.getvalue())
    resumed = {**losses_by_step(first_out.getvalue()), **losses_by_step(second_out.getvalue())}
    assert sorted(resumed) == sorted(expected)
    for step in expected:
        assert resumed[step] == pytest.approx(expected[step], abs=2e-3), step
    for a, b in zip(straight.model.weights, second.model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-4)


def before_step(trainer, at: int, action):
    """Runs `action()` just before the training step that starts at step `at`."""
    train_step = trainer._train_step

    def step_with_action(inputs, targets):
        if trainer.step == at:
            action()
        return train_step(inputs, targets)

    trainer._train_step = step_with_action


def test_ctrl_c_saves_the_current_step(tmp_path):
    trainer, _ = make_trainer(tmp_path, tiny_run(max_steps=30))

    def press_ctrl_c():
        raise KeyboardInterrupt

    before_step(trainer, 7, press_ctrl_c)
    result = trainer.train()
    assert result.interrupted and result.step == 7
    assert result.checkpoint.endswith("ckpt-7") and os.path.exists(result.checkpoint + ".index")


def test_a_diverging_run_stops_without_saving_the_bad_step(tmp_path):
    trainer, _ = make_trainer(tmp_path, tiny_run(save_every=1, max_steps=20))
    bias = trainer.model.dense.bias
    before_step(trainer, 5, lambda: bias.assign(tf.fill(bias.shape, float("nan"))))
    with pytest.raises(CharRNNError, match="loss became nan at step 6.*ckpt-5"):
        trainer.train()
    assert checkpoints.find_checkpoint(str(tmp_path / "save")).endswith("ckpt-5")
