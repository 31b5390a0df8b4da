"""LSTM and GRU sequences for the CPU, on the weights of Keras' LSTM and GRU layers.

Keras 3 has no fused RNN kernel on the CPU: its layers run a generic while-loop over the cell,
with the input projection and the weight gradients computed per timestep. These functions
compute the same maths faster for a sequence of known length:

- the input projection of all timesteps is one matmul before the recurrence;
- stacked layers run as one wavefront: step t of layer l starts as soon as step t of layer
  l - 1 is done, so two cores work on two layers at once (forward and backward), with the
  layer norm, residual connection and dropout between two layers inside the same loop;
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


def _gru_cell(input_part, recurrent_part, h):
    """input_part x W + b_in, recurrent_part h W_r + b_r [batch, 3 units] (Keras' gate order z, r, h)
    -> (new h, what the gradient needs)."""
    x_z, x_r, x_h = tf.split(input_part, 3, axis=1)
    r_z, r_r, r_h = tf.split(recurrent_part, 3, axis=1)
    z = tf.sigmoid(x_z + r_z)
    r = tf.sigmoid(x_r + r_r)
    candidate = tf.tanh(x_h + r * r_h)
    return z * h + (1 - z) * candidate, (h, z, r, r_h, candidate)


def _layer_norm(h, gamma, beta, epsilon):
    """h [batch, units] -> (gamma * normalised h + beta in h's dtype, and for the gradient the normalised
    h and 1 / its standard deviation [batch, 1], float32). Computed in float32, as Keras does."""
    x = tf.cast(h, tf.float32)
    mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
    inverse_std = tf.math.rsqrt(variance + epsilon)
    normalised = (x - mean) * inverse_std
    return tf.cast(normalised * gamma + beta, h.dtype), normalised, inverse_std


def _layer_norm_gradient(d_output, normalised, inverse_std, gamma):
    """The gradient of _layer_norm's h from that of its output d_output [batch, units]."""
    d_normalised = tf.cast(d_output, tf.float32) * gamma
    d_x = inverse_std * (d_normalised - tf.reduce_mean(d_normalised, axis=-1, keepdims=True)
                         - normalised * tf.reduce_mean(d_normalised * normalised, axis=-1, keepdims=True))
    return tf.cast(d_x, d_output.dtype)


class _LSTMCells:
    """The LSTM's part of the wavefront. Per layer it takes (recurrent kernel,) for the first layer,
    whose input projection is done before the loop, and (kernel, recurrent kernel, bias) above."""

    states, saved, terms = 2, 6, 1  # (h, c); what _lstm_cell keeps for its gradient; d_z per step

    def prepare(self, layer, weights):
        if layer == 0:
            return weights
        kernel, recurrent_kernel, bias = weights
        # [input, h] x [kernel; recurrent kernel]: one matmul per step.
        return tf.concat([kernel, recurrent_kernel], axis=0), bias

    def forward(self, layer, inputs, states, prepared):
        """inputs: the projected input [batch, 4 units] (layer 0) or the layer below's output."""
        h, c = states
        if layer == 0:
            z = inputs + tf.matmul(h, prepared[0])
        else:
            z = tf.matmul(tf.concat([inputs, h], axis=1), prepared[0]) + prepared[1]
        h, c, saved = _lstm_cell(z, c)
        return h, (h, c), saved

    def prepare_gradient(self, layer, prepared):
        return tf.transpose(prepared[0])  # once: a transposing matmul in every step is slower here

    def backward(self, layer, d_h, d_states, saved, transposed):
        """-> (gradient of the layer's input, or None for layer 0; of the incoming states; per-step terms)."""
        d_z, d_c = _lstm_cell_gradient(d_h, d_states[1], saved)
        d_back = tf.matmul(d_z, transposed)
        if layer == 0:
            return None, (d_back, d_c), (d_z,)
        d_input, d_h = tf.split(d_back, 2, axis=1)
        return d_input, (d_h, d_c), (d_z,)

    def weight_gradients(self, layer, terms, inputs, previous_h):
        """terms [batch, time, ...] as `backward` returned them; inputs: the layer's inputs (upper layers)."""
        (d_z,) = terms
        d_recurrent = _recurrent_kernel_gradient(previous_h, d_z)
        if layer == 0:
            return d_z, (d_recurrent,)  # the gradient of the projected inputs, of the weights
        return None, (_recurrent_kernel_gradient(inputs, d_z), d_recurrent, tf.reduce_sum(d_z, axis=[0, 1]))


class _GRUCells:
    """The GRU's part of the wavefront (Keras' GRU with reset_after=True: the reset gate multiplies
    the recurrent part of the candidate after its matmul, as cuDNN does). Per layer it takes
    (recurrent kernel, recurrent bias) for the first layer and (kernel, recurrent kernel, bias
    [2, 3 units]) above."""

    states, saved, terms = 1, 5, 2  # (h,); what _gru_cell keeps for its gradient; d_x, d_inner per step

    def prepare(self, layer, weights):
        return weights

    def forward(self, layer, inputs, states, prepared):
        """inputs: the projected input [batch, 3 units] (layer 0) or the layer below's output."""
        if layer == 0:
            input_part, (recurrent_kernel, recurrent_bias) = inputs, prepared
        else:
            kernel, recurrent_kernel, bias = prepared
            input_part, recurrent_bias = tf.matmul(inputs, kernel) + bias[0], bias[1]
        (h,) = states
        h, saved = _gru_cell(input_part, tf.matmul(h, recurrent_kernel) + recurrent_bias, h)
        return h, (h,), saved

    def prepare_gradient(self, layer, prepared):
        if layer == 0:
            return (tf.transpose(prepared[0]),)
        return tf.transpose(prepared[1]), tf.transpose(prepared[0])

    def backward(self, layer, d_h, d_states, saved, transposed):
        previous_h, z, r, r_h, candidate = saved
        d_candidate = d_h * (1 - z) * (1 - candidate * candidate)
        d_z = d_h * (previous_h - candidate) * z * (1 - z)
        d_r = d_candidate * r_h * r * (1 - r)
        d_x = tf.concat([d_z, d_r, d_candidate], axis=1)  # of the input part
        d_inner = tf.concat([d_z, d_r, d_candidate * r], axis=1)  # of the recurrent part
        d_previous_h = d_h * z + tf.matmul(d_inner, transposed[0])
        d_input = None if layer == 0 else tf.matmul(d_x, transposed[1])
        return d_input, (d_previous_h,), (d_x, d_inner)

    def weight_gradients(self, layer, terms, inputs, previous_h):
        d_x, d_inner = terms
        d_recurrent = _recurrent_kernel_gradient(previous_h, d_inner)
        d_recurrent_bias = tf.reduce_sum(d_inner, axis=[0, 1])
        if layer == 0:
            return d_x, (d_recurrent, d_recurrent_bias)
        return None, (_recurrent_kernel_gradient(inputs, d_x), d_recurrent,
                      tf.stack([tf.reduce_sum(d_x, axis=[0, 1]), d_recurrent_bias]))


def _wavefront(cells, projected, states, weights, norms, epsilon, residual, masks, differentiable):
    """All layers of a stack, a timestep at a time for every layer (see lstm_stack).

    The timesteps are a tf.while_loop: TensorFlow overlaps its iterations, so step t + 1 of
    layer 0 runs beside step t of layer 1, and the graph stays small (unrolled, it took about
    2 s longer to build and measured no faster). Not `differentiable`, it keeps none of what a
    gradient would need.
    """
    num_layers, time, n = len(weights), projected.shape[1], cells.states
    structure = {"states": [tuple(states[n * i: n * (i + 1)]) for i in range(num_layers)],
                 "weights": [tuple(w) for w in weights], "norms": list(norms), "masks": list(masks)}
    lower = range(num_layers - 1)  # the layers whose output feeds another inside the loop
    transformed = bool(norms or residual or masks)  # a lower layer's output is not its h
    arrays = lambda dtype=projected.dtype: tf.TensorArray(dtype, size=time)  # noqa: E731
    norm_arrays = lambda: (arrays(tf.float32), arrays(tf.float32)) if norms else ()  # noqa: E731

    def forward_pass(projected, flat, keep):
        """The loop; `keep`: everything the gradient needs, else only the top layer's output and inputs."""
        w = tf.nest.pack_sequence_as(structure, list(flat))
        prepared = [cells.prepare(layer, weights) for layer, weights in enumerate(w["weights"])]
        steps = tf.transpose(projected, [1, 0, 2])  # [time, batch, gates * units]
        masks = [tf.transpose(m, [1, 0, 2]) for m in w["masks"]]  # [time, batch, units]
        sequence_layers = [layer for layer in range(num_layers) if keep or layer >= num_layers - 2]
        input_layers = [layer for layer in lower if keep or layer == num_layers - 2] if transformed else []

        def between(layer, t, h, below):
            """Layer `layer`'s output at step t as the layer above takes it, and what the gradient needs."""
            saved = ()
            if norms:
                gamma, beta = w["norms"][layer]
                h, normalised, inverse_std = _layer_norm(h, gamma, beta, epsilon)
                saved = (normalised, inverse_std)
            if residual and layer > 0:
                h = h + below
            if masks:
                h = h * masks[layer][t]
            return h, saved

        def forward(t, states, sequences, inputs, saved):
            new_states, new_sequences, new_inputs, new_saved, below = [], [], [], [], steps[t]
            for layer in range(num_layers):
                h, layer_states, cell = cells.forward(layer, below, states[layer], prepared[layer])
                new_states.append(layer_states)
                if layer in sequence_layers:
                    new_sequences.append(sequences[len(new_sequences)].write(t, h))
                if layer < num_layers - 1 and transformed:
                    below, norm = between(layer, t, h, below)
                    if layer in input_layers:
                        new_inputs.append(inputs[len(new_inputs)].write(t, below))
                    cell = cell + norm
                else:
                    below = h
                if keep:
                    new_saved.append(tuple(array.write(t, value) for array, value in zip(saved[layer], cell)))
            return t + 1, new_states, new_sequences, new_inputs, new_saved

        _, states, sequences, inputs, saved = tf.while_loop(
            lambda t, *_: t < time, forward,
            (tf.constant(0), w["states"], [arrays() for _ in sequence_layers], [arrays() for _ in input_layers],
             [tuple(arrays() for _ in range(cells.saved)) + (norm_arrays() if layer < num_layers - 1 else ())
              for layer in range(num_layers)] if keep else []))
        # [batch, time, units] by layer: each layer's output, and the input of each layer above the first
        sequences = {layer: tf.transpose(o.stack(), [1, 0, 2]) for layer, o in zip(sequence_layers, sequences)}
        if transformed:
            inputs = {layer + 1: tf.transpose(i.stack(), [1, 0, 2]) for layer, i in zip(input_layers, inputs)}
        else:
            inputs = {layer + 1: sequences[layer] for layer in lower if layer in sequences}
        saved = [tuple(array.stack() for array in layer) for layer in saved]  # [time, ...] per value
        final = [s for layer_states in states for s in layer_states]
        outputs = (sequences[num_layers - 1], *([inputs[num_layers - 1]] if num_layers > 1 else []), *final)
        return outputs, w, prepared, masks, states, sequences, inputs, saved

    @tf.custom_gradient
    def run(projected, *flat):
        outputs, w, prepared, masks, states, sequences, inputs, saved = forward_pass(projected, flat, keep=True)

        def gradient(d_top, *d_rest):
            d_top_input = d_rest[0] if num_layers > 1 else None
            d_final = d_rest[1:] if num_layers > 1 else d_rest
            d_states = [tuple(_zeros_if_none(d_final[n * i + j], states[i][j]) for j in range(n))
                        for i in range(num_layers)]
            d_top = tf.transpose(d_top, [1, 0, 2])
            if d_top_input is not None:
                d_top_input = tf.transpose(d_top_input, [1, 0, 2])
            transposed = [cells.prepare_gradient(layer, p) for layer, p in enumerate(prepared)]

            def backward(t, d_states, d_terms, d_between):
                d_states, d_terms, d_between = list(d_states), list(d_terms), list(d_between)
                d_h_above, d_residual = d_top[t], None  # of this layer's h; of its input, by the residual
                for layer in reversed(range(num_layers)):
                    d_input, d_states[layer], terms = cells.backward(
                        layer, d_states[layer][0] + d_h_above, d_states[layer],
                        tuple(v[t] for v in saved[layer][:cells.saved]), transposed[layer])
                    d_terms[layer] = tuple(array.write(t, term) for array, term in zip(d_terms[layer], terms))
                    if layer == 0:
                        break
                    if layer == num_layers - 1 and d_top_input is not None:
                        d_input = d_input + d_top_input[t]
                    if d_residual is not None:
                        d_input = d_input + d_residual
                    # back through `between` of the layer below
                    if masks:
                        d_input = d_input * masks[layer - 1][t]
                    d_residual = d_input if residual and layer - 1 > 0 else None
                    if norms:
                        d_between[layer - 1] = d_between[layer - 1].write(t, d_input)
                        normalised, inverse_std = saved[layer - 1][-2][t], saved[layer - 1][-1][t]
                        d_input = _layer_norm_gradient(d_input, normalised, inverse_std, w["norms"][layer - 1][0])
                    d_h_above = d_input
                return t - 1, d_states, d_terms, d_between

            _, d_states, d_terms, d_between = tf.while_loop(
                lambda t, *_: t >= 0, backward,
                (tf.constant(time - 1), d_states, [tuple(arrays() for _ in range(cells.terms))
                                                   for _ in range(num_layers)],
                 [arrays() for _ in lower] if norms else []))
            d_weights = []
            for layer, terms in enumerate(d_terms):
                terms = tuple(tf.transpose(array.stack(), [1, 0, 2]) for array in terms)  # [batch, time, ...]
                previous_h = _previous_states(w["states"][layer][0], sequences[layer])
                d_layer_inputs, d_layer_weights = cells.weight_gradients(
                    layer, terms, inputs.get(layer), previous_h)
                d_projected = d_layer_inputs if layer == 0 else d_projected
                d_weights.append(d_layer_weights)
            d_norms = []
            for layer, array in enumerate(d_between):  # d_gamma, d_beta: sums over time and batch
                d_output = tf.cast(array.stack(), tf.float32)  # [time, batch, units]
                d_norms.append((tf.reduce_sum(d_output * saved[layer][-2], axis=[0, 1]),
                                tf.reduce_sum(d_output, axis=[0, 1])))
            d = {"states": d_states, "weights": d_weights, "norms": d_norms, "masks": [None] * len(masks)}
            return [d_projected, *tf.nest.flatten(d)]

        return outputs, gradient

    if differentiable:
        outputs, *rest = run(projected, *tf.nest.flatten(structure))
    else:
        (outputs, *rest), *_ = forward_pass(projected, tf.nest.flatten(structure), keep=False)
    top_inputs = rest.pop(0) if num_layers > 1 else None
    return outputs, rest, top_inputs


# The recurrences take the weights as tensors (a variable would need tf.custom_gradient's
# `variables` protocol); their gradients flow back to the variables through the conversion.

_STACK_DOC = """inputs [batch, time, features] -> (outputs of the top layer [batch, time, units], new
    states (a flat list, {states} per layer), the top layer's inputs [batch, time, units] or None
    for one layer). weights: a list of (kernel, recurrent kernel, bias) per layer, Keras' layout.

    The output of each layer but the top one reaches the next as dropout(layer_norm(h) + x):
    `norms`, (gamma, beta) [units] per lower layer, Keras' LayerNormalization with `epsilon`;
    `residual` adds the layer's input x from the second layer on; `masks`, [batch, time, units]
    per lower layer, multiply it (a dropout mask divided by the keep probability). What follows
    the top layer is left to the caller, which gets its inputs for a residual. Not
    `differentiable`, nothing is kept for a gradient (scoring: about 1/3 of a training step's work).

    `projected`: `inputs` are already the first layer's input part, inputs x kernel + input bias
    [batch, time, gates * units] (charrnn.model.network looks it up in a table of every
    character's), and its kernel is not read.

    Timestep t of layer l runs as soon as timestep t of layer l - 1 is done, so two cores work
    on two layers at once, forward and backward."""


def _tensors(weights, norms, masks):
    weights = [[tf.convert_to_tensor(w) for w in layer] for layer in weights]
    norms = [tuple(tf.convert_to_tensor(v, tf.float32) for v in norm) for norm in norms]
    return weights, norms, [tf.convert_to_tensor(m) for m in masks]


def lstm_stack(inputs, states, weights, norms=(), epsilon=1e-3, residual=False, masks=(),
               differentiable=True, projected=False):
    weights, norms, masks = _tensors(weights, norms, masks)
    kernel, recurrent_kernel, bias = weights[0]
    projected_inputs = tf.convert_to_tensor(inputs) if projected else _project(inputs, kernel, bias)
    return _wavefront(_LSTMCells(), projected_inputs, list(states),
                      [(recurrent_kernel,)] + weights[1:], norms, epsilon, residual, masks, differentiable)


def gru_stack(inputs, states, weights, norms=(), epsilon=1e-3, residual=False, masks=(),
              differentiable=True, projected=False):
    weights, norms, masks = _tensors(weights, norms, masks)
    kernel, recurrent_kernel, bias = weights[0]  # bias [2, 3 units]: input bias, recurrent bias
    projected_inputs = tf.convert_to_tensor(inputs) if projected else _project(inputs, kernel, bias[0])
    return _wavefront(_GRUCells(), projected_inputs, list(states),
                      [(recurrent_kernel, bias[1])] + weights[1:], norms, epsilon, residual, masks, differentiable)


lstm_stack.__doc__ = "Stacked Keras LSTM layers: " + _STACK_DOC.format(states="h, c")
gru_stack.__doc__ = "Stacked Keras GRU layers (reset_after=True): " + _STACK_DOC.format(states="h")


def lstm_sequence(inputs, h, c, kernel, recurrent_kernel, bias):
    """Keras LSTM maths: inputs [batch, time, features] -> (outputs [batch, time, units], h, c)."""
    outputs, (h, c), _ = lstm_stack(inputs, [h, c], [(kernel, recurrent_kernel, bias)])
    return outputs, h, c


def gru_sequence(inputs, h, kernel, recurrent_kernel, bias):
    """Keras GRU (reset_after=True) maths, bias [2, 3 units]: inputs -> (outputs [batch, time, units], h)."""
    outputs, (h,), _ = gru_stack(inputs, [h], [(kernel, recurrent_kernel, bias)])
    return outputs, h


def lstm_step(input_part, h, c, recurrent_kernel):
    """One timestep of a Keras LSTM layer, for inference: input_part (x W + b) [batch, 4 units] -> (h, c)."""
    h, c, _ = _lstm_cell(input_part + tf.matmul(h, recurrent_kernel), c)
    return h, c


def gru_step(input_part, h, recurrent_kernel, recurrent_bias):
    """One timestep of a Keras GRU layer (reset_after=True), for inference: input_part (x W + b_in)
    [batch, 3 units] -> h."""
    return _gru_cell(input_part, tf.matmul(h, recurrent_kernel) + recurrent_bias, h)[0]
