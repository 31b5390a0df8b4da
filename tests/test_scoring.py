import math

import numpy as np
import pytest

from charrnn.core.config import ModelConfig
from charrnn.inference.scoring import CHARS_PER_CALL, Evaluator, streams_for
from charrnn.model.network import CharRNN

VOCAB_SIZE = 5


def constant_model(log_probs):
    """A model whose next-character distribution ignores the input: zero output kernel, bias = log_probs."""
    model = CharRNN(ModelConfig(vocab_size=VOCAB_SIZE, rnn_size=8, num_layers=1))
    model.build_variables()
    model.dense.kernel.assign(np.zeros(model.dense.kernel.shape, np.float32))
    model.dense.bias.assign(log_probs.astype(np.float32))
    return model


def stream_nats(model, ids) -> np.ndarray:
    """The loss (nats) of each character of ids [n] after the first, the model run over them from a zero state."""
    logits, _ = model(ids[None, :-1].astype(np.int32), model.zero_state(1))
    log_probs = logits[0].numpy() - np.log(np.exp(logits[0].numpy()).sum(-1, keepdims=True))
    return -log_probs[np.arange(len(ids) - 1), ids[1:]]


def test_score_of_a_known_model_matches_the_closed_form():
    probs = np.array([0.4, 0.3, 0.15, 0.1, 0.05])
    ids = np.random.default_rng(1).integers(0, VOCAB_SIZE, 997).astype(np.uint8)
    expected = -np.mean(np.log(probs)[ids[1:]])  # every character but the first, predicted once
    score = Evaluator(constant_model(np.log(probs)), seq_length=9, batch_size=4).score(ids)
    assert score.num_predicted == 996
    assert score.nats_per_char == pytest.approx(expected, rel=1e-5)
    assert score.bits_per_char == pytest.approx(expected / math.log(2), rel=1e-5)
    assert score.perplexity == pytest.approx(math.exp(expected), rel=1e-5)


def test_one_stream_equals_the_model_run_over_the_whole_text():
    model = CharRNN(ModelConfig(vocab_size=VOCAB_SIZE, rnn_size=8, num_layers=2))
    model.build_variables()
    ids = np.random.default_rng(2).integers(0, VOCAB_SIZE, 61).astype(np.uint8)
    expected = np.mean(stream_nats(model, ids))
    assert Evaluator(model, seq_length=7, batch_size=1).score(ids).nats_per_char == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("chars_per_call", [4 * 7, 4 * 14, CHARS_PER_CALL])
@pytest.mark.parametrize("warm_up", [0, 5])
def test_several_streams_equal_the_model_run_over_each_stream_with_its_state_carried(chars_per_call, warm_up):
    """Batched scoring (validation, charrnn.evaluate) is each stream scored alone, from a zero
    state after reading the `warm_up` characters before it (the first stream: from the text's
    start): every pair once, the state carried across windows of 7 or 14 steps (or one window),
    the last stream shorter (padding masked)."""
    model = CharRNN(ModelConfig(vocab_size=VOCAB_SIZE, rnn_size=8, num_layers=2))
    model.build_variables()
    rng = np.random.default_rng(4)
    for weight in model.weights:  # large enough that the state carried along a stream matters
        weight.assign(rng.normal(0.0, 1.0, weight.shape).astype(np.float32))
    ids = np.random.default_rng(3).integers(0, VOCAB_SIZE, 95).astype(np.uint8)  # 94 pairs: streams of 24, 24, 24, 22
    stream_length, nats = 24, []
    for start in range(0, 94, stream_length):
        end, read_from = min(start + stream_length, 94), max(0, start - warm_up)
        nats.extend(stream_nats(model, ids[read_from:end + 1])[start - read_from:])
    evaluator = Evaluator(model, seq_length=7, batch_size=4, chars_per_call=chars_per_call, warm_up=warm_up)
    assert evaluator.window(94) == min(chars_per_call // 4, 28 if warm_up == 0 else 56)  # rows of 24 or 29
    score = evaluator.score(ids)
    assert score.num_predicted == len(nats) == 94
    assert score.nats_per_char == pytest.approx(np.mean(nats), rel=1e-5)
    one_stream = Evaluator(model, seq_length=7, batch_size=1).score(ids).nats_per_char
    assert abs(one_stream - score.nats_per_char) > 1e-3  # where a stream starts makes a difference


def test_a_long_text_is_read_as_one_stream_per_1_000_characters_up_to_64_each_after_a_warm_up():
    """Each stream but the first reads the 100 characters before it, unscored: streams of 1,000
    characters keep that under a tenth of the work (docs/evaluation.md); past 64 none ran faster."""
    assert [streams_for(n) for n in (1, 1_999, 2_000, 50_000, 64_000, 10**8)] == [1, 1, 2, 50, 64, 64]
    assert Evaluator(constant_model(np.zeros(VOCAB_SIZE)), seq_length=7).warm_up == 100
    model = constant_model(np.log(np.full(VOCAB_SIZE, 1 / VOCAB_SIZE)))
    assert Evaluator(model, seq_length=7).streams(30_000) == 30
    assert Evaluator(model, seq_length=7, batch_size=5).streams(30_000) == 5


@pytest.mark.parametrize("recurrence, compiled", [("keras", False), ("cpu", True)])
def test_few_streams_run_xla_compiled_only_over_charrnn_s_own_recurrence(recurrence, compiled):
    """A GPU's cuDNN layers have no XLA kernel, so Keras' layers are always scored as a plain graph."""
    model = CharRNN(ModelConfig(vocab_size=VOCAB_SIZE, rnn_size=8, num_layers=2), recurrence=recurrence)
    model.build_variables()
    evaluator = Evaluator(model, seq_length=7, batch_size=1)
    evaluator.score(np.random.default_rng(5).integers(0, VOCAB_SIZE, 40).astype(np.uint8))
    assert evaluator._compiled.experimental_get_tracing_count() == int(compiled)
    assert evaluator._plain.experimental_get_tracing_count() == int(not compiled)
