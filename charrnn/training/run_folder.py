"""The JSON files of a run folder: config.json (model and data shape) and vocab.json; and in a
run's TensorBoard folder, charrnn_run.json, which says where its save folder is.

Kept free of TensorFlow so entry points can check a run folder before paying for its import.
"""

import json
import os

from charrnn.core.config import RunConfig
from charrnn.core.errors import CharRNNError
from charrnn.core.files import atomic_write_text
from charrnn.data.vocab import Vocab

CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.json"
CHECKPOINT_INDEX = "checkpoint"  # lists the checkpoints; written by charrnn.training.checkpoints
SAVE_DIR_LINK = "charrnn_run.json"  # in a run's TensorBoard folder: {"save_dir": path}


def write_run_files(save_dir: str, config: RunConfig, vocab: Vocab) -> None:
    os.makedirs(save_dir, exist_ok=True)
    atomic_write_text(os.path.join(save_dir, CONFIG_FILE), config.to_json())
    atomic_write_text(os.path.join(save_dir, VOCAB_FILE), vocab.to_json())


def write_save_dir_link(run_log_dir: str, save_dir: str) -> None:
    """Records in the run's TensorBoard folder where its save folder is, so TensorBoard's charrnn
    tab finds the checkpoints from the run's name: relative to that folder, so a copied pair of
    folders keeps working, or absolute where no relative path exists (another drive)."""
    os.makedirs(run_log_dir, exist_ok=True)
    try:
        path = os.path.relpath(os.path.abspath(save_dir), os.path.abspath(run_log_dir))
    except ValueError:
        path = os.path.abspath(save_dir)
    atomic_write_text(os.path.join(run_log_dir, SAVE_DIR_LINK), json.dumps({"save_dir": path}) + "\n")


def read_save_dir_link(run_log_dir: str):
    """The save folder a run's TensorBoard folder names, as a normalised path; None if it names
    none (no link file, or one that is not such JSON)."""
    try:
        with open(os.path.join(run_log_dir, SAVE_DIR_LINK), encoding="utf-8") as f:
            path = json.load(f)["save_dir"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(path, str) or not path:
        return None
    return os.path.normpath(os.path.join(run_log_dir, path))


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
