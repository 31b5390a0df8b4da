import json

import pytest

from charrnn.core.config import ModelConfig, RunConfig, TrainConfig
from charrnn.core.errors import CharRNNError
from charrnn.data.vocab import Vocab
from charrnn.training.run_folder import read_run_files, write_run_files

VOCAB = Vocab.from_text("hello world\n")
RUN = RunConfig(model=ModelConfig(vocab_size=len(VOCAB)), train=TrainConfig(seed=4), run_name="r")


def test_round_trip(tmp_path):
    write_run_files(str(tmp_path / "save"), RUN, VOCAB)
    assert read_run_files(str(tmp_path / "save")) == (RUN, VOCAB)


def test_missing_folder_and_files_are_clear_errors(tmp_path):
    with pytest.raises(CharRNNError, match="does not exist"):
        read_run_files(str(tmp_path / "nowhere"))
    with pytest.raises(CharRNNError, match="config.json does not exist"):
        read_run_files(str(tmp_path))


def test_vocabulary_must_match_the_config(tmp_path):
    write_run_files(str(tmp_path), RUN, VOCAB)
    (tmp_path / "vocab.json").write_text(Vocab.from_text("abc").to_json())
    with pytest.raises(CharRNNError, match="vocab_size"):
        read_run_files(str(tmp_path))


def test_files_are_plain_json(tmp_path):
    write_run_files(str(tmp_path), RUN, VOCAB)
    assert json.loads((tmp_path / "vocab.json").read_text())["chars"] == list(VOCAB.chars)
    assert json.loads((tmp_path / "config.json").read_text())["train"]["seed"] == 4
