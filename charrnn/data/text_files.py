"""Which files a run reads, and their text decoded a chunk at a time.

Sources, in order of precedence:
    --input_file PATH                     that one file
    --data_dir D holding D/input.txt      that file (char-rnn's layout; known corpora are fetched)
    --data_dir D without input.txt        every D/*.txt in sorted file-name order, joined as they are

Files are decoded with the given encoding (UTF-8 by default) a chunk at a time, so no file is
ever held whole as a Python string. Invalid bytes and binary data are one-line errors.
"""

import codecs
import dataclasses
import glob
import os
from typing import Iterator, Optional

import numpy as np

from charrnn.core.errors import CharRNNError
from charrnn.data.known_corpora import KNOWN_CORPORA, fetch_input_txt, known_corpus
from charrnn.data.vocab import Vocab, code_points, describe_chars

# Where a source's encoded ids are cached (charrnn.data.corpus), beside the text.
CACHE_FOLDER = ".charrnn_cache"
# 1 MiB: measured 2x faster than 16 MiB, since the per-chunk arrays stay in the CPU caches.
CHUNK_BYTES = 1 << 20
# Encodings in which an ASCII byte is always the character of that code: a pure-ASCII chunk
# of them needs no decoding at all.
_ASCII_COMPATIBLE = {"utf-8", "ascii", "iso8859-1", "cp1252"}


@dataclasses.dataclass(frozen=True)
class TextSource:
    """The files of a corpus, read in this order, and the folder of their cache."""

    files: tuple
    encoding: str
    cache_dir: str


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
    known = known_corpus(data_dir)
    if os.path.isfile(single) or known:
        path = single if os.path.isfile(single) else fetch_input_txt(data_dir, known)
        return TextSource((path,), encoding, os.path.join(data_dir, CACHE_FOLDER, "input.txt"))
    if not os.path.isdir(data_dir):
        raise CharRNNError(f"{data_dir} does not exist (known corpora fetched on first use: "
                           f"{', '.join('data/' + name for name in KNOWN_CORPORA)})")
    files = tuple(sorted(path for path in glob.glob(os.path.join(glob.escape(data_dir), "*.txt"))
                         if os.path.isfile(path)))
    if not files:
        raise CharRNNError(f"{data_dir} holds neither input.txt nor any *.txt file")
    return TextSource(files, encoding, os.path.join(data_dir, CACHE_FOLDER, "all-txt"))


def byte_chunks(path: str) -> Iterator[bytes]:
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


def decoded_chunks(path: str, encoding: str, hasher=None) -> Iterator[np.ndarray]:
    """The code points of `path`, a chunk at a time: [n] uint8 for ASCII chunks, else uint32.

    Invalid bytes are a one-line error naming the file and the byte offset. `hasher`, if given,
    sees every byte read (start_file(path), update(chunk), end_file()).
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

    for chunk in byte_chunks(path):
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
