"""The charrnn runs under a TensorBoard log folder, and their newest and best checkpoints.

A run is a folder under the log folder that holds the trainer's link to its save folder
(run_folder.SAVE_DIR_LINK); its name is TensorBoard's: the folder's path relative to the log
folder, "." for the log folder itself.
"""

import dataclasses
import os
import re
import time
from typing import Dict, Optional

from charrnn.training.run_folder import SAVE_DIR_LINK, read_save_dir_link

_BEST_VAL_LOSS_KEY = "best_val_loss/.ATTRIBUTES/VARIABLE_VALUE"  # the trainer's best_val_loss variable


@dataclasses.dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint of a run: its prefix, step, when it was saved (seconds since the epoch) and
    the run's lowest validation loss when it was saved (the best checkpoint's own loss)."""

    path: str
    step: int
    saved_at: float
    best_val_loss: Optional[float]

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def find_runs(logdir: str) -> Dict[str, str]:
    """TensorBoard run name -> save folder, for every folder under `logdir` linked to one."""
    runs = {}
    for folder, subfolders, files in os.walk(logdir):
        subfolders.sort()
        if SAVE_DIR_LINK not in files:
            continue
        save_dir = read_save_dir_link(folder)
        if save_dir is not None:
            runs[os.path.relpath(folder, logdir).replace(os.sep, "/")] = save_dir
    return runs


class RunIndex:
    """find_runs(logdir), walked again only when the last walk is `max_age` seconds old:
    TensorBoard asks whether the tab has anything to show on every page load."""

    def __init__(self, logdir: str, max_age: float = 5.0, clock=time.monotonic):
        self.logdir, self.max_age, self._clock = logdir, max_age, clock
        self._runs, self._walked_at = {}, None

    def runs(self) -> Dict[str, str]:
        now = self._clock()
        if self._walked_at is None or now - self._walked_at >= self.max_age:
            self._runs, self._walked_at = find_runs(self.logdir), now
        return self._runs


def checkpoint_info(save_dir: str, which: str) -> Optional[CheckpointInfo]:
    """The newest checkpoint listed for `which` ('latest' or 'best') in a save folder, or None."""
    import tensorflow as tf  # here, not at import: TensorBoard lists plugins before anyone opens the tab

    from charrnn.training import checkpoints

    folder = save_dir if which == "latest" else os.path.join(save_dir, checkpoints.BEST_DIR)
    try:
        paths = checkpoints.listed_checkpoints(folder)
    except (tf.errors.OpError, ValueError):  # an index file being replaced or damaged
        return None
    if not paths:
        return None
    path = paths[0]
    match = re.search(r"ckpt-(\d+)$", path)
    try:
        saved_at = os.stat(path + ".index").st_mtime
        best = float(tf.train.load_checkpoint(path).get_tensor(_BEST_VAL_LOSS_KEY))
    except (OSError, tf.errors.OpError, ValueError):
        return None
    return CheckpointInfo(path=path, step=int(match.group(1)) if match else -1, saved_at=saved_at,
                          best_val_loss=best if best != float("inf") else None)
