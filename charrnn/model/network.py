"""The char-rnn network: embedding -> num_layers recurrent layers -> dense over the vocabulary.

Each recurrent layer's output may be layer-normalised (`layer_norm`), have the layer's input
added to it from the second layer on (`residual`), then goes through dropout. The embedding is
as wide as the recurrent layers (char-rnn's choice) unless `embedding_size` says otherwise; its
output may go through dropout too (`embedding_dropout`). With `locked_dropout` both draw one mask
per stream and batch, the same at every timestep (variational dropout). `weight_drop` is
DropConnect on the recurrent kernels (AWD-LSTM's weight drop): in training each layer's
recurrent kernel [units, gates * units] is multiplied by one dropout mask per call (per batch),
which changes the weights the cell reads, not the cell, so cuDNN and charrnn's CPU recurrence
both still apply. With `tie_embeddings` the output layer
has no kernel of its own: logits = top outputs x embedding^T + bias, one [vocab, width] variable
serving both ends.

The RNN state is passed in and returned explicitly (a flat tuple of [batch, rnn_size]
tensors, two per LSTM layer and one per GRU or RNN layer) so the trainer can carry it across
batches and the sampler can step one character at a time.

The Keras LSTM and GRU layers are configured so that on a GPU they run cuDNN's fused kernels:
default activations, a bias, no recurrent dropout, no unrolling, GRU `reset_after=True`.
Without a GPU, training and scoring (sequences of static length) run the recurrence through
charrnn.model.recurrent, the same maths on the same variables, where that measured faster:
stacked LSTM and GRU layers (with the layer norms, residual connections and dropout between
them inside its loop) in any precision, and one layer in bfloat16 or float16. One layer in
float32 keeps Keras' layers. SimpleRNN layers always run in Keras.
Sampling steps one character at a time through `step`, on either path.

Under a mixed precision (`dtype_policy` "mixed_bfloat16" or "mixed_float16") variables stay
float32, the layers compute in the lower precision, and the logits, the loss and the RNN
state passed in and out are float32.
"""

import keras
import tensorflow as tf

from charrnn.core.config import RECURRENCE_CHOICES, ModelConfig
from charrnn.model import recurrent

_LAYERS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}


def states_per_layer(cell_type: str) -> int:
    return 2 if cell_type == "lstm" else 1


def gpu_available() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


class CharRNN(keras.Model):
    """Character language model. Dropout (when set) follows every recurrent layer.

    recurrence: "keras" runs the Keras layers (cuDNN on a GPU), "cpu" runs charrnn.model.recurrent
    for LSTM and GRU sequences of static length, "auto" picks "cpu" when there is no GPU and it
    measured faster for the cell, depth and precision (see the module docstring).
    """

    def __init__(self, config: ModelConfig, recurrence: str = "auto", dtype_policy: str = "float32", **kwargs):
        super().__init__(**kwargs)
        if recurrence not in RECURRENCE_CHOICES:
            raise ValueError(f"recurrence must be one of {RECURRENCE_CHOICES}, got {recurrence!r}")
        self.config = config
        # Measured on 2 CPU cores (python -m charrnn.bench --recurrence keras|cpu): in bfloat16
        # charrnn.model.recurrent is faster for LSTM and GRU; in float32 for stacked layers (the
        # wavefront), while one LSTM layer is faster in Keras and one GRU layer the same.
        faster_here = dtype_policy != "float32" or config.num_layers >= 2
        self.cpu_recurrence = config.model in ("lstm", "gru") and (
            recurrence == "cpu" or (recurrence == "auto" and faster_here and not gpu_available()))
        self.embedding = keras.layers.Embedding(config.vocab_size, config.embedding_width, name="embedding",
                                                dtype=dtype_policy)
        # Locked: one mask per stream [batch, 1, features], broadcast over the timesteps.
        noise_shape = (None, 1, None) if config.locked_dropout else None
        if config.embedding_dropout:
            self.embedding_dropout = keras.layers.Dropout(config.embedding_dropout, noise_shape=noise_shape,
                                                          name="embedding_dropout", dtype=dtype_policy)
        layer_kwargs = {"reset_after": True} if config.model == "gru" else {}
        # One attribute per layer: TensorFlow checkpoints follow attributes, not Keras-tracked lists.
        for i in range(config.num_layers):
            setattr(self, f"rnn_{i}", _LAYERS[config.model](
                config.rnn_size, return_sequences=True, return_state=True, name=f"{config.model}_{i}",
                dtype=dtype_policy, **layer_kwargs))
            setattr(self, f"dropout_{i}", keras.layers.Dropout(config.dropout, noise_shape=noise_shape,
                                                               name=f"dropout_{i}", dtype=dtype_policy))
            if config.weight_drop:
                setattr(self, f"weight_drop_{i}", keras.layers.Dropout(config.weight_drop, name=f"weight_drop_{i}"))
            if config.layer_norm:
                setattr(self, f"layer_norm_{i}", keras.layers.LayerNormalization(name=f"layer_norm_{i}",
                                                                                 dtype=dtype_policy))
        # float32 logits: the softmax and the loss stay accurate under a mixed precision.
        if config.tie_embeddings:
            self.dense = TiedLogits(config.vocab_size, name="logits", dtype="float32")
        else:
            self.dense = keras.layers.Dense(config.vocab_size, name="logits", dtype="float32")

    @property
    def rnn_layers(self) -> list:
        return [getattr(self, f"rnn_{i}") for i in range(self.config.num_layers)]

    def _between_layers(self, i: int, outputs, inputs):
        """What follows recurrent layer i before dropout: its outputs [..., units], layer-normalised
        and with its inputs added (residual, from the second layer on), as configured."""
        if self.config.layer_norm:  # in the outputs' dtype: `step` runs in float32 under any policy
            outputs = tf.cast(getattr(self, f"layer_norm_{i}")(outputs), outputs.dtype)
        if self.config.residual and i > 0:
            outputs = outputs + inputs
        return outputs

    @property
    def dropouts(self) -> list:
        """Every dropout layer: the embedding's, if any, then one per recurrent layer, then the
        recurrent kernels' weight drops, if any."""
        embedding = [self.embedding_dropout] if self.config.embedding_dropout else []
        layers = range(self.config.num_layers)
        weight_drops = [getattr(self, f"weight_drop_{i}") for i in layers] if self.config.weight_drop else []
        return embedding + [getattr(self, f"dropout_{i}") for i in layers] + weight_drops

    def recurrent_kernels(self, training: bool) -> list:
        """What each layer's recurrent kernel [units, gates * units] is in this call: in training
        under --weight_drop the variable times a fresh dropout mask (scaled by 1 / (1 - rate)),
        else None (the variable itself)."""
        if not (training and self.config.weight_drop):
            return [None] * self.config.num_layers
        if not all(layer.built for layer in self.rnn_layers):
            self.build_variables()
        return [layer.cell.recurrent_kernel * getattr(self, f"weight_drop_{i}")(
            tf.ones_like(layer.cell.recurrent_kernel), training=True) for i, layer in enumerate(self.rnn_layers)]

    def _logits(self, x):
        """x [..., rnn_size] -> logits [..., vocab] float32."""
        if self.config.tie_embeddings:
            return self.dense(x, self.embedding.embeddings)
        return self.dense(x)

    def zero_state(self, batch_size: int) -> tuple:
        """A flat tuple of zero [batch_size, rnn_size] float32 tensors."""
        count = self.config.num_layers * states_per_layer(self.config.model)
        return tuple(tf.zeros([batch_size, self.config.rnn_size]) for _ in range(count))

    def _layer_states(self, states, i):
        n = states_per_layer(self.config.model)
        return list(states[i * n: (i + 1) * n])

    def _run_layer(self, layer, x, states, training, recurrent_kernel):
        """Keras' layer: x [batch, time, features] -> (outputs [batch, time, units], new states of
        the layer), reading `recurrent_kernel` (a tensor; None: its variable) in place of its variable."""
        initial_state = [tf.cast(s, x.dtype) for s in states]
        if recurrent_kernel is None:
            x, *states = layer(x, initial_state=initial_state, training=training)
        else:  # the variable reads as the tensor inside the scope, and its gradient flows through it
            with keras.StatelessScope(state_mapping=[(layer.cell.recurrent_kernel, recurrent_kernel)]):
                x, *states = layer(x, initial_state=initial_state, training=training)
        return x, states

    def _weights(self, layer, dtype, recurrent_kernel=None):
        """(kernel, recurrent kernel, bias) of a layer in `dtype`; `recurrent_kernel` (if not None) in place of its own."""
        cell = layer.cell
        recurrent_kernel = cell.recurrent_kernel if recurrent_kernel is None else recurrent_kernel
        return [tf.cast(v, dtype) for v in (cell.kernel, recurrent_kernel, cell.bias)]

    def call(self, ids, states, training=False, differentiable=True):
        """ids [batch, time] int -> (logits [batch, time, vocab] float32, new states, float32).

        differentiable=False (scoring): the CPU path keeps nothing for a gradient; no gradient
        may then be taken."""
        recurrent_kernels = self.recurrent_kernels(training)
        if self.cpu_recurrence and ids.shape[1] is not None and all(layer.built for layer in self.rnn_layers):
            return self._cpu_stack(ids, states, training, differentiable, recurrent_kernels)
        x = self._embedded(ids, training)
        new_states = []
        layer_dropouts = [getattr(self, f"dropout_{i}") for i in range(self.config.num_layers)]
        for i, (layer, dropout) in enumerate(zip(self.rnn_layers, layer_dropouts)):
            outputs, layer_states = self._run_layer(layer, x, self._layer_states(states, i), training,
                                                    recurrent_kernels[i])
            new_states.extend(tf.cast(s, tf.float32) for s in layer_states)
            x = dropout(self._between_layers(i, outputs, x), training=training)
        return self._logits(x), tuple(new_states)

    def _embedded(self, ids, training):
        """ids [batch, time] -> the first layer's inputs [batch, time, embedding], after the embedding's dropout."""
        x = self.embedding(ids)
        if self.config.embedding_dropout:
            x = self.embedding_dropout(x, training=training)
        return x

    def _input_table(self, kernel, bias):
        """The first layer's input part of every character, embeddings x kernel + input bias [vocab,
        gates * units], in kernel's dtype (kernel and bias: the layer's). Looking characters up in
        it replaces multiplying their embeddings: vocab rows instead of one per character."""
        input_bias = bias[0] if self.config.model == "gru" else bias
        return tf.matmul(tf.cast(self.embedding.embeddings, kernel.dtype), kernel) + input_bias

    def _cpu_stack(self, ids, states, training, differentiable, recurrent_kernels):
        """`call` on the CPU path, ids [batch, time] -> (logits, states): the layer norms, residual
        connections and dropout between the layers run inside charrnn.model.recurrent's
        wavefront; those after the top layer here. The layers read `recurrent_kernels`. Without
        embedding dropout, and with fewer characters in the vocabulary than in the batch, the
        first layer's input part is looked up in _input_table rather than projected character by
        character: up to a fifth less time per training step (docs/speed.md)."""
        dtype = self.embedding.compute_dtype
        weights = [self._weights(layer, dtype, kernel) for layer, kernel in zip(self.rnn_layers, recurrent_kernels)]
        characters = ids.shape.num_elements()
        lookup = not self.config.embedding_dropout and (characters is None or self.config.vocab_size < characters)
        if lookup:
            kernel, _, bias = weights[0]
            x = tf.gather(self._input_table(kernel, bias), ids)  # [batch, time, gates * units]
        else:
            x = self._embedded(ids, training)
        lower = range(self.config.num_layers - 1)
        norms = [(norm.gamma, norm.beta) for norm in (getattr(self, f"layer_norm_{i}") for i in lower)
                 ] if self.config.layer_norm else []
        masks = []
        if training and self.config.dropout:  # the masks the dropout layers would draw for these outputs
            ones = tf.ones(tf.concat([tf.shape(ids), [self.config.rnn_size]], axis=0), dtype)
            masks = [getattr(self, f"dropout_{i}")(ones, training=True) for i in lower]
        epsilon = self.layer_norm_0.epsilon if self.config.layer_norm else 1e-3
        stack = recurrent.lstm_stack if self.config.model == "lstm" else recurrent.gru_stack
        outputs, new_states, top_inputs = stack(x, [tf.cast(s, dtype) for s in states], weights, norms, epsilon,
                                                self.config.residual, masks, differentiable, projected=lookup)
        top = self.config.num_layers - 1
        x = getattr(self, f"dropout_{top}")(self._between_layers(top, outputs, top_inputs), training=training)
        return self._logits(x), tuple(tf.cast(s, tf.float32) for s in new_states)

    def step_weights(self) -> list:
        """What `step` reads, computed once per sampling loop rather than per character: for each
        layer (input weights, recurrent kernel, bias), where layer 0's input weights are its input
        projection of every character, a [vocab, gates * units] table, so a step looks it up
        instead of multiplying."""
        weights = []
        for i, layer in enumerate(self.rnn_layers):
            kernel, recurrent_kernel, bias = self._weights(layer, tf.float32)
            if i == 0:
                kernel = self._input_table(kernel, bias)
            weights.append((kernel, recurrent_kernel, bias))
        return weights

    def step(self, ids, states, weights=None):
        """One character per row, inference only, in float32: ids [batch] -> (logits [batch, vocab], states).

        The same results as `call` on a sequence of length one, without a sequence loop or Keras'
        per-call overhead, which matters inside a sampling loop. `weights` is step_weights().
        """
        weights = weights if weights is not None else self.step_weights()
        x, new_states = None, []
        for i, (kernel, recurrent_kernel, bias) in enumerate(weights):
            layer_states = [tf.cast(s, tf.float32) for s in self._layer_states(states, i)]
            input_bias = bias[0] if self.config.model == "gru" else bias
            input_part = tf.gather(kernel, ids) if i == 0 else tf.matmul(x, kernel) + input_bias
            if self.config.model == "lstm":
                layer_states = list(recurrent.lstm_step(input_part, *layer_states, recurrent_kernel))
            elif self.config.model == "gru":
                layer_states = [recurrent.gru_step(input_part, *layer_states, recurrent_kernel, bias[1])]
            else:  # SimpleRNN: tanh(x W + h U + b)
                layer_states = [tf.tanh(input_part + tf.matmul(layer_states[0], recurrent_kernel))]
            x = self._between_layers(i, layer_states[0], x)
            new_states.extend(layer_states)
        return self._logits(x), tuple(new_states)

    def build_variables(self) -> None:
        """Creates every variable (before restoring a checkpoint into them), layer by layer: a first
        call would build them too, but tracing Keras' generic recurrence took 0.5 s longer."""
        self.embedding.build((None, None))
        for i, layer in enumerate(self.rnn_layers):
            layer.build((None, None, self.config.embedding_width if i == 0 else self.config.rnn_size))
            if self.config.layer_norm:
                getattr(self, f"layer_norm_{i}").build((None, None, self.config.rnn_size))
        self.dense.build((None, None, self.config.rnn_size))
        self.built = True


class TiedLogits(keras.layers.Layer):
    """The output layer of tied embeddings: x [..., width] -> x embeddings^T + bias [..., vocab].
    Owns only the bias; the embedding's [vocab, width] variable is passed in at each call."""

    def __init__(self, vocab_size: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(self.vocab_size,), initializer="zeros", name="bias")

    def call(self, x, embeddings):
        x, embeddings = tf.cast(x, self.compute_dtype), tf.cast(embeddings, self.compute_dtype)
        flat = tf.matmul(tf.reshape(x, [-1, tf.shape(x)[-1]]), embeddings, transpose_b=True) + self.bias
        return tf.reshape(flat, tf.concat([tf.shape(x)[:-1], [self.vocab_size]], axis=0))


def sequence_loss(logits, targets):
    """Mean cross-entropy in nats/char of logits [batch, time, vocab] against targets [batch, time]."""
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(targets, tf.int32), logits=tf.cast(logits, tf.float32)))


def transfer_weights(source: CharRNN, source_chars, target: CharRNN, target_chars) -> None:
    """Copies a trained model's weights into `target`, a model of the same architecture over a
    vocabulary holding every character of the source's (and maybe more): the characters' rows of
    the embedding [vocab, width] and their columns of the output layer [units, vocab] and [vocab]
    move to their new ids; the rows of characters new to the target keep their fresh initial values.
    """
    new_id = {char: i for i, char in enumerate(target_chars)}
    rows = tf.constant([[new_id[char]] for char in source_chars], tf.int32)  # [source vocab, 1]
    target.embedding.embeddings.assign(tf.tensor_scatter_nd_update(
        target.embedding.embeddings, rows, source.embedding.embeddings))
    if not target.config.tie_embeddings:
        target.dense.kernel.assign(tf.transpose(tf.tensor_scatter_nd_update(
            tf.transpose(target.dense.kernel), rows, tf.transpose(source.dense.kernel))))
    target.dense.bias.assign(tf.tensor_scatter_nd_update(target.dense.bias, rows, source.dense.bias))
    by_vocabulary = {id(v) for v in (target.embedding.embeddings, *target.dense.weights)}
    for source_weight, target_weight in zip(source.weights, target.weights):
        if id(target_weight) not in by_vocabulary:  # the recurrent layers' and layer norms' weights
            target_weight.assign(source_weight)
