import numpy as np
import pytest
import tensorflow as tf

from charrnn.core.config import TrainConfig
from charrnn.core.errors import CharRNNError
from charrnn.training.learning_rate import LearningRate


def rates(steps, planned=100, steps_per_epoch=10, **train):
    schedule = LearningRate(TrainConfig(**train), steps_per_epoch, tf.Variable(planned, dtype=tf.int64))
    return np.array([float(schedule(step)) for step in steps])


def test_exponential_is_char_rnn_s_decay_per_epoch():
    np.testing.assert_allclose(rates([0, 9, 10, 25], learning_rate=0.01, decay_rate=0.5),
                               [0.01, 0.01, 0.005, 0.0025], rtol=1e-6)


def test_warmup_rises_linearly_then_hands_over():
    np.testing.assert_allclose(rates([0, 1, 3, 4, 50], learning_rate=0.01, warmup_steps=4, lr_schedule="constant"),
                               [0.0025, 0.005, 0.01, 0.01, 0.01], rtol=1e-6)


def test_cosine_reaches_min_lr_at_the_planned_step_and_follows_a_new_plan():
    train = dict(learning_rate=0.01, min_lr=0.001, lr_schedule="cosine", warmup_steps=10)
    np.testing.assert_allclose(rates([10, 55, 100, 150], **train), [0.01, 0.0055, 0.001, 0.001], rtol=1e-5)
    planned = tf.Variable(100, dtype=tf.int64)
    schedule = LearningRate(TrainConfig(**train), 10, planned)
    planned.assign(190)  # a time budget found room for more steps
    assert float(schedule(100)) == pytest.approx(0.0055, rel=1e-5)


def test_min_lr_floors_every_schedule_and_must_not_exceed_the_rate():
    assert rates([1000], learning_rate=0.01, decay_rate=0.5, min_lr=0.002)[0] == pytest.approx(0.002)
    with pytest.raises(CharRNNError, match="--min_lr"):
        TrainConfig(learning_rate=0.01, min_lr=0.02)
    with pytest.raises(CharRNNError, match="--lr_schedule"):
        TrainConfig(lr_schedule="linear")
