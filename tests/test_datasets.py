import hashlib
import os

import pytest

from charrnn.datasets import KNOWN_CORPORA, MIRROR_ENV, Corpus, ensure_corpus
from charrnn.errors import CharRNNError

TEXT = b"to be or not to be\n"


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    folder = tmp_path / "mirror"
    (folder / "poems").mkdir(parents=True)
    (folder / "poems" / "input.txt").write_bytes(TEXT)
    monkeypatch.setenv(MIRROR_ENV, str(folder))
    return folder


def corpora(sha256=hashlib.sha256(TEXT).hexdigest()):
    return {"poems": Corpus(url="http://127.0.0.1:9/unused", sha256=sha256, mirror_path="poems/input.txt")}


def test_known_corpus_is_copied_from_the_mirror(tmp_path, mirror):
    data_dir = tmp_path / "data" / "poems"
    path = ensure_corpus(str(data_dir), known=corpora())
    assert open(path, "rb").read() == TEXT
    assert [p for p in os.listdir(data_dir) if p != "input.txt"] == []  # no temp files left


def test_checksum_mismatch_is_refused_and_nothing_written(tmp_path, mirror):
    data_dir = tmp_path / "data" / "poems"
    with pytest.raises(CharRNNError, match="sha256"):
        ensure_corpus(str(data_dir), known=corpora(sha256="0" * 64))
    assert not (data_dir / "input.txt").exists()


def test_existing_input_is_used_as_it_is(tmp_path, mirror):
    data_dir = tmp_path / "poems"
    data_dir.mkdir()
    (data_dir / "input.txt").write_text("mine")
    assert open(ensure_corpus(str(data_dir), known=corpora())).read() == "mine"


def test_unknown_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(CharRNNError, match="does not exist"):
        ensure_corpus(str(tmp_path / "novel"), known=corpora())
    (tmp_path / "novel").mkdir()
    with pytest.raises(CharRNNError, match="input.txt does not exist"):
        ensure_corpus(str(tmp_path / "novel"), known=corpora())


def test_missing_mirror_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "empty"))
    with pytest.raises(CharRNNError, match=MIRROR_ENV):
        ensure_corpus(str(tmp_path / "poems"), known=corpora())


def test_download_failure_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    with pytest.raises(CharRNNError, match="cannot download"):
        ensure_corpus(str(tmp_path / "poems"), known=corpora())  # port 9 on loopback refuses


@pytest.mark.skipif(not os.environ.get(MIRROR_ENV), reason=f"{MIRROR_ENV} not set (CI sets it)")
def test_tiny_shakespeare_from_the_mirror_matches_its_checksum(tmp_path):
    path = ensure_corpus(str(tmp_path / "shakespeare"))
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == KNOWN_CORPORA["shakespeare"].sha256
    assert os.path.getsize(path) == 1115394
