"""The training text encoded once: ids and vocabulary, cached beside the text and keyed by its content.

The ids go to `<folder>/.charrnn_cache/<name>/`: `ids.npy` (smallest unsigned dtype,
memory-mapped when read), `vocab.json`, and `meta.json` holding the sha256 of the files' bytes.
A later run hashes the files again (under a second for 1 GB) and uses the cache only if the hash
matches, so a text changed in any way is re-encoded, even with the same size and mtime, and an
unchanged one never is.
"""

import dataclasses
import hashlib
import json
import os
from typing import Optional

import numpy as np

from charrnn.core.config import DataConfig, TrainConfig
from charrnn.core.errors import CharRNNError
from charrnn.core.files import atomic_write_text, fsync_folder
from charrnn.data.batches import split_ids
from charrnn.data.text_files import TextSource, byte_chunks, decoded_chunks, find_source
from charrnn.data.vocab import Vocab, code_points, describe_chars

CACHE_FORMAT = 1
_ALL_CODE_POINTS = 0x110000


@dataclasses.dataclass(frozen=True)
class Corpus:
    ids: np.ndarray  # [num_chars] ids of `vocab`, memory-mapped from the cache when there is one
    vocab: Vocab
    sha256: str  # of the source's bytes (and file names and encoding)
    from_cache: bool
    cache_problem: Optional[str] = None  # why the cache could not be written, if it could not


class _Hasher:
    """sha256 of a source: its encoding, then each file's name, bytes and length."""

    def __init__(self, source: TextSource):
        self._hash = hashlib.sha256(f"charrnn cache {CACHE_FORMAT} {source.encoding}\0".encode())

    def start_file(self, path: str) -> None:
        self._hash.update(os.path.basename(path).encode("utf-8", "surrogateescape") + b"\0")
        self._size = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self._size += len(chunk)

    def end_file(self) -> None:
        self._hash.update(b"\0%d\0" % self._size)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def content_hash(source: TextSource) -> str:
    hasher = _Hasher(source)
    for path in source.files:
        hasher.start_file(path)
        for chunk in byte_chunks(path):
            hasher.update(chunk)
        hasher.end_file()
    return hasher.hexdigest()


def _scan(source: TextSource):
    """First pass: (sha256, the Vocab of the text, number of characters), checking the text."""
    hasher = _Hasher(source)
    present = np.zeros(_ALL_CODE_POINTS, bool)
    num_chars = 0
    for path in source.files:
        for points in decoded_chunks(path, source.encoding, hasher):
            present[points] = True
            if present[0]:
                at = num_chars + int(np.flatnonzero(points == 0)[0])
                raise CharRNNError(f"{path} looks like binary data, not text (a NUL character at "
                                   f"character {at} of the text)")
            num_chars += len(points)
    where = source.files[0] if len(source.files) == 1 else f"the *.txt files of {os.path.dirname(source.files[0])}"
    if num_chars == 0:
        raise CharRNNError(f"{where} is empty" if len(source.files) == 1 else f"{where} are all empty")
    vocab = Vocab(chr(c) for c in np.flatnonzero(present))
    if all(char.isspace() for char in vocab.chars):
        raise CharRNNError(f"{where} hold{'s' if len(source.files) == 1 else ''} only whitespace")
    return hasher.hexdigest(), vocab, num_chars


def _encode_into(source: TextSource, vocab: Vocab, out: np.ndarray, expected_hash: str) -> None:
    """Second pass: writes the ids of the whole source into `out` [num_chars]."""
    hasher = _Hasher(source)
    position = 0
    try:
        for path in source.files:
            for points in decoded_chunks(path, source.encoding, hasher):
                out[position: position + len(points)] = vocab.encode_code_points(points)
                position += len(points)
    except (CharRNNError, ValueError):  # new characters, or more of them, than the first pass saw
        position = -1
    if position != len(out) or hasher.hexdigest() != expected_hash:
        raise CharRNNError(f"{', '.join(source.files)} changed while being read; run again")


def _read_cache(source: TextSource, sha256: str) -> Optional[Corpus]:
    """The cached corpus if the cache was written from exactly this content, else None."""
    try:
        with open(os.path.join(source.cache_dir, "meta.json"), encoding="utf-8") as f:
            meta = json.load(f)
        if meta.get("format") != CACHE_FORMAT or meta.get("sha256") != sha256:
            return None  # another text, or a format this version does not read: rebuilt
        with open(os.path.join(source.cache_dir, "vocab.json"), encoding="utf-8") as f:
            vocab = Vocab.from_json(f.read())
        ids = np.load(os.path.join(source.cache_dir, "ids.npy"), mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, CharRNNError, AttributeError):
        return None  # missing or damaged: rebuilt
    if ids.shape != (meta.get("num_chars"),) or ids.dtype != vocab.id_dtype:
        return None
    return Corpus(ids, vocab, sha256, from_cache=True)


def _write_cache(source: TextSource, vocab: Vocab, num_chars: int, sha256: str) -> np.ndarray:
    """Encodes into cache_dir/ids.npy; meta.json, written last, makes the cache valid."""
    os.makedirs(source.cache_dir, exist_ok=True)
    meta_path = os.path.join(source.cache_dir, "meta.json")
    if os.path.exists(meta_path):
        os.unlink(meta_path)  # the old cache is invalid from here on
    ids_path = os.path.join(source.cache_dir, "ids.npy")
    tmp_path = f"{ids_path}.{os.getpid()}.tmp"
    try:
        ids = np.lib.format.open_memmap(tmp_path, mode="w+", dtype=vocab.id_dtype, shape=(num_chars,))
        _encode_into(source, vocab, ids, sha256)
        ids.flush()
        del ids
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, ids_path)
    finally:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
    atomic_write_text(os.path.join(source.cache_dir, "vocab.json"), vocab.to_json())
    meta = {"format": CACHE_FORMAT, "sha256": sha256, "num_chars": num_chars,
            "files": [os.path.basename(path) for path in source.files], "encoding": source.encoding}
    atomic_write_text(meta_path, json.dumps(meta, indent=2) + "\n")
    fsync_folder(source.cache_dir)
    return np.load(ids_path, mmap_mode="r", allow_pickle=False)


def load_corpus(source: TextSource) -> Corpus:
    """The encoded text of `source`: from its cache when the content is unchanged, else encoded
    (and cached; when the cache folder cannot be written, kept in memory and `cache_problem` says why)."""
    if os.path.exists(os.path.join(source.cache_dir, "meta.json")):
        cached = _read_cache(source, content_hash(source))
        if cached is not None:
            return cached
    sha256, vocab, num_chars = _scan(source)
    try:
        return Corpus(_write_cache(source, vocab, num_chars, sha256), vocab, sha256, from_cache=False)
    except OSError as e:
        ids = np.empty(num_chars, vocab.id_dtype)
        _encode_into(source, vocab, ids, sha256)
        problem = f"cannot write the cache {source.cache_dir} ({e.strerror or e}); the text was encoded in memory"
        return Corpus(ids, vocab, sha256, from_cache=False, cache_problem=problem)


def ids_for_vocab(corpus: Corpus, vocab: Vocab) -> np.ndarray:
    """The corpus as ids of `vocab` (a saved model's); an error names the characters `vocab` lacks."""
    if corpus.vocab == vocab:
        return corpus.ids
    translation, unknown = vocab.lookup(code_points("".join(corpus.vocab.chars)))
    if unknown:
        raise CharRNNError(f"the text has characters the saved run's vocabulary lacks: {describe_chars(unknown)}; "
                           f"train into a new --save_dir instead of --init_from")
    return translation.astype(vocab.id_dtype)[corpus.ids]


def read_text(data: DataConfig, vocab: Optional[Vocab] = None, warn=None):
    """(ids [n], Corpus) of the text `data` names: ids of `vocab` (a saved run's), or of the text's
    own vocabulary when None. warn(message) hears why the cache could not be written, if it could not."""
    corpus = load_corpus(find_source(data.data_dir, data.input_file, data.encoding))
    if corpus.cache_problem and warn:
        warn(f"warning: {corpus.cache_problem}")
    return (corpus.ids if vocab is None else ids_for_vocab(corpus, vocab)), corpus


def read_split(data: DataConfig, vocab: Vocab, train: TrainConfig, split: str, warn=None) -> np.ndarray:
    """The ids [n] of the `split` ("val" or "test") that a run trained with `train` held out of the
    text `data` names, as ids of the run's `vocab`.

    warn(message) hears when the text has changed since the run recorded its hash (data.sha256):
    the split is then not the one training held out.
    """
    ids, corpus = read_text(data, vocab, warn)
    if data.sha256 and corpus.sha256 != data.sha256 and warn:
        warn("warning: the training text has changed since this run was trained, so its held-out split "
             "is not the one training held out")
    ids = getattr(split_ids(ids, train.val_frac, train.test_frac), split)
    if len(ids) < 2:
        raise CharRNNError(f"the run has no {split} split (it trained with --{split}_frac "
                           f"{getattr(train, split + '_frac')})")
    return ids
