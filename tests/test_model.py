import importlib

import numpy as np
import pytest
import tensorflow as tf

from charrnn.config import ModelConfig
from charrnn.model import CharRNN, sequence_loss


def build(cell_type, **kwargs):
    model = CharRNN(ModelConfig(vocab_size=11, model=cell_type, rnn_size=8, num_layers=2, **kwargs))
    model.build_variables()
    return model


@pytest.mark.parametrize("cell_type, states", [("lstm", 4), ("gru", 2), ("rnn", 2)])
def test_shapes_and_state_count(cell_type, states):
    model = build(cell_type)
    logits, new_states = model(tf.zeros([3, 5], tf.int32), model.zero_state(3))
    assert logits.shape == (3, 5, 11)
    assert len(new_states) == states and all(s.shape == (3, 8) for s in new_states)


@pytest.mark.parametrize("cell_type", ["lstm", "gru", "rnn"])
def test_step_matches_the_sequence_call(cell_type):
    model = build(cell_type)
    ids = tf.constant(np.random.default_rng(0).integers(0, 11, (2, 6)), tf.int32)
    logits, final_states = model(ids, model.zero_state(2))
    states = model.zero_state(2)
    for t in range(6):
        step_logits, states = model.step(ids[:, t], states)
        np.testing.assert_allclose(step_logits, logits[:, t], atol=1e-5)
    for a, b in zip(states, final_states):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_state_is_carried():
    model = build("lstm")
    ids = tf.constant([[1, 2, 3]], tf.int32)
    _, states = model(ids, model.zero_state(1))
    fresh, _ = model(ids, model.zero_state(1))
    carried, _ = model(ids, states)
    assert not np.allclose(fresh, carried)


@pytest.mark.parametrize("cell_type", ["lstm", "gru"])
def test_layers_are_eligible_for_cudnn_kernels(cell_type):
    # The conditions Keras checks before it runs cuDNN on a GPU (besides a GPU being there).
    # (The package re-exports a function named rnn, hence import_module for the module.)
    keras_tf_rnn = importlib.import_module("keras.src.backend.tensorflow.rnn")
    for layer in build(cell_type).rnn_layers:
        cell = layer.cell
        assert layer.use_cudnn == "auto" and not cell.recurrent_dropout and not layer.unroll
        if cell_type == "lstm":
            assert keras_tf_rnn._do_lstm_arguments_support_cudnn(
                cell.activation, cell.recurrent_activation, layer.unroll, cell.use_bias)
        else:
            assert cell.reset_after
            assert keras_tf_rnn._do_gru_arguments_support_cudnn(
                cell.activation, cell.recurrent_activation, layer.unroll, cell.use_bias, cell.reset_after)


def test_dropout_only_in_training():
    model = build("lstm", dropout=0.5)
    ids = tf.constant([[1, 2, 3, 4]], tf.int32)
    a, _ = model(ids, model.zero_state(1), training=False)
    b, _ = model(ids, model.zero_state(1), training=False)
    c, _ = model(ids, model.zero_state(1), training=True)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_sequence_loss_is_mean_nats_per_char():
    logits = tf.math.log(tf.constant([[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]]))
    loss = sequence_loss(logits, tf.constant([[0, 1]]))
    np.testing.assert_allclose(loss, -(np.log(0.5) + np.log(0.8)) / 2, rtol=1e-6)
