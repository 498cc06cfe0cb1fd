"""Beam search compares finished and live hypotheses on one length-normalised scale (issue 12,
defect 8), checked on a scripted bigram language model whose best caption is known."""

import numpy as np
import tensorflow as tf

from vre_keras import decoding
from vre_keras.vocabulary import EOS_ID, PAD_ID

A, B, C, D = 4, 5, 6, 7
VOCAB = 8
# P(next word | previous word); row VOCAB is the first step (the decoder's input is o there).
_TINY = 1e-9
_BIGRAM = np.full([VOCAB + 1, VOCAB], _TINY)
_BIGRAM[VOCAB, [EOS_ID, A, B]] = [0.32, 0.40, 0.28]
_BIGRAM[A, [EOS_ID, C]] = [0.55, 0.45]
_BIGRAM[B, EOS_ID] = 1.0
_BIGRAM[C, D] = 1.0
_BIGRAM[D, EOS_ID] = 1.0
_BIGRAM[[EOS_ID, PAD_ID, 1, 3]] = 1.0 / VOCAB


class BigramDecoder:
    """The decoder interface `decoding` drives (start / step / embed / vocab_size), with its
    next-word distribution read from `_BIGRAM` by the previous word: a language model whose
    caption probabilities are known exactly."""

    vocab_size = VOCAB

    def start(self, o, temporal, spatial):
        return {"h": tf.zeros_like(o), "c": tf.zeros_like(o)}

    def embed(self, words):
        return tf.one_hot(words, VOCAB + 1)

    def step(self, o, step_input, state, temporal, spatial, audio):
        # o (all zeros, width VOCAB + 1) at t = 0 selects the first-step row.
        first = 1.0 - tf.reduce_sum(step_input, -1, keepdims=True)
        rows = step_input + first * tf.one_hot(VOCAB, VOCAB + 1)[None]
        logits = tf.math.log(tf.matmul(rows, tf.constant(_BIGRAM, tf.float32)))
        batch = tf.shape(o)[0]
        return (
            logits,
            state,
            tf.fill([batch, temporal.shape[1]], 0.5),
            tf.fill([batch, spatial.shape[1]], 0.25),
        )


def _decode(beam_size, length_penalty=1.0, length=5):
    o = tf.zeros([1, VOCAB + 1])
    temporal, spatial, audio = tf.zeros([1, 2, 3]), tf.zeros([1, 4, 3]), tf.zeros([1, 1])
    return decoding.beam_search_decode(
        BigramDecoder(), o, temporal, spatial, audio, length, beam_size, length_penalty
    )


def test_a_short_finished_caption_does_not_push_out_a_longer_better_one():
    # Normalised log-probabilities (length penalty 1): "<EOS>" -1.14, "a <EOS>" -0.76,
    # "b <EOS>" -0.64, "a c d <EOS>" -1.71 / 4 = -0.43, the best. With 2 beams, after step 2
    # the summed scores of "<EOS>" (-1.14) and "a <EOS>" (-1.51) beat "a c" (-1.71): a search
    # that ranks finished captions by their raw sums among the live ones loses "a c d <EOS>".
    tokens, t_att, s_att = _decode(beam_size=2)
    np.testing.assert_array_equal(tokens.numpy(), [[A, C, D, EOS_ID, PAD_ID]])
    np.testing.assert_array_equal(t_att.numpy()[0, :, 0], [0.5, 0.5, 0.5, 0.5, 0.0])
    np.testing.assert_array_equal(s_att.numpy()[0, :, 0], [0.25, 0.25, 0.25, 0.25, 0.0])


def test_without_length_penalty_the_likeliest_caption_wins():
    tokens, _, _ = _decode(beam_size=2, length_penalty=0.0)
    np.testing.assert_array_equal(tokens.numpy(), [[EOS_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID]])


def test_captions_cut_at_the_last_step_still_compete():
    # Only 3 steps: "a c d" never reaches <EOS>; it is scored over its 3 words (-1.71 / 3).
    tokens, _, _ = _decode(beam_size=2, length=3)
    np.testing.assert_array_equal(tokens.numpy(), [[A, C, D]])
