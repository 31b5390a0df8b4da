import numpy as np
import pytest
import tensorflow as tf

from charrnn.config import ModelConfig
from charrnn.errors import CharRNNError
from charrnn.model import CharRNN
from charrnn.sampler import ARGMAX, SAMPLE, SAMPLE_AFTER_SPACE, Sampler, default_prime, pick_next
from charrnn.vocab import Vocab

LOGITS = tf.math.log(tf.constant([[0.2, 0.5, 0.3]]))  # argmax is id 1


def pick(mode, previous=0, position=0, seed=0, temperature=1.0, logits=LOGITS, space_id=2):
    rows = logits.shape[0]
    return pick_next(logits, tf.fill([rows], previous), tf.constant(position), tf.constant(temperature),
                     tf.constant(mode), tf.constant(seed), tf.constant(space_id)).numpy()


def test_argmax_mode_ignores_seed_and_temperature():
    assert {int(pick(ARGMAX, seed=s, temperature=t)[0]) for s in range(20) for t in (0.1, 5.0)} == {1}


def test_sampling_follows_softmax_over_temperature():
    draws = pick(SAMPLE, logits=tf.tile(LOGITS, [20000, 1]), temperature=2.0)
    expected = np.array([0.2, 0.5, 0.3]) ** 0.5
    expected /= expected.sum()
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / len(draws), expected, atol=0.015)


def test_low_temperature_tends_to_argmax():
    draws = pick(SAMPLE, logits=tf.tile(LOGITS, [5000, 1]), temperature=0.01)
    assert (draws == 1).all()


def test_seeded_draws_are_reproducible_and_vary_with_seed_and_position():
    many = tf.tile(LOGITS, [64, 1])
    assert (pick(SAMPLE, seed=5, logits=many) == pick(SAMPLE, seed=5, logits=many)).all()
    assert not (pick(SAMPLE, seed=5, logits=many) == pick(SAMPLE, seed=6, logits=many)).all()
    assert not (pick(SAMPLE, seed=5, logits=many) == pick(SAMPLE, seed=5, position=1, logits=many)).all()


def test_mode_two_samples_only_after_a_space():
    many = tf.tile(LOGITS, [64, 1])
    after_space = pick(SAMPLE_AFTER_SPACE, previous=2, seed=9, logits=many)
    np.testing.assert_array_equal(after_space, pick(SAMPLE, seed=9, logits=many))
    assert (pick(SAMPLE_AFTER_SPACE, previous=0, seed=9, logits=many) == 1).all()


@pytest.fixture(scope="module")
def sampler():
    vocab = Vocab.from_text("abc \n")
    model = CharRNN(ModelConfig(vocab_size=len(vocab), rnn_size=8, num_layers=1))
    model.build_variables()
    return Sampler(model, vocab, chunk_size=7)


def test_generate_gives_the_asked_length_of_vocabulary_characters(sampler):
    for length in (0, 1, 7, 20):
        text = sampler.generate("ab", length, seed=1)
        assert len(text) == length and set(text) <= set(sampler.vocab.chars)


def test_generate_is_reproducible_and_longer_samples_extend_shorter_ones(sampler):
    assert sampler.generate("a", 30, seed=4) == sampler.generate("a", 30, seed=4)
    assert sampler.generate("a", 30, seed=4).startswith(sampler.generate("a", 10, seed=4))  # across chunks
    assert sampler.generate("a", 30, seed=4) != sampler.generate("a", 30, seed=5)


def test_generate_matches_a_step_by_step_argmax_loop(sampler):
    model, vocab = sampler.model, sampler.vocab
    logits, states = model(tf.constant([vocab.encode("abc")], tf.int32), model.zero_state(1))
    logits, expected = logits[:, -1], []
    for _ in range(15):
        next_id = tf.argmax(logits, -1, output_type=tf.int32)
        expected.append(int(next_id[0]))
        logits, states = model.step(next_id, states)
    assert sampler.generate("abc", 15, mode=ARGMAX) == vocab.decode(expected)


def test_generate_rejects_bad_arguments(sampler):
    with pytest.raises(CharRNNError, match="'z'"):
        sampler.generate("az", 5)
    with pytest.raises(CharRNNError, match="--temperature"):
        sampler.generate("a", 5, temperature=0.0, mode=SAMPLE)
    with pytest.raises(CharRNNError, match="--sample"):
        sampler.generate("a", 5, mode=7)
    assert len(sampler.generate("a", 5, temperature=0.0, mode=ARGMAX)) == 5


def test_default_prime_prefers_a_new_line():
    assert default_prime(Vocab.from_text("ab \n")) == "\n"
    assert default_prime(Vocab.from_text("ab ")) == " "
    assert default_prime(Vocab.from_text("ba")) == "a"
