import collections
import os

import numpy as np
import pytest
import tensorflow as tf

from charrnn.core.config import ModelConfig
from charrnn.core.errors import CharRNNError
from charrnn.model.network import CharRNN
from charrnn.training import checkpoints


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


def saved_steps(tmp_path, steps, keep=5):
    store = checkpoints.CheckpointStore(str(tmp_path), tf.train.Checkpoint(model=build()), keep=keep)
    return store, [store.save(step) for step in steps]


@pytest.mark.parametrize("damage", ["truncate data", "delete data", "delete index", "empty index"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_newest_intact_one(tmp_path, damage):
    _, (first, second, newest) = saved_steps(tmp_path, (1, 2, 3))
    data, index = tmp_path / "ckpt-3.data-00000-of-00001", tmp_path / "ckpt-3.index"
    if damage == "truncate data":
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    elif damage == "delete data":
        data.unlink()
    elif damage == "delete index":
        index.unlink()
    else:
        index.write_bytes(b"")
    heard = []
    assert checkpoints.find_checkpoint(str(tmp_path), "latest", on_skip=heard.append) == second
    assert len(heard) == 1 and "ckpt-3" in heard[0] and "using" in heard[0] and heard[0].endswith("ckpt-2")
    model = build()
    checkpoints.restore(tf.train.Checkpoint(model=model), second)


def test_no_intact_checkpoint_is_one_clear_error(tmp_path):
    saved_steps(tmp_path, (1,))
    (tmp_path / "ckpt-1.data-00000-of-00001").write_bytes(b"junk")
    with pytest.raises(CharRNNError, match="no intact checkpoint"):
        checkpoints.find_checkpoint(str(tmp_path), "latest")


def test_a_checkpoint_is_listed_only_after_its_files_are_written_and_leftovers_go(tmp_path, monkeypatch):
    store, _ = saved_steps(tmp_path, (1,))
    original_write = tf.train.Checkpoint.write

    def write_then_die(self, prefix, *args, **kwargs):
        original_write(self, prefix, *args, **kwargs)
        raise KeyboardInterrupt  # killed after the files, before the index

    monkeypatch.setattr(tf.train.Checkpoint, "write", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        store.save(2)
    monkeypatch.undo()
    assert checkpoints.find_checkpoint(str(tmp_path)).endswith("ckpt-1")
    (tmp_path / "checkpoint.x1y2z3.tmp").write_text("half an index")  # a kill during the index's atomic write
    store.save(3)  # the next save clears the unlisted leftovers
    assert sorted(p.name for p in tmp_path.glob("ckpt-*.index")) == ["ckpt-1.index", "ckpt-3.index"]
    assert not list(tmp_path.glob("*.tmp"))


def test_a_failed_write_is_one_clear_error_and_keeps_what_was_saved(tmp_path, monkeypatch):
    store, (first,) = saved_steps(tmp_path, (1,))

    def disk_full(self, prefix, *args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    monkeypatch.setattr(tf.train.Checkpoint, "write", disk_full)
    with pytest.raises(CharRNNError, match="cannot write a checkpoint.*No space left.*ckpt-1"):
        store.save(2)
    (tmp_path / "best").write_text("a file where the best folder goes")
    with pytest.raises(CharRNNError, match="cannot write a checkpoint"):
        store.save_best(2)
    monkeypatch.undo()
    assert checkpoints.find_checkpoint(str(tmp_path)) == first


def test_a_relative_save_folder_lists_names_relative_to_itself(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = checkpoints.CheckpointStore(os.path.join("run", "save"), tf.train.Checkpoint(model=build()), keep=2)
    store.save(1)
    store.save(2)
    index = (tmp_path / "run" / "save" / "checkpoint").read_text()
    assert 'model_checkpoint_path: "ckpt-2"' in index and 'all_model_checkpoint_paths: "ckpt-1"' in index
    assert checkpoints.find_checkpoint(os.path.join("run", "save")) == os.path.join("run", "save", "ckpt-2")


DiskUsage = collections.namedtuple("DiskUsage", "total used free")


def test_a_disk_short_of_the_kept_checkpoints_is_reported(tmp_path, monkeypatch):
    assert checkpoints.space_shortage(str(tmp_path / "new" / "save"), 1000, 6) is None
    monkeypatch.setattr(checkpoints.shutil, "disk_usage", lambda path: DiskUsage(10_000_000, 5_000_000, 5_000_000))
    message = checkpoints.space_shortage(str(tmp_path / "save"), 2_000_000, 6)
    assert message == f"{tmp_path / 'save'} has 5 MB free, but the 6 checkpoints kept need about 12 MB"
