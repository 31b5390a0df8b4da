"""The learning rate at each step: a linear warm-up, then one of three schedules.

    exponential  char-rnn's: learning_rate x decay_rate ^ epoch (the default)
    cosine       from learning_rate down to min_lr along half a cosine, reaching it at the run's
                 last step (the planned one, under a time budget)
    constant     learning_rate

Warm-up rises linearly from learning_rate / warmup_steps to learning_rate over the first
warmup_steps steps; after it no schedule goes below min_lr. The rate is a function of the step
alone (and of the planned length for cosine), so a continued run picks it up exactly.
"""

import math

import keras
import tensorflow as tf

from charrnn.core.config import TrainConfig


class LearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """The rate for `train` with epochs of `steps_per_epoch`; `planned_steps` is a tf.Variable
    holding the run's planned number of steps, which a time budget corrects as the run goes."""

    def __init__(self, train: TrainConfig, steps_per_epoch: int, planned_steps: tf.Variable):
        self.train, self.steps_per_epoch, self.planned_steps = train, steps_per_epoch, planned_steps

    def __call__(self, step):
        """The rate (float32 scalar) for the update that follows `step` updates."""
        train = self.train
        step = tf.cast(step, tf.float32)
        if train.lr_schedule == "exponential":
            rate = train.learning_rate * tf.pow(train.decay_rate, tf.floor(step / self.steps_per_epoch))
        elif train.lr_schedule == "cosine":
            decay_steps = tf.maximum(tf.cast(self.planned_steps, tf.float32) - train.warmup_steps, 1.0)
            progress = tf.clip_by_value((step - train.warmup_steps) / decay_steps, 0.0, 1.0)
            rate = train.min_lr + (train.learning_rate - train.min_lr) * 0.5 * (1 + tf.cos(math.pi * progress))
        else:
            rate = tf.constant(train.learning_rate, tf.float32)
        rate = tf.maximum(rate, train.min_lr)
        if train.warmup_steps:
            rate = tf.minimum(rate, train.learning_rate * (step + 1) / train.warmup_steps)
        return rate

    def get_config(self) -> dict:
        return {"steps_per_epoch": self.steps_per_epoch, "schedule": self.train.lr_schedule}
