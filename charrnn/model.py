"""The char-rnn network: embedding -> num_layers recurrent layers -> dense over the vocabulary.

The RNN state is passed in and returned explicitly (a flat tuple of [batch, rnn_size]
tensors, two per LSTM layer and one per GRU or RNN layer) so the trainer can carry it across
batches and the sampler can step one character at a time.

The Keras LSTM and GRU layers are configured so that on a GPU they run cuDNN's fused kernels:
default activations, a bias, no recurrent dropout, no unrolling, GRU `reset_after=True`.
"""

import keras
import tensorflow as tf

from charrnn.config import ModelConfig

_LAYERS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}


def states_per_layer(cell_type: str) -> int:
    return 2 if cell_type == "lstm" else 1


class CharRNN(keras.Model):
    """Character language model. Dropout (when set) follows every recurrent layer."""

    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        # char-rnn's choice: the embedding is as wide as the recurrent layers.
        self.embedding = keras.layers.Embedding(config.vocab_size, config.rnn_size, name="embedding")
        layer_kwargs = {"reset_after": True} if config.model == "gru" else {}
        # One attribute per layer: TensorFlow checkpoints follow attributes, not Keras-tracked lists.
        for i in range(config.num_layers):
            setattr(self, f"rnn_{i}", _LAYERS[config.model](
                config.rnn_size, return_sequences=True, return_state=True, name=f"{config.model}_{i}",
                **layer_kwargs))
            setattr(self, f"dropout_{i}", keras.layers.Dropout(config.dropout, name=f"dropout_{i}"))
        self.dense = keras.layers.Dense(config.vocab_size, name="logits")

    @property
    def rnn_layers(self) -> list:
        return [getattr(self, f"rnn_{i}") for i in range(self.config.num_layers)]

    @property
    def dropouts(self) -> list:
        return [getattr(self, f"dropout_{i}") for i in range(self.config.num_layers)]

    def zero_state(self, batch_size: int) -> tuple:
        """A flat tuple of zero [batch_size, rnn_size] float32 tensors."""
        count = self.config.num_layers * states_per_layer(self.config.model)
        return tuple(tf.zeros([batch_size, self.config.rnn_size]) for _ in range(count))

    def _layer_states(self, states, i):
        n = states_per_layer(self.config.model)
        return list(states[i * n: (i + 1) * n])

    def call(self, ids, states, training=False):
        """ids [batch, time] int -> (logits [batch, time, vocab] float32, new states)."""
        x = self.embedding(ids)
        new_states = []
        for i, (layer, dropout) in enumerate(zip(self.rnn_layers, self.dropouts)):
            x, *layer_states = layer(x, initial_state=self._layer_states(states, i), training=training)
            new_states.extend(layer_states)
            x = dropout(x, training=training)
        return self.dense(x), tuple(new_states)

    def step(self, ids, states):
        """One character per row, inference only: ids [batch] -> (logits [batch, vocab], states).

        Runs the layers' cells directly: the same weights and maths as `call` on a sequence of
        length one, without the per-call sequence loop, which matters inside a sampling loop.
        """
        x = self.embedding(ids)
        new_states = []
        for i, layer in enumerate(self.rnn_layers):
            x, layer_states = layer.cell(x, self._layer_states(states, i), training=False)
            new_states.extend(layer_states if isinstance(layer_states, (list, tuple)) else [layer_states])
        return self.dense(x), tuple(new_states)

    def build_variables(self) -> None:
        """Creates every variable (before restoring a checkpoint into them)."""
        self(tf.zeros([1, 1], tf.int32), self.zero_state(1))


def sequence_loss(logits, targets):
    """Mean cross-entropy in nats/char of logits [batch, time, vocab] against targets [batch, time]."""
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(targets, tf.int32), logits=tf.cast(logits, tf.float32)))
