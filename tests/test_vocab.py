import numpy as np
import pytest

from charrnn.core.errors import CharRNNError
from charrnn.data.vocab import Vocab, code_points

MIXED = "Hello, мир! 你好世界 😀🎉 naïve café\n"


def test_round_trip_on_mixed_scripts():
    vocab = Vocab.from_text(MIXED)
    ids = vocab.encode(MIXED)
    assert vocab.decode(ids) == MIXED
    assert len(vocab) == len(set(MIXED))


def test_order_is_by_code_point_and_ids_are_positions():
    vocab = Vocab.from_text("cabbage\n")
    assert vocab.chars == ("\n", "a", "b", "c", "e", "g")
    assert vocab.encode("bag").tolist() == [2, 1, 5]


def test_ids_use_the_smallest_unsigned_dtype():
    assert Vocab.from_text("abc").encode("abc").dtype == np.uint8
    wide = "".join(chr(0x4E00 + i) for i in range(300))
    assert Vocab.from_text(wide).encode(wide).dtype == np.uint16


def test_unknown_characters_are_named():
    vocab = Vocab.from_text("abc")
    ids, unknown = vocab.lookup(code_points("abXcY😀"))
    assert unknown == ["X", "Y", "😀"] and ids.tolist() == [0, 1, -1, 2, -1, -1]
    with pytest.raises(CharRNNError, match="'X'"):
        vocab.encode("aXb")


def test_json_round_trip():
    vocab = Vocab.from_text(MIXED)
    assert Vocab.from_json(vocab.to_json()) == vocab


@pytest.mark.parametrize("text", ['{"format": 1, "chars": ["b", "a"]}', '{"format": 1, "chars": ["ab"]}',
                                  '{"chars": ["a"]}', "nope"])
def test_from_json_rejects_bad_files(text):
    with pytest.raises(CharRNNError):
        Vocab.from_json(text)
