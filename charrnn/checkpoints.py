"""TensorFlow checkpoints of a run folder: the last few and the best.

Layout of `save_dir` (config.json and vocab.json beside them: see run_folder.py):
    checkpoint, ckpt-N.*      the newest `keep` checkpoints (TensorFlow's CheckpointManager)
    best/checkpoint, best/ckpt-N.*   the checkpoint with the lowest validation loss so far

TensorFlow writes a checkpoint's files first and only then lists it in the `checkpoint`
index (itself replaced atomically, with paths relative to the folder), so a run killed
mid-save leaves the previous checkpoint as the newest listed one, and a copied run folder
still works on another machine.
"""

import os

import tensorflow as tf

from charrnn.errors import CharRNNError
from charrnn.model import CharRNN
from charrnn.run_folder import read_run_files

BEST_DIR = "best"
CHECKPOINT_CHOICES = ("latest", "best")


def has_checkpoint(save_dir: str) -> bool:
    return tf.train.latest_checkpoint(save_dir) is not None


def find_checkpoint(save_dir: str, which: str = "latest") -> str:
    """The checkpoint prefix for `which`: 'latest', 'best', or a path to a checkpoint prefix."""
    if which in CHECKPOINT_CHOICES:
        folder = save_dir if which == "latest" else os.path.join(save_dir, BEST_DIR)
        path = tf.train.latest_checkpoint(folder)
        if path is None:
            raise CharRNNError(f"{save_dir} holds no {which} checkpoint (has training saved one yet?)")
        return path
    if not tf.io.gfile.exists(which + ".index"):
        raise CharRNNError(f"checkpoint {which} does not exist (expected {which}.index); "
                           f"pass latest, best, or a checkpoint prefix such as {save_dir}/ckpt-1000")
    return which


class CheckpointStore:
    """Saves `checkpoint` (a tf.train.Checkpoint) as the latest and, on request, as the best."""

    def __init__(self, save_dir: str, checkpoint: tf.train.Checkpoint, keep: int):
        self.checkpoint = checkpoint
        self.latest = tf.train.CheckpointManager(checkpoint, save_dir, max_to_keep=keep)
        self.best = tf.train.CheckpointManager(checkpoint, os.path.join(save_dir, BEST_DIR), max_to_keep=1)

    def save(self, step: int) -> str:
        if self.latest.latest_checkpoint and self.latest.latest_checkpoint.endswith(f"-{step}"):
            return self.latest.latest_checkpoint  # already saved at this step
        return self.latest.save(checkpoint_number=step)

    def save_best(self, step: int) -> str:
        return self.best.save(checkpoint_number=step)



def restore(checkpoint: tf.train.Checkpoint, path: str, *, partial: bool = False) -> None:
    """Reads `path` into `checkpoint`'s (already built) objects.

    partial=True allows the file to hold more than `checkpoint` asks for, as when sampling
    reads only the model out of a training checkpoint.
    """
    try:
        status = checkpoint.read(path)
        if partial:
            status.expect_partial()
        status.assert_existing_objects_matched()
    except (tf.errors.OpError, AssertionError, ValueError) as e:
        first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CharRNNError(f"checkpoint {path} does not fit the model in config.json: {first_line}") from None


def load_model(save_dir: str, which: str = "latest"):
    """(CharRNN with the weights of checkpoint `which`, its Vocab, its RunConfig), for inference."""
    config, vocab = read_run_files(save_dir)
    path = find_checkpoint(save_dir, which)
    model = CharRNN(config.model)
    model.build_variables()
    restore(tf.train.Checkpoint(model=model), path, partial=True)
    return model, vocab, config
