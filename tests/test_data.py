import numpy as np
import pytest

from charrnn.data import Batches, make_batches, read_text, split_train_val
from charrnn.errors import CharRNNError


def write(tmp_path, data: bytes):
    path = tmp_path / "input.txt"
    path.write_bytes(data)
    return str(path)


def test_read_text_decodes_utf8(tmp_path):
    assert read_text(write(tmp_path, "héllo\n".encode())) == "héllo\n"


@pytest.mark.parametrize("data, message", [
    (b"", "is empty"),
    (b"  \n\t \n", "only whitespace"),
    (b"good text \xff\xfe more", "byte offset 10"),
    (b"abc\x00\x01\x02", "binary data"),
])
def test_read_text_rejects_bad_files(tmp_path, data, message):
    with pytest.raises(CharRNNError, match=message):
        read_text(write(tmp_path, data))


def test_read_text_rejects_missing_file_and_folder(tmp_path):
    with pytest.raises(CharRNNError, match="does not exist"):
        read_text(str(tmp_path / "missing.txt"))
    with pytest.raises(CharRNNError, match="is a folder"):
        read_text(str(tmp_path))


def test_split_takes_validation_from_the_end():
    train, val = split_train_val(np.arange(100), 0.1)
    assert train.tolist() == list(range(90)) and val.tolist() == list(range(90, 100))


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


def test_make_batches_names_the_flags_when_text_is_too_short():
    with pytest.raises(CharRNNError, match="lower --batch_size or --seq_length"):
        make_batches(np.zeros(1000, np.uint8), batch_size=50, seq_length=50, val_frac=0.05)
    with pytest.raises(CharRNNError, match="validation split.*raise --val_frac"):
        make_batches(np.zeros(1000, np.uint8), batch_size=2, seq_length=10, val_frac=0.01)
    train, val = make_batches(np.zeros(1000, np.uint8), batch_size=2, seq_length=10, val_frac=0.1)
    assert len(train) == (900 - 1) // 20 and len(val) == (100 - 1) // 20
