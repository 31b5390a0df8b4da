import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from charrnn.core.config import ModelConfig
from charrnn.model import recurrent
from charrnn.model.network import CharRNN, gpu_available, sequence_loss


def build(cell_type, recurrence="auto", dtype_policy="float32", **kwargs):
    model = CharRNN(ModelConfig(**{"vocab_size": 11, "model": cell_type, "rnn_size": 8, "num_layers": 2, **kwargs}),
                    recurrence=recurrence, dtype_policy=dtype_policy)
    model.build_variables()
    return model


def logits_states_and_gradients(model, ids, training=False):
    states = tuple(tf.random.stateless_normal([ids.shape[0], 8], seed=[i, 1]) for i in range(len(model.zero_state(1))))
    with tf.GradientTape() as tape:
        logits, new_states = model(ids, states, training=training)
        loss = sequence_loss(logits, ids) + sum(tf.reduce_sum(s * s) for s in new_states)
    gradients = tape.gradient(loss, model.trainable_variables)
    return [logits, *new_states, *(tf.convert_to_tensor(g) for g in gradients)]


OPTIONS = dict(embedding_size=5, layer_norm=True, residual=True, embedding_dropout=0.2)
TIED = dict(tie_embeddings=True, embedding_dropout=0.2)


# On the CPU path the layer norms, residual connections and dropout masks between LSTM layers
# run inside the stack's loop, with their own gradient: three layers, so a middle layer has
# both a layer below and one above.
DEEP = dict(num_layers=3, layer_norm=True, residual=True)
# DropConnect on the recurrent kernels, locked dropout masks: the same masks reach both paths.
WEIGHT_DROP = dict(weight_drop=0.5, locked_dropout=True, embedding_dropout=0.2, layer_norm=True)


@pytest.mark.parametrize("cell_type, dropout, options", [("lstm", 0.0, {}), ("gru", 0.0, {}), ("lstm", 0.3, {}),
                                                         ("lstm", 0.0, OPTIONS), ("gru", 0.3, OPTIONS),
                                                         ("lstm", 0.0, TIED), ("lstm", 0.3, DEEP),
                                                         ("lstm", 0.0, dict(num_layers=3, layer_norm=True)),
                                                         ("lstm", 0.3, WEIGHT_DROP), ("gru", 0.3, WEIGHT_DROP)])
def test_cpu_recurrence_matches_keras_layers_and_shares_their_checkpoints(tmp_path, cell_type, dropout, options):
    keras.utils.set_random_seed(7)  # the same dropout masks in both models
    keras_model = build(cell_type, recurrence="keras", dropout=dropout, **options)
    checkpoint = tf.train.Checkpoint(model=keras_model).write(str(tmp_path / "ckpt"))
    keras.utils.set_random_seed(7)
    cpu_model = build(cell_type, recurrence="cpu", dropout=dropout, **options)
    tf.train.Checkpoint(model=cpu_model).read(checkpoint).assert_existing_objects_matched()
    assert cpu_model.cpu_recurrence and not keras_model.cpu_recurrence
    ids = tf.constant(np.random.default_rng(3).integers(0, 11, (3, 9)), tf.int32)
    ours = logits_states_and_gradients(cpu_model, ids, training=bool(dropout))
    theirs = logits_states_and_gradients(keras_model, ids, training=bool(dropout))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell_type", ["lstm", "gru"])
@pytest.mark.parametrize("shape, options, looked_up", [((3, 9), {}, True), ((3, 9), dict(embedding_dropout=0.2), False),
                                                       ((1, 5), {}, False)])
def test_the_cpu_path_looks_up_the_first_layer_s_input_part_when_the_batch_has_more_characters_than_the_vocabulary(
        monkeypatch, cell_type, shape, options, looked_up):
    """A [vocab, gates * units] table in place of projecting each embedded character: the same
    logits, states and gradients as Keras' layers, whichever way the input part is made."""
    stack, projected = getattr(recurrent, f"{cell_type}_stack"), []

    def recording_stack(*args, **kwargs):
        projected.append(kwargs["projected"])
        return stack(*args, **kwargs)

    monkeypatch.setattr(recurrent, f"{cell_type}_stack", recording_stack)
    keras.utils.set_random_seed(7)
    keras_model = build(cell_type, recurrence="keras", **options)
    cpu_model = build(cell_type, recurrence="cpu", **options)
    cpu_model.set_weights(keras_model.get_weights())
    ids = tf.constant(np.random.default_rng(3).integers(0, 11, shape), tf.int32)
    ours = logits_states_and_gradients(cpu_model, ids)
    assert projected == [looked_up]
    for a, b in zip(ours, logits_states_and_gradients(keras_model, ids)):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell_type, options", [("lstm", {}), ("gru", {}), ("lstm", DEEP), ("gru", DEEP),
                                                 ("lstm", dict(num_layers=1))])
def test_the_forward_pass_for_scoring_gives_the_differentiable_pass_s_logits_and_states(cell_type, options):
    """Scoring calls the model with differentiable=False: nothing kept for a gradient, same numbers."""
    model = build(cell_type, recurrence="cpu", **options)
    ids = tf.constant(np.random.default_rng(5).integers(0, 11, (3, 9)), tf.int32)
    states = tuple(tf.random.stateless_normal([3, 8], seed=[i, 2]) for i in range(len(model.zero_state(1))))
    for a, b in zip(tf.nest.flatten(model(ids, states, differentiable=False)), tf.nest.flatten(model(ids, states))):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("cell_type, options", [("lstm", {}), ("gru", dict(layer_norm=True, residual=True))])
def test_mixed_precision_keeps_float32_variables_logits_and_states(cell_type, options):
    model = build(cell_type, recurrence="cpu", dtype_policy="mixed_bfloat16", **options)
    assert all(v.dtype == tf.float32 for v in model.weights)
    ids = tf.constant(np.random.default_rng(4).integers(0, 11, (2, 7)), tf.int32)
    logits, *rest = logits_states_and_gradients(model, ids)
    assert logits.dtype == tf.float32 and all(t.dtype == tf.float32 for t in rest)
    reference = build(cell_type, recurrence="keras", **options)
    reference.set_weights(model.get_weights())
    full_precision = logits_states_and_gradients(reference, ids)[0]
    np.testing.assert_allclose(logits, full_precision, atol=0.05)  # bfloat16 keeps ~3 significant digits
    assert not np.array_equal(logits, full_precision)  # the layers did compute in bfloat16


@pytest.mark.parametrize("cell_type, states", [("lstm", 4), ("gru", 2), ("rnn", 2)])
def test_shapes_and_state_count(cell_type, states):
    model = build(cell_type)
    logits, new_states = model(tf.zeros([3, 5], tf.int32), model.zero_state(3))
    assert logits.shape == (3, 5, 11)
    assert len(new_states) == states and all(s.shape == (3, 8) for s in new_states)


@pytest.mark.parametrize("cell_type, options", [("lstm", {}), ("gru", {}), ("rnn", {}), ("lstm", OPTIONS),
                                                ("rnn", OPTIONS), ("gru", TIED)])
def test_step_matches_the_sequence_call(cell_type, options):
    model = build(cell_type, **options)
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


@pytest.mark.skipif(gpu_available(), reason="with a GPU, auto keeps the cuDNN layers")
@pytest.mark.parametrize("cell_type, layers, policy, cpu", [
    ("lstm", 2, "float32", True), ("lstm", 1, "float32", False), ("gru", 2, "float32", True),
    ("gru", 1, "float32", False),
    ("gru", 1, "mixed_bfloat16", True), ("lstm", 1, "mixed_bfloat16", True), ("rnn", 2, "mixed_bfloat16", False)])
def test_auto_recurrence_picks_the_path_measured_faster_on_a_cpu(cell_type, layers, policy, cpu):
    config = ModelConfig(vocab_size=5, model=cell_type, rnn_size=4, num_layers=layers)
    assert CharRNN(config, dtype_policy=policy).cpu_recurrence == cpu


def test_architecture_options_shape_the_variables_as_documented():
    plain = build("lstm")
    narrow = build("lstm", embedding_size=5)
    assert narrow.embedding.embeddings.shape == (11, 5) and narrow.rnn_0.cell.kernel.shape == (5, 32)
    assert narrow.rnn_1.cell.kernel.shape == (8, 32)
    assert plain.count_params() - narrow.count_params() == (11 + 32) * (8 - 5)
    normed = build("lstm", layer_norm=True)
    assert normed.count_params() == plain.count_params() + 2 * 2 * 8  # a scale and an offset per unit and layer
    assert build("lstm", residual=True).count_params() == plain.count_params()
    assert build("lstm", embedding_dropout=0.5).count_params() == plain.count_params()
    tied = build("lstm", tie_embeddings=True)
    assert plain.count_params() - tied.count_params() == 8 * 11  # no output kernel of its own
    assert len(tied.trainable_variables) == len(plain.trainable_variables) - 1


def test_tied_embeddings_are_one_variable_at_both_ends():
    model = build("lstm", tie_embeddings=True)
    ids = tf.constant([[1, 2, 3]], tf.int32)
    logits, _ = model(ids, model.zero_state(1))
    model.embedding.embeddings.assign(model.embedding.embeddings * 2)
    top = model.rnn_1(model.rnn_0(model.embedding(ids))[0])[0]
    np.testing.assert_allclose(model(ids, model.zero_state(1))[0],
                               tf.matmul(top, model.embedding.embeddings, transpose_b=True) + model.dense.bias,
                               atol=1e-5)
    assert not np.allclose(logits, model(ids, model.zero_state(1))[0])
    with tf.GradientTape() as tape:
        loss = sequence_loss(model(ids, model.zero_state(1))[0], ids)
    embedding_gradient = tape.gradient(loss, model.embedding.embeddings)
    # Only characters 1, 2 and 3 are read, but every row is an output weight too.
    assert np.all(np.abs(tf.convert_to_tensor(embedding_gradient).numpy()).sum(axis=1) > 0)


def test_embedding_dropout_drops_embedded_characters_only_in_training():
    model = build("lstm", embedding_dropout=0.5)
    ids = tf.constant([[1, 2, 3, 4]], tf.int32)
    a, _ = model(ids, model.zero_state(1))
    np.testing.assert_array_equal(a, model(ids, model.zero_state(1))[0])
    assert not np.allclose(a, model(ids, model.zero_state(1), training=True)[0])
    assert model.dropouts[0] is model.embedding_dropout


def test_layer_norm_normalises_what_the_logits_read_and_residual_adds_the_layer_s_input():
    model = build("lstm", layer_norm=True)
    read = []
    dense_call = model.dense.call
    model.dense.call = lambda x, **kwargs: read.append(x) or dense_call(x, **kwargs)
    ids = tf.constant([[1, 2, 3, 4]], tf.int32)
    model(ids, model.zero_state(1))
    outputs_0, *_ = model.rnn_0(model.embedding(ids))
    outputs_1, *_ = model.rnn_1(model.layer_norm_0(outputs_0))
    mean, variance = tf.nn.moments(outputs_1, axes=[-1], keepdims=True)
    epsilon = model.layer_norm_1.epsilon  # scale 1 and offset 0 as initialised
    np.testing.assert_allclose(read[0], (outputs_1 - mean) / tf.sqrt(variance + epsilon), atol=1e-5)
    np.testing.assert_allclose(tf.reduce_mean(read[0], -1), 0, atol=1e-5)
    residual = build("lstm", residual=True)
    outputs_0, *_ = residual.rnn_0(residual.embedding(ids))
    outputs_1, *_ = residual.rnn_1(outputs_0)
    np.testing.assert_allclose(residual(ids, residual.zero_state(1))[0], residual.dense(outputs_0 + outputs_1),
                               atol=1e-5)


@pytest.mark.parametrize("recurrence", ["keras", "cpu"])
def test_weight_drop_masks_each_recurrent_kernel_once_per_call_and_only_in_training(recurrence):
    """One mask per call (per batch): its zeros cut the same recurrent weights at every timestep
    and in every stream. Seen through the gradient: a dropped weight of the kernel gets none."""
    model = build("lstm", recurrence=recurrence, weight_drop=0.5)
    ids = tf.constant(np.random.default_rng(6).integers(0, 11, (3, 9)), tf.int32)
    kernel = model.rnn_layers[0].cell.recurrent_kernel
    gradients = []
    for _ in range(2):
        keras.utils.set_random_seed(11)
        model = build("lstm", recurrence=recurrence, weight_drop=0.5)
        kernel = model.rnn_layers[0].cell.recurrent_kernel
        with tf.GradientTape() as tape:
            logits, _ = model(ids, model.zero_state(3), training=True)
            loss = sequence_loss(logits, ids)
        gradients.append(tape.gradient(loss, kernel).numpy())
    dropped = gradients[0] == 0
    assert 0.3 < dropped.mean() < 0.7  # about half the weights, each for the whole sequence and batch
    np.testing.assert_array_equal(gradients[0], gradients[1])  # the seed decides the mask
    with tf.GradientTape() as tape:  # a second call draws another mask
        logits, _ = model(ids, model.zero_state(3), training=True)
        again = tape.gradient(sequence_loss(logits, ids), kernel).numpy()
    assert not np.array_equal(again == 0, dropped)
    with tf.GradientTape() as tape:  # no weight drop outside training
        logits, _ = model(ids, model.zero_state(3))
        assert (tape.gradient(sequence_loss(logits, ids), kernel).numpy() != 0).all()
    kept = model.recurrent_kernels(training=True)[1] / model.rnn_layers[1].cell.recurrent_kernel
    assert set(np.unique(np.round(kept.numpy(), 5))) <= {0.0, 2.0}  # kept weights scaled by 1 / (1 - 0.5)


def test_locked_dropout_draws_one_mask_per_stream_for_every_timestep():
    model = build("lstm", dropout=0.5, embedding_dropout=0.5, locked_dropout=True)
    x = tf.ones([4, 20, 8])
    for layer in model.dropouts:
        dropped = layer(x, training=True).numpy() == 0
        assert (dropped == dropped[:, :1]).all()  # the same units dropped at every timestep
        assert 0.2 < dropped.mean() < 0.8 and not (dropped == dropped[:1]).all()  # differing between streams
    plain = build("lstm", embedding_dropout=0.5).dropouts[0](x, training=True).numpy() == 0
    assert not (plain == plain[:, :1]).all()
