"""charrnn.model.recurrent against the Keras layers whose variables it uses: same outputs, states and gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from charrnn.model import recurrent

BATCH, TIME, FEATURES, UNITS = 3, 7, 5, 6


def keras_layer(kind):
    layer = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[kind](
        UNITS, return_sequences=True, return_state=True, **({"reset_after": True} if kind == "gru" else {}))
    layer.build((BATCH, TIME, FEATURES))
    rng = np.random.default_rng(0)
    for variable in layer.weights:  # random biases too, so every term of the maths is exercised
        variable.assign(rng.normal(0, 0.5, variable.shape).astype(np.float32))
    return layer


def run_both(kind):
    """((outputs, *states), gradients) of the Keras layer and of charrnn.model.recurrent, on the same weights."""
    layer = keras_layer(kind)
    rng = np.random.default_rng(1)
    inputs = tf.constant(rng.normal(size=(BATCH, TIME, FEATURES)), tf.float32)
    states = [tf.constant(rng.normal(size=(BATCH, UNITS)), tf.float32) for _ in range(2 if kind == "lstm" else 1)]
    weightings = [tf.constant(rng.normal(size=shape), tf.float32)
                  for shape in [(BATCH, TIME, UNITS)] + [(BATCH, UNITS)] * len(states)]
    cell = layer.cell

    def ours(x, s):
        if kind == "lstm":
            return recurrent.lstm_sequence(x, *s, cell.kernel, cell.recurrent_kernel, cell.bias)
        return recurrent.gru_sequence(x, *s, cell.kernel, cell.recurrent_kernel, cell.bias)

    results = []
    for function in (lambda x, s: layer(x, initial_state=s), ours):
        with tf.GradientTape() as tape:
            tape.watch([inputs, *states])
            values = function(inputs, states)
            loss = sum(tf.reduce_sum(v * w) for v, w in zip(values, weightings))
        sources = [inputs, *states, *layer.trainable_variables]
        results.append(([v.numpy() for v in values], [g.numpy() for g in tape.gradient(loss, sources)]))
    return results


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_outputs_states_and_gradients_match_keras(kind):
    (keras_values, keras_grads), (our_values, our_grads) = run_both(kind)
    assert len(our_values) == len(keras_values) == (3 if kind == "lstm" else 2)
    for ours, theirs in zip(our_values, keras_values):
        np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=1e-5)
    assert len(our_grads) == len(keras_grads) == 1 + len(our_values) - 1 + 3
    for ours, theirs in zip(our_grads, keras_grads):  # inputs, states, kernel, recurrent kernel, bias
        np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_gradients_match_inside_a_tf_function(kind):
    layer = keras_layer(kind)
    cell = layer.cell
    inputs = tf.random.stateless_normal((BATCH, TIME, FEATURES), seed=[1, 2])
    states = [tf.zeros((BATCH, UNITS))] * (2 if kind == "lstm" else 1)
    sequence = recurrent.lstm_sequence if kind == "lstm" else recurrent.gru_sequence

    @tf.function
    def gradients(use_ours):
        with tf.GradientTape() as tape:
            if use_ours:
                outputs = sequence(inputs, *states, cell.kernel, cell.recurrent_kernel, cell.bias)[0]
            else:
                outputs = layer(inputs, initial_state=states)[0]
            loss = tf.reduce_sum(tf.square(outputs))  # final states unused: their gradients arrive as None
        return tape.gradient(loss, layer.trainable_variables)

    for ours, theirs in zip(gradients(True), gradients(False)):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_a_stack_of_layers_matches_keras_layers_one_after_another(kind):
    layers = [keras_layer(kind)]
    n = 2 if kind == "lstm" else 1  # states per layer
    for seed in (3, 4):  # upper layers take UNITS features
        layer = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[kind](UNITS, return_sequences=True, return_state=True,
                            **({"reset_after": True} if kind == "gru" else {}))
        layer.build((BATCH, TIME, UNITS))
        rng = np.random.default_rng(seed)
        for variable in layer.weights:
            variable.assign(rng.normal(0, 0.5, variable.shape).astype(np.float32))
        layers.append(layer)
    rng = np.random.default_rng(5)
    inputs = tf.constant(rng.normal(size=(BATCH, TIME, FEATURES)), tf.float32)
    states = [tf.constant(rng.normal(size=(BATCH, UNITS)), tf.float32) for _ in range(n * len(layers))]
    weightings = [tf.constant(rng.normal(size=(BATCH, TIME, UNITS)), tf.float32)] + [
        tf.constant(rng.normal(size=(BATCH, UNITS)), tf.float32) for _ in states]
    variables = [v for layer in layers for v in layer.trainable_variables]

    def keras_stack(x, s):
        final = []
        for i, layer in enumerate(layers):
            x, *layer_states = layer(x, initial_state=s[n * i: n * (i + 1)])
            final += layer_states
        return [x, *final]

    def our_stack(x, s):
        stack = recurrent.lstm_stack if kind == "lstm" else recurrent.gru_stack
        outputs, final, _ = stack(x, s, [(l.cell.kernel, l.cell.recurrent_kernel, l.cell.bias) for l in layers])
        return [outputs, *final]

    results = []
    for function in (keras_stack, our_stack):
        with tf.GradientTape() as tape:
            tape.watch([inputs, *states])
            values = function(inputs, states)
            loss = sum(tf.reduce_sum(v * w) for v, w in zip(values, weightings))
        results.append((values, tape.gradient(loss, [inputs, *states, *variables])))
    for theirs, ours in zip(*[values + grads for values, grads in results]):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-5, rtol=1e-5)
