"""The training text: which files, read and checked in chunks, encoded once and cached by content.

Sources, in order of precedence:
    --input_file PATH                     that one file
    --data_dir D holding D/input.txt      that file (char-rnn's layout; known corpora are fetched)
    --data_dir D without input.txt        every D/*.txt in sorted file-name order, joined as they are

Files are decoded with the given encoding (UTF-8 by default) a chunk at a time, so no file is
ever held whole as a Python string. The ids go to a cache beside the data,
`<folder>/.charrnn_cache/<name>/`: `ids.npy` (smallest unsigned dtype, memory-mapped when read),
`vocab.json`, and `meta.json` holding the sha256 of the files' bytes. A later run hashes the
files again (under a second for 1 GB) and uses the cache only if the hash matches, so a text
changed in any way is re-encoded, even with the same size and mtime, and an unchanged one never is.
"""

import codecs
import dataclasses
import glob
import hashlib
import json
import os
from typing import Iterator, Optional

import numpy as np

from charrnn.datasets import KNOWN_CORPORA, ensure_corpus
from charrnn.errors import CharRNNError
from charrnn.files import atomic_write_text, fsync_folder
from charrnn.vocab import Vocab, code_points, describe_chars

CACHE_FORMAT = 1
CACHE_FOLDER = ".charrnn_cache"
# 1 MiB: measured 2x faster than 16 MiB, since the per-chunk arrays stay in the CPU caches.
CHUNK_BYTES = 1 << 20
# Encodings in which an ASCII byte is always the character of that code: a pure-ASCII chunk
# of them needs no decoding at all.
_ASCII_COMPATIBLE = {"utf-8", "ascii", "iso8859-1", "cp1252"}
_ALL_CODE_POINTS = 0x110000


@dataclasses.dataclass(frozen=True)
class TextSource:
    """The files of a corpus, read in this order, and the folder of their cache."""

    files: tuple
    encoding: str
    cache_dir: str


@dataclasses.dataclass(frozen=True)
class Corpus:
    ids: np.ndarray  # [num_chars] ids of `vocab`, memory-mapped from the cache when there is one
    vocab: Vocab
    sha256: str  # of the source's bytes (and file names and encoding)
    from_cache: bool
    cache_problem: Optional[str] = None  # why the cache could not be written, if it could not


def check_encoding(encoding: str) -> str:
    """The codec's canonical name, or a one-line error for an unknown --encoding."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise CharRNNError(f"--encoding {encoding} is not an encoding Python knows "
                           f"(for example utf-8, utf-16, latin-1, cp1251, shift_jis)") from None


def find_source(data_dir: Optional[str], input_file: Optional[str], encoding: str = "utf-8") -> TextSource:
    """The TextSource for --input_file, else for --data_dir (see the module docstring)."""
    encoding = check_encoding(encoding)
    if input_file:
        if os.path.isdir(input_file):
            raise CharRNNError(f"--input_file {input_file} is a folder; give it as --data_dir instead")
        if not os.path.exists(input_file):
            raise CharRNNError(f"{input_file} does not exist")
        folder, name = os.path.split(input_file)
        return TextSource((input_file,), encoding, os.path.join(folder, CACHE_FOLDER, name))
    single = os.path.join(data_dir, "input.txt")
    known = os.path.basename(os.path.normpath(data_dir)) in KNOWN_CORPORA
    if os.path.isfile(single) or known:
        return TextSource((ensure_corpus(data_dir),), encoding, os.path.join(data_dir, CACHE_FOLDER, "input.txt"))
    if not os.path.isdir(data_dir):
        raise CharRNNError(f"{data_dir} does not exist (known corpora fetched on first use: "
                           f"{', '.join('data/' + name for name in KNOWN_CORPORA)})")
    files = tuple(sorted(path for path in glob.glob(os.path.join(glob.escape(data_dir), "*.txt"))
                         if os.path.isfile(path)))
    if not files:
        raise CharRNNError(f"{data_dir} holds neither input.txt nor any *.txt file")
    return TextSource(files, encoding, os.path.join(data_dir, CACHE_FOLDER, "all-txt"))


def _byte_chunks(path: str) -> Iterator[bytes]:
    try:
        f = open(path, "rb")
    except OSError as e:
        raise CharRNNError(f"cannot read {path}: {e.strerror}") from None
    with f:
        while True:
            chunk = f.read(CHUNK_BYTES)
            if not chunk:
                return
            yield chunk


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
        for chunk in _byte_chunks(path):
            hasher.update(chunk)
        hasher.end_file()
    return hasher.hexdigest()


def decoded_chunks(path: str, encoding: str, hasher: Optional[_Hasher] = None) -> Iterator[np.ndarray]:
    """The code points of `path`, a chunk at a time: [n] uint8 for ASCII chunks, else uint32.

    Invalid bytes are a one-line error naming the file and the byte offset.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    ascii_shortcut = encoding in _ASCII_COMPATIBLE
    offset = 0
    if hasher:
        hasher.start_file(path)

    def decode(data: bytes, final: bool) -> np.ndarray:
        pending = len(decoder.getstate()[0])
        try:
            return code_points(decoder.decode(data, final))
        except UnicodeDecodeError as e:
            raise CharRNNError(f"{path} is not valid {encoding}: cannot decode the byte at byte offset "
                               f"{offset - pending + e.start} ({e.reason})") from None

    for chunk in _byte_chunks(path):
        if hasher:
            hasher.update(chunk)
        nul = chunk.find(b"\0") if ascii_shortcut else -1
        if nul >= 0:  # before decoding: binary files usually hold invalid bytes too, but this says more
            raise CharRNNError(f"{path} looks like binary data, not text (a NUL byte at byte offset {offset + nul})")
        if ascii_shortcut and not decoder.getstate()[0] and chunk.isascii():
            points = np.frombuffer(chunk, np.uint8)
        else:
            points = decode(chunk, final=False)
        offset += len(chunk)
        yield points
    tail = decode(b"", final=True)  # a multi-byte character cut off by the end of the file
    if len(tail):
        yield tail
    if hasher:
        hasher.end_file()


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


def encode_file(path: str, encoding: str, vocab: Vocab, skip_unknown: bool = False):
    """(ids [n] of `vocab` held in memory, how many characters were skipped) for a text to score.

    Unknown characters are an error naming them all, unless skip_unknown drops them.
    """
    if os.path.isdir(path):
        raise CharRNNError(f"{path} is a folder, not a text file")
    if not os.path.exists(path):
        raise CharRNNError(f"{path} does not exist")
    pieces, unknown, skipped = [], set(), 0
    for points in decoded_chunks(path, check_encoding(encoding)):
        ids, missing = vocab.lookup(points)
        if missing:
            unknown.update(missing)
            skipped += int((ids < 0).sum())
            ids = ids[ids >= 0]
        pieces.append(ids.astype(vocab.id_dtype))
    if unknown and not skip_unknown:
        raise CharRNNError(f"{path} has characters outside the model's vocabulary: "
                           f"{describe_chars(sorted(unknown))}; pass --skip_unknown to leave them out")
    ids = np.concatenate(pieces) if pieces else np.zeros(0, vocab.id_dtype)
    return ids, skipped
