"""LSTM and GRU sequences for the CPU, on the weights of Keras' LSTM and GRU layers.

Keras 3 has no fused RNN kernel on the CPU: its layers run a generic while-loop over the cell,
with the input projection and the weight gradients computed per timestep. These functions
compute the same maths faster for a sequence of known length:

- the input projection of all timesteps is one matmul before the recurrence;
- stacked LSTM layers run as one wavefront: step t of layer l starts as soon as step t of
  layer l - 1 is done, so two cores work on two layers at once (forward and backward); GRU
  layers unroll their recurrence (the length is static);
- a custom gradient runs the backward recurrence with only the per-step matmuls, and then
  computes the weight gradients as one large matmul each, [features, batch * time] x
  [batch * time, gates * units], instead of one small one per step.

They read the layers' own variables (Keras' layout and gate order), so a checkpoint trained
on either path loads in the other. Shapes: inputs [batch, time, features], states [batch, units].
"""

import tensorflow as tf


def _zeros_if_none(gradient, like):
    return tf.zeros_like(like) if gradient is None else gradient


def _previous_states(initial, outputs):
    """[batch, time, units]: the state each step started from (initial, then the outputs but the last)."""
    return tf.concat([initial[:, tf.newaxis], outputs[:, :-1]], axis=1)


def _recurrent_kernel_gradient(previous, gate_gradients):
    """sum over batch and time of previous^T x gate_gradients, as one matmul: [units, gates * units]."""
    units, gate_units = previous.shape[-1], gate_gradients.shape[-1]
    return tf.matmul(tf.reshape(previous, [-1, units]), tf.reshape(gate_gradients, [-1, gate_units]),
                     transpose_a=True)


def _project(inputs, kernel, bias):
    """inputs [batch, time, features] x kernel [features, n] + bias [n] -> [batch, time, n], one matmul."""
    batch, time = tf.shape(inputs)[0], inputs.shape[1]
    flat = tf.matmul(tf.reshape(inputs, [-1, inputs.shape[-1]]), kernel) + bias
    return tf.reshape(flat, [batch, time, kernel.shape[-1]])


def _lstm_cell(z, c):
    """z [batch, 4 units] (Keras' gate order i, f, g, o), c [batch, units] -> (h, c, what the gradient needs)."""
    i, f, g, o = tf.split(z, 4, axis=1)
    i, f, g, o = tf.sigmoid(i), tf.sigmoid(f), tf.tanh(g), tf.sigmoid(o)
    new_c = f * c + i * g
    tanh_c = tf.tanh(new_c)
    return o * tanh_c, new_c, (i, f, g, o, c, tanh_c)


def _lstm_cell_gradient(d_h, d_c, saved):
    """Gradients of the cell's pre-activations d_z [batch, 4 units] and of its incoming c."""
    i, f, g, o, previous_c, tanh_c = saved
    d_c = d_c + d_h * o * (1 - tanh_c * tanh_c)
    d_z = tf.concat([d_c * g * i * (1 - i), d_c * previous_c * f * (1 - f), d_c * i * (1 - g * g),
                     d_h * tanh_c * o * (1 - o)], axis=1)
    return d_z, d_c * f


def _lstm_stack(projected, flat_states, recurrent_kernels, upper_kernels, upper_biases):
    """All layers of an LSTM, a timestep at a time for every layer (see lstm_stack).

    The timesteps are a tf.while_loop: TensorFlow overlaps its iterations, so step t + 1 of
    layer 0 runs beside step t of layer 1, and the graph stays small (unrolled, it took about
    2 s longer to build and measured no faster).
    """

    @tf.custom_gradient
    def run(projected, *tensors):
        num_layers, time = len(recurrent_kernels), projected.shape[1]
        recurrent = tensors[2 * num_layers: 3 * num_layers]
        kernels = tensors[3 * num_layers: 4 * num_layers - 1]
        biases = tensors[4 * num_layers - 1:]
        # Upper layers take [input, h] x [kernel; recurrent kernel]: one matmul per step.
        joined = [None] + [tf.concat([k, r], axis=0) for k, r in zip(kernels, recurrent[1:])]
        steps = tf.transpose(projected, [1, 0, 2])  # [time, batch, 4 units]

        def forward(t, states, outputs, saved):
            new_states, new_outputs, new_saved, below = [], [], [], None
            for layer in range(num_layers):
                h, c = states[layer]
                if layer == 0:
                    z = steps[t] + tf.matmul(h, recurrent[0])
                else:
                    z = tf.matmul(tf.concat([below, h], axis=1), joined[layer]) + biases[layer - 1]
                h, c, cell = _lstm_cell(z, c)
                new_states.append((h, c))
                new_outputs.append(outputs[layer].write(t, h))
                new_saved.append(tuple(array.write(t, value) for array, value in zip(saved[layer], cell)))
                below = h
            return t + 1, new_states, new_outputs, new_saved

        arrays = lambda: tf.TensorArray(projected.dtype, size=time)  # noqa: E731
        initial = [(tensors[2 * i], tensors[2 * i + 1]) for i in range(num_layers)]
        _, states, outputs, saved = tf.while_loop(
            lambda t, *_: t < time, forward,
            (tf.constant(0), initial, [arrays() for _ in range(num_layers)],
             [tuple(arrays() for _ in range(6)) for _ in range(num_layers)]))
        sequences = [tf.transpose(o.stack(), [1, 0, 2]) for o in outputs]  # [batch, time, units] per layer
        saved = [tuple(array.stack() for array in layer) for layer in saved]  # [time, ...] per cell value

        def gradient(d_top, *d_final):
            d_states = [tuple(_zeros_if_none(d_final[2 * i + j], states[i][j]) for j in range(2))
                        for i in range(num_layers)]
            d_top = tf.transpose(d_top, [1, 0, 2])
            # Transposed once: a transposing matmul in every step is slower here.
            transposed = [tf.transpose(recurrent[0])] + [tf.transpose(j) for j in joined[1:]]

            def backward(t, d_states, d_z):
                d_states, d_z, d_output = list(d_states), list(d_z), d_top[t]
                for layer in reversed(range(num_layers)):
                    d_h, d_c = d_states[layer]
                    d_z_t, d_c = _lstm_cell_gradient(d_h + d_output, d_c, tuple(v[t] for v in saved[layer]))
                    d_z[layer] = d_z[layer].write(t, d_z_t)
                    d_back = tf.matmul(d_z_t, transposed[layer])
                    if layer == 0:
                        d_states[layer] = (d_back, d_c)
                    else:  # split into the gradient of the layer below's output and of this layer's h
                        d_output, d_h = tf.split(d_back, 2, axis=1)
                        d_states[layer] = (d_h, d_c)
                return t - 1, d_states, d_z

            _, d_states, d_z = tf.while_loop(lambda t, *_: t >= 0, backward,
                                             (tf.constant(time - 1), d_states, [arrays() for _ in range(num_layers)]))
            d_z = [tf.transpose(array.stack(), [1, 0, 2]) for array in d_z]
            d_recurrent = [_recurrent_kernel_gradient(_previous_states(tensors[2 * i], sequences[i]), d_z[i])
                           for i in range(num_layers)]
            d_kernels = [_recurrent_kernel_gradient(sequences[i - 1], d_z[i]) for i in range(1, num_layers)]
            d_biases = [tf.reduce_sum(d_z[i], axis=[0, 1]) for i in range(1, num_layers)]
            return [d_z[0], *[d for pair in d_states for d in pair], *d_recurrent, *d_kernels, *d_biases]

        final = [s for pair in states for s in pair]
        return (sequences[-1], *final), gradient

    return run(projected, *flat_states, *recurrent_kernels, *upper_kernels, *upper_biases)


def _gru_cell(input_part, recurrent_part, h):
    """input_part x W + b_in, recurrent_part h W_r + b_r [batch, 3 units] (Keras' gate order z, r, h)
    -> (new h, what the gradient needs)."""
    x_z, x_r, x_h = tf.split(input_part, 3, axis=1)
    r_z, r_r, r_h = tf.split(recurrent_part, 3, axis=1)
    z = tf.sigmoid(x_z + r_z)
    r = tf.sigmoid(x_r + r_r)
    candidate = tf.tanh(x_h + r * r_h)
    return z * h + (1 - z) * candidate, (h, z, r, r_h, candidate)


@tf.custom_gradient
def _gru_recurrence(projected, h, recurrent_kernel, recurrent_bias):
    """projected [batch, time, 3 units] (x W + input bias) -> (outputs [batch, time, units], h).

    Keras' GRU with reset_after=True: the reset gate multiplies the recurrent part of the
    candidate after its matmul, as cuDNN does.
    """
    initial_h, steps, outputs = h, [], []
    for projected_t in tf.unstack(projected, axis=1):
        h, saved = _gru_cell(projected_t, tf.matmul(h, recurrent_kernel) + recurrent_bias, h)
        steps.append(saved)
        outputs.append(h)
    outputs = tf.stack(outputs, axis=1)

    def gradient(d_outputs, d_h):
        d_h = _zeros_if_none(d_h, h)
        transposed_kernel = tf.transpose(recurrent_kernel)  # once: a transposing matmul is slower here
        d_x, d_inner = [None] * len(steps), [None] * len(steps)
        d_outputs = tf.unstack(d_outputs, axis=1)
        for t in reversed(range(len(steps))):
            previous_h, z, r, r_h, candidate = steps[t]
            d_h = d_h + d_outputs[t]
            d_candidate = d_h * (1 - z) * (1 - candidate * candidate)
            d_z = d_h * (previous_h - candidate) * z * (1 - z)
            d_r = d_candidate * r_h * r * (1 - r)
            d_x[t] = tf.concat([d_z, d_r, d_candidate], axis=1)
            d_inner[t] = tf.concat([d_z, d_r, d_candidate * r], axis=1)
            d_h = d_h * z + tf.matmul(d_inner[t], transposed_kernel)
        d_inner = tf.stack(d_inner, axis=1)
        return (tf.stack(d_x, axis=1), d_h, _recurrent_kernel_gradient(_previous_states(initial_h, outputs), d_inner),
                tf.reduce_sum(d_inner, axis=[0, 1]))

    return (outputs, h), gradient


# The recurrences take the recurrent weights as tensors (a variable would need tf.custom_gradient's
# `variables` protocol); their gradients flow back to the variables through the conversion.

def lstm_stack(inputs, states, weights):
    """Stacked Keras LSTM layers: inputs [batch, time, features] -> (outputs of the top layer
    [batch, time, units], new states), states a flat list (h, c per layer), weights a list of
    (kernel, recurrent kernel, bias) per layer.

    Timestep t of layer l runs as soon as timestep t of layer l - 1 is done, so two cores work
    on two layers at once, forward and backward.
    """
    tensors = [[tf.convert_to_tensor(w) for w in layer] for layer in weights]
    projected = _project(inputs, tensors[0][0], tensors[0][2])
    outputs, *new_states = _lstm_stack(projected, list(states), [w[1] for w in tensors],
                                       [w[0] for w in tensors[1:]], [w[2] for w in tensors[1:]])
    return outputs, new_states


def lstm_sequence(inputs, h, c, kernel, recurrent_kernel, bias):
    """Keras LSTM maths: inputs [batch, time, features] -> (outputs [batch, time, units], h, c)."""
    outputs, (h, c) = lstm_stack(inputs, [h, c], [(kernel, recurrent_kernel, bias)])
    return outputs, h, c


def gru_sequence(inputs, h, kernel, recurrent_kernel, bias):
    """Keras GRU (reset_after=True) maths, bias [2, 3 units]: inputs -> (outputs [batch, time, units], h)."""
    bias = tf.convert_to_tensor(bias)
    return _gru_recurrence(_project(inputs, kernel, bias[0]), h, tf.convert_to_tensor(recurrent_kernel), bias[1])



def lstm_step(input_part, h, c, recurrent_kernel):
    """One timestep of a Keras LSTM layer, for inference: input_part (x W + b) [batch, 4 units] -> (h, c)."""
    h, c, _ = _lstm_cell(input_part + tf.matmul(h, recurrent_kernel), c)
    return h, c


def gru_step(input_part, h, recurrent_kernel, recurrent_bias):
    """One timestep of a Keras GRU layer (reset_after=True), for inference: input_part (x W + b_in)
    [batch, 3 units] -> h."""
    return _gru_cell(input_part, tf.matmul(h, recurrent_kernel) + recurrent_bias, h)[0]
