import builtins
import dataclasses
import json
import os

import numpy as np
import pytest

from charrnn.core.config import DataConfig, TrainConfig
from charrnn.core.errors import CharRNNError
from charrnn.data import text_files
from charrnn.data.corpus import ids_for_vocab, load_corpus, read_split
from charrnn.data.text_files import CACHE_FOLDER, encode_file, find_source
from charrnn.data.vocab import Vocab

MIXED = "Hello, мир! 你好世界 😀🎉 naïve café\nThe end.\n"


def load(path, encoding="utf-8"):
    return load_corpus(find_source(None, str(path), encoding))


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 7 bytes, so multi-byte characters and the ASCII shortcut cross chunk boundaries."""
    monkeypatch.setattr(text_files, "CHUNK_BYTES", 7)


def test_mixed_scripts_round_trip_across_chunk_boundaries(tmp_path, small_chunks):
    path = tmp_path / "book.txt"
    path.write_text(MIXED * 3, encoding="utf-8")
    corpus = load(path)
    assert corpus.vocab == Vocab.from_text(MIXED)
    assert corpus.vocab.decode(corpus.ids) == MIXED * 3
    assert corpus.ids.dtype == np.uint8 and not corpus.from_cache


def test_the_vocabulary_is_as_large_as_the_text_needs(tmp_path):
    text = "".join(chr(0x4E00 + i) for i in range(3000)) + "😀"
    (tmp_path / "wide.txt").write_text(text, encoding="utf-8")
    corpus = load(tmp_path / "wide.txt")
    assert len(corpus.vocab) == 3001 and corpus.ids.dtype == np.uint16
    assert corpus.vocab.decode(corpus.ids) == text


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1", "cp1251"])
def test_other_encodings(tmp_path, encoding):
    text = "Привет, мир\n" if encoding == "cp1251" else "café au lait\n"
    (tmp_path / "t.txt").write_bytes((text * 5).encode(encoding))
    corpus = load(tmp_path / "t.txt", encoding)
    assert corpus.vocab.decode(corpus.ids) == text * 5


def test_second_load_uses_the_memory_mapped_cache(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text(MIXED * 10, encoding="utf-8")
    first = load(path)
    cache = tmp_path / CACHE_FOLDER / "input.txt"
    ids_stat = os.stat(cache / "ids.npy")
    second = load(path)
    assert second.from_cache and isinstance(second.ids, np.memmap)
    assert os.stat(cache / "ids.npy").st_mtime_ns == ids_stat.st_mtime_ns  # not re-encoded
    np.testing.assert_array_equal(first.ids, second.ids)
    assert second.vocab == first.vocab and second.sha256 == first.sha256


def test_cache_is_rebuilt_when_one_character_changes_with_the_same_size_and_mtime(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text("abcdefgh\n" * 100, encoding="utf-8")
    before = load(path)
    stat = os.stat(path)
    path.write_text("abcdefgh\n" * 99 + "abcdefgX\n", encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert os.stat(path).st_size == stat.st_size and os.stat(path).st_mtime_ns == stat.st_mtime_ns
    after = load(path)
    assert not after.from_cache and after.sha256 != before.sha256
    assert after.vocab.decode(after.ids[-2:]) == "X\n"
    assert load(path).from_cache


@pytest.mark.parametrize("meta_change", [{"format": 99}, {"sha256": "0" * 64}, {"num_chars": 3}])
def test_a_cache_of_another_format_or_text_is_rebuilt(tmp_path, meta_change):
    path = tmp_path / "input.txt"
    path.write_text("some text\n" * 50, encoding="utf-8")
    load(path)
    meta_path = tmp_path / CACHE_FOLDER / "input.txt" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, **meta_change}))
    corpus = load(path)
    assert not corpus.from_cache and corpus.vocab.decode(corpus.ids) == "some text\n" * 50
    assert json.loads(meta_path.read_text()) == meta


def test_a_damaged_cache_is_rebuilt(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text("some text\n" * 50, encoding="utf-8")
    load(path)
    (tmp_path / CACHE_FOLDER / "input.txt" / "ids.npy").write_bytes(b"garbage")
    assert load(path).vocab.decode(load(path).ids) == "some text\n" * 50


def test_a_folder_of_txt_files_is_read_in_sorted_order(tmp_path):
    (tmp_path / "b.txt").write_text("second\n")
    (tmp_path / "a.txt").write_text("first\n")
    (tmp_path / "c.md").write_text("not text\n")
    source = find_source(str(tmp_path), None)
    assert [os.path.basename(f) for f in source.files] == ["a.txt", "b.txt"]
    corpus = load_corpus(source)
    assert corpus.vocab.decode(corpus.ids) == "first\nsecond\n"
    (tmp_path / "input.txt").write_text("only me\n")  # char-rnn's layout takes precedence
    assert [os.path.basename(f) for f in find_source(str(tmp_path), None).files] == ["input.txt"]


def test_renaming_files_of_a_folder_changes_the_order_and_the_cache(tmp_path):
    (tmp_path / "a.txt").write_text("one\n")
    (tmp_path / "b.txt").write_text("two\n")
    load_corpus(find_source(str(tmp_path), None))
    os.rename(tmp_path / "a.txt", tmp_path / "c.txt")
    corpus = load_corpus(find_source(str(tmp_path), None))
    assert not corpus.from_cache and corpus.vocab.decode(corpus.ids) == "two\none\n"


def test_an_unwritable_cache_folder_falls_back_to_memory(tmp_path):
    (tmp_path / "input.txt").write_text("hello there\n" * 20)
    (tmp_path / CACHE_FOLDER).write_text("a file where the cache folder would go")
    corpus = load(tmp_path / "input.txt")
    assert "cannot write the cache" in corpus.cache_problem
    assert corpus.vocab.decode(corpus.ids) == "hello there\n" * 20


@pytest.mark.parametrize("data, encoding, message", [
    (b"", "utf-8", "is empty"),
    (b"  \n\t \n", "utf-8", "only whitespace"),
    (b"abc\x00\x01\x02", "utf-8", "binary data"),
    (b"good text here \xff\xfe more", "utf-8", "byte offset 15"),
    ("ok ünïcode ".encode() * 3 + b"\xe4\xb8", "utf-8", "byte offset 39"),  # cut off at the end
    (b"a\x00\x00\xd8b\x00", "utf-16-le", "byte offset 2"),
])
def test_bad_text_is_one_clear_error(tmp_path, small_chunks, data, encoding, message):
    (tmp_path / "bad.txt").write_bytes(data)
    with pytest.raises(CharRNNError, match=message) as error:
        load(tmp_path / "bad.txt", encoding)
    assert "bad.txt" in str(error.value)


@pytest.mark.parametrize("make, message", [
    (lambda d: None, "holds neither input.txt nor any"),
    (lambda d: (d / "notes.md").write_text("x"), "holds neither input.txt nor any"),
])
def test_a_folder_without_text_files(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(CharRNNError, match=message):
        find_source(str(tmp_path), None)


def test_missing_inputs_and_unknown_encoding(tmp_path):
    with pytest.raises(CharRNNError, match="does not exist"):
        find_source(str(tmp_path / "nothing"), None)
    with pytest.raises(CharRNNError, match="does not exist"):
        find_source(None, str(tmp_path / "missing.txt"))
    with pytest.raises(CharRNNError, match="is a folder"):
        find_source(None, str(tmp_path))
    with pytest.raises(CharRNNError, match="--encoding klingon"):
        find_source(str(tmp_path), None, "klingon")


def test_an_unreadable_file_is_one_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "locked.txt"
    path.write_text("secret\n")
    real_open = builtins.open

    def refuse(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refuse)
    with pytest.raises(CharRNNError, match="cannot read .*locked.txt: Permission denied"):
        load(path)


def test_ids_for_a_saved_vocabulary(tmp_path):
    (tmp_path / "input.txt").write_text("bad cab\n")
    corpus = load(tmp_path / "input.txt")
    wider = Vocab.from_text("abcdz \n")
    assert wider.decode(ids_for_vocab(corpus, wider)) == "bad cab\n"
    assert ids_for_vocab(corpus, corpus.vocab) is corpus.ids
    with pytest.raises(CharRNNError, match="'d'"):
        ids_for_vocab(corpus, Vocab.from_text("abc \n"))


def test_encode_file_names_or_skips_unknown_characters(tmp_path):
    (tmp_path / "t.txt").write_text("abXcY😀a")
    vocab = Vocab.from_text("abc")
    with pytest.raises(CharRNNError, match=r"'X', 'Y', '😀'.*--skip_unknown"):
        encode_file(str(tmp_path / "t.txt"), "utf-8", vocab)
    ids, skipped = encode_file(str(tmp_path / "t.txt"), "utf-8", vocab, skip_unknown=True)
    assert vocab.decode(ids) == "abca" and skipped == 3


def test_read_split_gives_the_held_out_characters_and_warns_when_the_text_changed(tmp_path):
    text = "".join(chr(ord("a") + i % 7) for i in range(1000))
    (tmp_path / "input.txt").write_text(text)
    data = DataConfig(data_dir=str(tmp_path))
    vocab = Vocab.from_text(text)
    sha256 = load_corpus(find_source(str(tmp_path), None)).sha256
    train = TrainConfig(val_frac=0.1, test_frac=0.05)
    warnings = []
    val = read_split(dataclasses.replace(data, sha256=sha256), vocab, train, "val", warn=warnings.append)
    test = read_split(dataclasses.replace(data, sha256=sha256), vocab, train, "test", warn=warnings.append)
    assert vocab.decode(val) == text[850:950] and vocab.decode(test) == text[950:] and warnings == []
    (tmp_path / "input.txt").write_text(text[::-1])
    read_split(dataclasses.replace(data, sha256=sha256), vocab, train, "val", warn=warnings.append)
    assert len(warnings) == 1 and "has changed since this run was trained" in warnings[0]
    with pytest.raises(CharRNNError, match="no test split .*--test_frac 0"):
        read_split(data, vocab, TrainConfig(val_frac=0.1), "test")
