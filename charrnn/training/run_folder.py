"""The JSON files of a run folder: config.json (model and data shape) and vocab.json.

Kept free of TensorFlow so entry points can check a run folder before paying for its import.
"""

import os

from charrnn.core.config import RunConfig
from charrnn.core.errors import CharRNNError
from charrnn.core.files import atomic_write_text
from charrnn.data.vocab import Vocab

CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.json"
CHECKPOINT_INDEX = "checkpoint"  # lists the checkpoints; written by charrnn.training.checkpoints


def write_run_files(save_dir: str, config: RunConfig, vocab: Vocab) -> None:
    os.makedirs(save_dir, exist_ok=True)
    atomic_write_text(os.path.join(save_dir, CONFIG_FILE), config.to_json())
    atomic_write_text(os.path.join(save_dir, VOCAB_FILE), vocab.to_json())


def holds_checkpoints(save_dir: str) -> bool:
    """Whether training has saved a checkpoint in `save_dir` (its index is written after the first)."""
    return os.path.isfile(os.path.join(save_dir, CHECKPOINT_INDEX))


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise CharRNNError(f"{path} does not exist: is {os.path.dirname(path) or '.'} a charrnn save folder?") from None
    except UnicodeDecodeError:
        raise CharRNNError(f"{path} is not UTF-8 text") from None


def read_run_files(save_dir: str):
    """(RunConfig, Vocab) of a run folder, checked against each other."""
    if not os.path.isdir(save_dir):
        raise CharRNNError(f"save folder {save_dir} does not exist")
    config_path = os.path.join(save_dir, CONFIG_FILE)
    vocab_path = os.path.join(save_dir, VOCAB_FILE)
    config = RunConfig.from_json(_read(config_path), source=config_path)
    vocab = Vocab.from_json(_read(vocab_path), source=vocab_path)
    if len(vocab) != config.model.vocab_size:
        raise CharRNNError(f"{vocab_path} has {len(vocab)} characters but {config_path} says "
                           f"vocab_size {config.model.vocab_size}")
    return config, vocab
