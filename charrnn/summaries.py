"""TensorBoard output of a run: scalars, generated text and the hyperparameters."""

import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api


class Summaries:
    """Writes one run's event files into `log_dir`."""

    def __init__(self, log_dir: str):
        self.writer = tf.summary.create_file_writer(log_dir)

    def scalars(self, step: int, values: dict) -> None:
        with self.writer.as_default(step=step):
            for tag, value in values.items():
                tf.summary.scalar(tag, value)

    def text(self, step: int, tag: str, text: str) -> None:
        # The text plugin renders Markdown; a fenced block keeps the sample's line breaks and spaces.
        fence = "~~~~"
        with self.writer.as_default(step=step):
            tf.summary.text(tag, f"{fence}\n{text}\n{fence}")

    def hyperparameters(self, values: dict, run_name: str) -> None:
        """`values` of bool, int, float or str (None is left out) in the HParams dashboard."""
        with self.writer.as_default():
            hparams_api.hparams({k: v for k, v in values.items() if v is not None}, trial_id=run_name)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
