import numpy as np
import pytest
import tensorflow as tf

from charrnn import checkpoints
from charrnn.config import ModelConfig
from charrnn.errors import CharRNNError
from charrnn.model import CharRNN


def build(rnn_size=8, num_layers=2, model="lstm"):
    model = CharRNN(ModelConfig(vocab_size=7, model=model, rnn_size=rnn_size, num_layers=num_layers))
    model.build_variables()
    return model


def test_every_model_weight_round_trips_through_a_checkpoint(tmp_path):
    saved = build()
    store = checkpoints.CheckpointStore(str(tmp_path), tf.train.Checkpoint(model=saved), keep=2)
    path = store.save(3)
    loaded = build()
    checkpoints.restore(tf.train.Checkpoint(model=loaded), path)
    assert len(loaded.weights) == 1 + 2 * 3 + 2
    for a, b in zip(saved.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_latest_keeps_the_last_few_and_best_is_kept_apart(tmp_path):
    store = checkpoints.CheckpointStore(str(tmp_path), tf.train.Checkpoint(model=build()), keep=2)
    for step in (1, 2, 3):
        store.save(step)
    store.save_best(1)
    assert store.save(3).endswith("ckpt-3")  # saving the same step twice writes nothing new
    assert checkpoints.find_checkpoint(str(tmp_path), "latest").endswith("ckpt-3")
    assert checkpoints.find_checkpoint(str(tmp_path), "best").endswith("best/ckpt-1")
    assert sorted(p.name for p in tmp_path.glob("ckpt-*.index")) == ["ckpt-2.index", "ckpt-3.index"]


def test_index_files_hold_no_absolute_paths(tmp_path):
    store = checkpoints.CheckpointStore(str(tmp_path), tf.train.Checkpoint(model=build()), keep=2)
    store.save(1)
    store.save_best(1)
    for index in (tmp_path / "checkpoint", tmp_path / "best" / "checkpoint"):
        assert str(tmp_path) not in index.read_text()


def test_find_checkpoint_errors(tmp_path):
    with pytest.raises(CharRNNError, match="no latest checkpoint"):
        checkpoints.find_checkpoint(str(tmp_path), "latest")
    with pytest.raises(CharRNNError, match="does not exist"):
        checkpoints.find_checkpoint(str(tmp_path), str(tmp_path / "ckpt-9"))


def test_restoring_into_a_different_architecture_is_a_clear_error(tmp_path):
    store = checkpoints.CheckpointStore(str(tmp_path), tf.train.Checkpoint(model=build(rnn_size=8)), keep=1)
    path = store.save(1)
    with pytest.raises(CharRNNError, match="does not fit"):
        checkpoints.restore(tf.train.Checkpoint(model=build(rnn_size=16)), path)
