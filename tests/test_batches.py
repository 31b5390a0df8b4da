import numpy as np
import pytest

from charrnn.core.errors import CharRNNError
from charrnn.data.batches import Batches, EvalWindows, make_splits, split_ids


def test_splits_are_train_then_validation_then_test():
    splits = split_ids(np.arange(100), 0.1, 0.05)
    assert splits.train.tolist() == list(range(85))
    assert splits.val.tolist() == list(range(85, 95)) and splits.test.tolist() == list(range(95, 100))
    assert len(split_ids(np.arange(100), 0.1).test) == 0


def test_batches_are_contiguous_streams_with_shifted_targets():
    ids = np.arange(1000, dtype=np.uint16)
    batches = Batches(ids, batch_size=4, seq_length=5)
    assert len(batches) == (1000 - 1) // 20
    stream_length = len(batches) * 5
    for i in range(len(batches)):
        inputs, targets = batches[i]
        assert inputs.shape == targets.shape == (4, 5) and inputs.dtype == np.int32
        np.testing.assert_array_equal(targets, inputs + 1)
        for row in range(4):  # row r of batch i continues row r of batch i - 1
            start = row * stream_length + i * 5
            np.testing.assert_array_equal(inputs[row], np.arange(start, start + 5))
    with pytest.raises(IndexError):
        batches[len(batches)]


def test_memory_mapped_batches_equal_in_memory_batches(tmp_path):
    ids = np.random.default_rng(0).integers(0, 200, 5003).astype(np.uint8)
    np.save(tmp_path / "ids.npy", ids)
    mapped = np.load(tmp_path / "ids.npy", mmap_mode="r")
    from_map, from_memory = Batches(mapped, 7, 11), Batches(ids, 7, 11)
    assert isinstance(from_map._inputs, np.memmap)  # a view of the map, not a copy
    assert len(from_map) == len(from_memory)
    for i in range(len(from_map)):
        for a, b in zip(from_map[i], from_memory[i]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("length, batch_size, seq_length", [(2, 4, 3), (101, 4, 5), (100, 3, 7), (57, 1, 8)])
@pytest.mark.parametrize("warm_up", [0, 3, 1000])
def test_eval_windows_cover_every_pair_once(length, batch_size, seq_length, warm_up):
    ids = np.arange(length, dtype=np.uint16)
    windows = EvalWindows(ids, batch_size, seq_length, warm_up)
    seen = []
    for inputs, targets, mask in windows:
        assert inputs.shape == targets.shape == mask.shape == (batch_size, seq_length)
        real = mask == 1
        np.testing.assert_array_equal(targets[real], inputs[real] + 1)
        seen.extend(inputs[real].tolist())
    assert sorted(seen) == list(range(length - 1))


def test_each_stream_but_the_first_reads_the_pairs_before_its_own_unscored():
    ids = np.arange(101, dtype=np.uint16)  # 100 pairs: 4 streams of 25
    rows = [np.concatenate(parts, axis=1) for parts in zip(*EvalWindows(ids, 4, 10, warm_up=6))]
    inputs, targets, mask = rows  # [4 streams, 6 timesteps of warm-up + 25, in windows of 10]
    assert inputs.shape == (4, 40) and (mask[:, 31:] == 0).all()
    np.testing.assert_array_equal(inputs[0, :25], np.arange(25))  # the first stream starts at the text's start
    assert (mask[0, :25] == 1).all() and (mask[0, 25:] == 0).all()
    for stream in (1, 2, 3):
        np.testing.assert_array_equal(inputs[stream, :31], np.arange(25 * stream - 6, 25 * stream + 25))
        assert (mask[stream, :6] == 0).all() and (mask[stream, 6:31] == 1).all()


def test_eval_windows_continue_each_stream():
    windows = EvalWindows(np.arange(1001), batch_size=4, seq_length=10)
    first, second = windows[0][0], windows[1][0]
    np.testing.assert_array_equal(second[:, 0], first[:, -1] + 1)


def test_make_splits_names_the_flags_when_text_is_too_short():
    with pytest.raises(CharRNNError, match="lower --batch_size or --seq_length"):
        make_splits(np.zeros(1000, np.uint8), batch_size=50, seq_length=50, val_frac=0.05)
    with pytest.raises(CharRNNError, match="validation split.*raise --val_frac"):
        make_splits(np.zeros(1000, np.uint8), batch_size=2, seq_length=10, val_frac=0.001)
    with pytest.raises(CharRNNError, match="test split.*raise --test_frac"):
        make_splits(np.zeros(1000, np.uint8), batch_size=2, seq_length=10, val_frac=0.1, test_frac=0.001)
    train, splits = make_splits(np.zeros(1000, np.uint8), batch_size=2, seq_length=10, val_frac=0.1)
    assert len(train) == (900 - 1) // 20 and len(splits.val) == 100
