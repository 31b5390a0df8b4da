"""TensorFlow checkpoints of a run folder: the last few and the best.

Layout of `save_dir` (config.json and vocab.json beside them: see run_folder.py):
    checkpoint, ckpt-N.*      the newest `keep` checkpoints
    best/checkpoint, best/ckpt-N.*   the checkpoint with the lowest validation loss so far

A save writes the checkpoint's files, fsyncs them and their folder, and only then lists the
checkpoint in the `checkpoint` index file, which is itself replaced atomically (temp file,
fsync, rename) with paths relative to the folder. So a run killed or powered off mid-save
leaves the previous checkpoint listed as the newest, and a copied run folder works anywhere.
Reading falls back from a damaged newest checkpoint (truncated or missing files) to the
newest intact one.
"""

import os
import re
import shutil

import tensorflow as tf
from google.protobuf import text_format

from charrnn.core.errors import CharRNNError
from charrnn.core.files import atomic_write_text, fsync_folder
from charrnn.model.network import CharRNN
from charrnn.training import weight_average
from charrnn.training.run_folder import CHECKPOINT_INDEX, read_run_files

BEST_DIR = "best"
CHECKPOINT_CHOICES = ("latest", "best")


def _first_line(error: Exception) -> str:
    """The first line of `error`'s message, without the function and op names TensorFlow wraps it in."""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*|\s*\[Op:\w+\]", "", str(error)).strip()
    return (text.splitlines() or [type(error).__name__])[0]


def listed_checkpoints(folder: str) -> list:
    """Prefixes of the checkpoints the folder's index lists, newest first."""
    state = tf.train.get_checkpoint_state(folder)
    if state is None:
        return []
    # TensorFlow has already joined the index's relative names to the folder.
    return list(reversed(state.all_model_checkpoint_paths or [state.model_checkpoint_path]))


def damage(path: str):
    """None if every tensor of checkpoint `path` reads back, else what is wrong, in a few words."""
    try:
        reader = tf.train.load_checkpoint(path)
        for key in reader.get_variable_to_shape_map():
            reader.get_tensor(key)
    except Exception as e:  # noqa: BLE001 - the reader raises OpError, IndexError, ValueError... by damage kind
        return _first_line(e)[:160]
    return None


def candidate_checkpoints(save_dir: str, which: str = "latest") -> list:
    """Checkpoint prefixes to try for `which` ('latest', 'best' or a prefix), best choice first."""
    if which in CHECKPOINT_CHOICES:
        folder = save_dir if which == "latest" else os.path.join(save_dir, BEST_DIR)
        paths = listed_checkpoints(folder)
        if not paths:
            raise CharRNNError(f"{save_dir} holds no {which} checkpoint (has training saved one yet?)")
        return paths
    if not tf.io.gfile.exists(which + ".index"):
        raise CharRNNError(f"checkpoint {which} does not exist (expected {which}.index); "
                           f"pass latest, best, or a checkpoint prefix such as {save_dir}/ckpt-1000")
    return [which]


def find_checkpoint(save_dir: str, which: str = "latest", on_skip=None) -> str:
    """The newest intact checkpoint for `which`; on_skip(message) hears of each damaged one passed over."""
    paths = candidate_checkpoints(save_dir, which)
    problems = []
    for path in paths:
        problem = damage(path)
        if problem is None:
            if problems and on_skip:
                on_skip(f"warning: skipped the damaged checkpoint{'s' if len(problems) > 1 else ''} "
                        f"{'; '.join(problems)}; using {path}")
            return path
        problems.append(f"{path} ({problem})")
    raise CharRNNError(f"no intact checkpoint in {save_dir}: {'; '.join(problems)}")


def space_shortage(save_dir: str, checkpoint_bytes: int, count: int):
    """None if the disk of `save_dir` (made or not yet) has room for `count` checkpoints, else why not."""
    folder = os.path.abspath(save_dir)
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    free, needed = shutil.disk_usage(folder).free, checkpoint_bytes * count
    if free >= needed:
        return None
    return f"{save_dir} has {free / 1e6:,.0f} MB free, but the {count} checkpoints kept need about {needed / 1e6:,.0f} MB"


class _Folder:
    """One folder of checkpoints keeping the newest `keep`, listed in its index only once on disk."""

    def __init__(self, folder: str, checkpoint: tf.train.Checkpoint, keep: int):
        self.folder, self.checkpoint, self.keep = folder, checkpoint, keep

    @property
    def newest(self):
        paths = listed_checkpoints(self.folder)
        return paths[0] if paths else None

    def save(self, step: int) -> str:
        os.makedirs(self.folder, exist_ok=True)
        prefix = os.path.join(self.folder, f"ckpt-{step}")
        self.checkpoint.write(prefix)
        for name in os.listdir(self.folder):
            if name.startswith(f"ckpt-{step}."):
                with open(os.path.join(self.folder, name), "rb") as f:
                    os.fsync(f.fileno())
        fsync_folder(self.folder)
        older = [p for p in listed_checkpoints(self.folder) if p != prefix]  # newest first
        names = [os.path.basename(p) for p in reversed(older[: self.keep - 1])] + [os.path.basename(prefix)]
        # An absolute folder, or TensorFlow rewrites the names relative to the working directory.
        state = tf.compat.v1.train.generate_checkpoint_state_proto(
            os.path.abspath(self.folder), names[-1], all_model_checkpoint_paths=list(names))  # it edits the list
        atomic_write_text(os.path.join(self.folder, CHECKPOINT_INDEX), text_format.MessageToString(state))
        self._delete_unlisted(set(names))
        return prefix

    def _delete_unlisted(self, names: set) -> None:
        """Removes checkpoints no longer listed, and leftovers of saves that were killed: their
        files, and the temp file of an index write (this save's own has been renamed by now)."""
        for name in os.listdir(self.folder):
            stem = name.split(".")[0]
            index_temp = name.startswith(CHECKPOINT_INDEX + ".") and name.endswith(".tmp")
            if (stem.startswith("ckpt-") and stem not in names) or index_temp:
                path = os.path.join(self.folder, name)
                shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)


class CheckpointStore:
    """Saves `checkpoint` (a tf.train.Checkpoint) as the latest and, on request, as the best.

    A failed write (disk full, read-only folder) is a one-line CharRNNError; the checkpoints
    listed before it stay listed and readable.
    """

    def __init__(self, save_dir: str, checkpoint: tf.train.Checkpoint, keep: int):
        self.save_dir = save_dir
        self.latest = _Folder(save_dir, checkpoint, keep)
        self.best = _Folder(os.path.join(save_dir, BEST_DIR), checkpoint, 1)

    def _save(self, folder: _Folder, step: int) -> str:
        try:
            return folder.save(step)
        except (tf.errors.OpError, OSError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else _first_line(e)
            raise CharRNNError(f"cannot write a checkpoint into {folder.folder} ({reason}); the checkpoints "
                               f"saved before are intact (newest: {self.latest.newest or 'none'})") from None

    def save(self, step: int) -> str:
        newest = self.latest.newest
        if newest and newest.endswith(f"ckpt-{step}"):
            return newest  # already saved at this step
        return self._save(self.latest, step)

    def save_best(self, step: int) -> str:
        return self._save(self.best, step)


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
        raise CharRNNError(f"checkpoint {path} does not fit the model in config.json: {_first_line(e)}") from None


def load_model(save_dir: str, which: str = "latest", on_skip=None):
    """(CharRNN with the weights of checkpoint `which`, its Vocab, its RunConfig) of a run folder:
    the average of the weights where the run kept one (--ema_decay), else the weights.

    A damaged newest checkpoint is passed over for the newest intact one, and on_skip(message) told.
    """
    config, vocab = read_run_files(save_dir)
    path = find_checkpoint(save_dir, which, on_skip)
    model = CharRNN(config.model)
    model.build_variables()
    restore(tf.train.Checkpoint(model=model), path, partial=True)
    if weight_average.holds_average(path):  # read into the model's own variables, in their order
        restore(tf.train.Checkpoint(**{weight_average.AVERAGE_KEY: list(model.trainable_variables)}), path,
                partial=True)
    return model, vocab, config
