import hashlib
import os

import pytest

from charrnn.core.errors import CharRNNError
from charrnn.data.known_corpora import KNOWN_CORPORA, MIRROR_ENV, KnownCorpus, fetch_input_txt, known_corpus

from conftest import SHARED_DATA

TEXT = b"to be or not to be\n"


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    folder = tmp_path / "mirror"
    (folder / "poems").mkdir(parents=True)
    (folder / "poems" / "input.txt").write_bytes(TEXT)
    monkeypatch.setenv(MIRROR_ENV, str(folder))
    return folder


def poems(sha256=hashlib.sha256(TEXT).hexdigest()):
    return KnownCorpus(url="http://127.0.0.1:9/unused", sha256=sha256, mirror_path="poems/input.txt")


def test_a_known_corpus_is_named_by_its_folder():
    assert known_corpus("data/shakespeare") is KNOWN_CORPORA["shakespeare"]
    assert known_corpus("/some/where/shakespeare/") is KNOWN_CORPORA["shakespeare"]
    assert known_corpus("data/novel") is None


def test_known_corpus_is_copied_from_the_mirror(tmp_path, mirror):
    data_dir = tmp_path / "data" / "poems"
    path = fetch_input_txt(str(data_dir), poems())
    assert open(path, "rb").read() == TEXT
    assert [p for p in os.listdir(data_dir) if p != "input.txt"] == []  # no temp files left


def test_checksum_mismatch_is_refused_and_nothing_written(tmp_path, mirror):
    data_dir = tmp_path / "data" / "poems"
    with pytest.raises(CharRNNError, match="sha256"):
        fetch_input_txt(str(data_dir), poems(sha256="0" * 64))
    assert not (data_dir / "input.txt").exists()


def test_existing_input_is_used_as_it_is(tmp_path, mirror):
    data_dir = tmp_path / "poems"
    data_dir.mkdir()
    (data_dir / "input.txt").write_text("mine")
    assert open(fetch_input_txt(str(data_dir), poems())).read() == "mine"


def test_missing_mirror_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "empty"))
    with pytest.raises(CharRNNError, match=MIRROR_ENV):
        fetch_input_txt(str(tmp_path / "poems"), poems())


def test_download_failure_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    with pytest.raises(CharRNNError, match="cannot download"):
        fetch_input_txt(str(tmp_path / "poems"), poems())  # port 9 on loopback refuses


@pytest.mark.skipif(not os.path.isfile(os.path.join(SHARED_DATA, "tinyshakespeare", "input.txt")),
                    reason="no shared/data beside the checkout")
def test_tiny_shakespeare_from_the_mirror_matches_its_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, SHARED_DATA)
    path = fetch_input_txt(str(tmp_path / "shakespeare"), KNOWN_CORPORA["shakespeare"])
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == KNOWN_CORPORA["shakespeare"].sha256
    assert os.path.getsize(path) == 1115394
