"""Character vocabulary: characters sorted by Unicode code point, id = position in that order.

Code-point order (rather than char-rnn's frequency order) makes the vocabulary a pure
function of the set of characters, so two runs on the same text always agree.
"""

import json

import numpy as np

from charrnn.core.errors import CharRNNError
from charrnn.core.files import parse_versioned_json

VOCAB_FORMAT = 1


def code_points(text: str) -> np.ndarray:
    """[len(text)] uint32 code points, decoded without a per-character Python loop."""
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


def smallest_id_dtype(vocab_size: int) -> np.dtype:
    for dtype in (np.uint8, np.uint16):
        if vocab_size <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    return np.dtype(np.uint32)


def describe_chars(chars) -> str:
    """`'é', '\\x07'` style list for error messages, readable whatever the characters are."""
    return ", ".join(repr(c) for c in chars)


class Vocab:
    """Maps characters to ids and back."""

    def __init__(self, chars):
        chars = tuple(chars)
        if not chars:
            raise CharRNNError("the vocabulary is empty")
        if any(len(c) != 1 for c in chars):
            raise CharRNNError("vocabulary entries must be single characters")
        if list(chars) != sorted(set(chars)):
            raise CharRNNError("vocabulary characters must be unique and sorted by code point")
        self.chars = chars
        self._code_points = code_points("".join(chars))
        # id of every code point up to the largest in the vocabulary, -1 for the ones outside it;
        # the last entry stands for everything larger (np.take clips to it).
        # A narrow table makes the look-up of a long text touch less memory.
        table_dtype = np.int16 if len(chars) < 2**15 else np.int32
        self._ids_by_code_point = np.full(int(self._code_points[-1]) + 2, -1, table_dtype)
        self._ids_by_code_point[self._code_points] = np.arange(len(chars))

    @classmethod
    def from_text(cls, text: str) -> "Vocab":
        return cls(chr(c) for c in np.unique(code_points(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.chars == other.chars

    def __contains__(self, char: str) -> bool:
        return char in self.chars

    @property
    def id_dtype(self) -> np.dtype:
        return smallest_id_dtype(len(self))

    def lookup(self, points: np.ndarray):
        """One table look-up: (ids [n] int16 or int32, -1 where unknown; the unknown characters sorted, each once).

        `points` is any unsigned integer array of code points [n] (uint8 for ASCII text).
        """
        ids = np.take(self._ids_by_code_point, points, mode="clip")
        if not (ids < 0).any():
            return ids, []
        return ids, [chr(c) for c in np.unique(points[ids < 0])]

    def encode_code_points(self, points: np.ndarray) -> np.ndarray:
        """[n] ids in the smallest unsigned dtype that holds the vocabulary, from [n] code points."""
        ids, unknown = self.lookup(points)
        if unknown:
            raise CharRNNError(f"characters not in the model's vocabulary: {describe_chars(unknown)}")
        return ids.astype(self.id_dtype)

    def encode(self, text: str) -> np.ndarray:
        """[len(text)] ids in the smallest unsigned dtype that holds the vocabulary."""
        return self.encode_code_points(code_points(text))

    def decode(self, ids) -> str:
        return self._code_points[np.asarray(ids)].astype("<u4").tobytes().decode("utf-32-le")

    def to_json(self) -> str:
        return json.dumps({"format": VOCAB_FORMAT, "chars": list(self.chars)}, ensure_ascii=True) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "vocab.json") -> "Vocab":
        data = parse_versioned_json(text, source, "vocabulary", VOCAB_FORMAT)
        if not isinstance(data.get("chars"), list):
            raise CharRNNError(f"{source}: 'chars' must be a list of characters")
        try:
            return cls(data["chars"])
        except (CharRNNError, TypeError, UnicodeEncodeError) as e:
            raise CharRNNError(f"{source}: {e}") from None
