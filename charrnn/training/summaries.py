"""TensorBoard output of a run: scalars, generated text and the hyperparameters."""

import glob
import os
from typing import Optional

import numpy as np
import tensorflow as tf
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins.hparams import api as hparams_api


class Summaries:
    """Writes one run's event files into `log_dir`; with log_dir None (a worker that is not the
    chief of a multi-worker run) writes nothing."""

    def __init__(self, log_dir: Optional[str]):
        self.log_dir = log_dir
        if log_dir is None:
            self._earlier_files, self.writer = [], tf.summary.create_noop_writer()
            return
        self._earlier_files = sorted(glob.glob(os.path.join(glob.escape(log_dir), "events.out.tfevents.*")))
        self.writer = tf.summary.create_file_writer(log_dir)

    def discard_after(self, step: int) -> None:
        """Drops the events after `step` from the run's earlier event files.

        A run killed after its last checkpoint had logged steps that its continuation logs again;
        without this TensorBoard would show both. Each file is rewritten beside itself and renamed
        over the old one.
        """
        for path in self._earlier_files:
            records = [r.numpy() for r in tf.data.TFRecordDataset(path)]
            kept = [r for r in records if not _is_summary_after(r, step)]
            if len(kept) == len(records):
                continue
            temp = path + ".tmp"
            with tf.io.TFRecordWriter(temp) as writer:
                for record in kept:
                    writer.write(record)
            os.replace(temp, path)

    def scalars(self, step: int, values: dict) -> None:
        # NumPy scalars: TensorFlow would keep a tensor for every distinct Python number (trainer.py).
        with self.writer.as_default(step=np.int64(step)):
            for tag, value in values.items():
                tf.summary.scalar(tag, np.float32(value))

    def text(self, step: int, tag: str, text: str) -> None:
        # The text plugin renders Markdown; a fenced block keeps the sample's line breaks and spaces.
        fence = "~~~~"
        with self.writer.as_default(step=np.int64(step)):
            tf.summary.text(tag, f"{fence}\n{text}\n{fence}")

    def hyperparameters(self, values: dict, run_name: str) -> None:
        """`values` of bool, int, float or str (None is left out) in the HParams dashboard."""
        with self.writer.as_default():
            hparams_api.hparams({k: v for k, v in values.items() if v is not None}, trial_id=run_name)

    def close(self) -> None:
        self.writer.close()


def _is_summary_after(record: bytes, step: int) -> bool:
    event = event_pb2.Event.FromString(record)
    return event.HasField("summary") and event.step > step
