import os

import pytest

from charrnn.core import files


def test_write_creates_and_replaces_without_leftovers(tmp_path):
    path = tmp_path / "config.json"
    files.atomic_write_text(str(path), "first ☃")
    files.atomic_write_text(str(path), "second")
    assert path.read_text() == "second"
    assert os.listdir(tmp_path) == ["config.json"]


def test_a_failed_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "vocab.json"
    files.atomic_write_text(str(path), "old")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        files.atomic_write_text(str(path), "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["vocab.json"]
