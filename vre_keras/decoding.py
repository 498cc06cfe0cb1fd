"""In-graph caption decoding with `tf.while_loop`: greedy, sampling (for self-critical training)
and beam search. Core TF ops only, so stock TF Serving runs the exported graph.

All functions decode `length` steps from a video representation o (Alg. 2) and return int32
tokens [B, L] with <PAD> after the first <EOS> (or emitted <PAD>), plus the attention maps
[B, L, K] and [B, L, R].
"""

import tensorflow as tf

from vre_keras.vocabulary import EOS_ID, PAD_ID


def _decode_loop(decoder, o, temporal, spatial, audio, length, choose):
    """Runs the decoder for `length` steps, feeding back the word that `choose(logits)` picks."""
    state = decoder.start(o, temporal, spatial)
    tokens = tf.TensorArray(tf.int32, size=length)
    t_att = tf.TensorArray(tf.float32, size=length)
    s_att = tf.TensorArray(tf.float32, size=length)
    # Loop variables derive their shapes from o, so a static batch size stays static.
    finished = tf.zeros_like(o[:, 0], tf.bool)

    def body(t, step_input, state, finished, tokens, t_att, s_att):
        logits, state, w_t, w_s = decoder.step(o, step_input, state, temporal, spatial, audio)
        word = choose(logits)
        word = tf.where(finished, tf.constant(PAD_ID), word)
        # A <PAD> the model emits ends the caption as <EOS> does (the serving caption stops at
        # the first of either).
        finished = finished | tf.equal(word, EOS_ID) | tf.equal(word, PAD_ID)
        return (t + 1, decoder.embed(word), state, finished, tokens.write(t, word),
                t_att.write(t, tf.cast(w_t, tf.float32)), s_att.write(t, tf.cast(w_s, tf.float32)))

    _, _, _, _, tokens, t_att, s_att = tf.while_loop(
        lambda t, *_: t < length, body, (tf.constant(0), o, state, finished, tokens, t_att, s_att)
    )
    return (
        tf.transpose(tokens.stack(), [1, 0]),
        tf.transpose(t_att.stack(), [1, 0, 2]),
        tf.transpose(s_att.stack(), [1, 0, 2]),
    )


def greedy_decode(decoder, o, temporal, spatial, audio, length):
    """Arg-max word at every step.

    Args:
        decoder: a built CaptionDecoder.
        o: float [B, H] video representation; temporal [B, K, C]; spatial [B, R, C]; audio [B, A].
        length: decoder steps (max words + 1).
    """
    return _decode_loop(decoder, o, temporal, spatial, audio, length,
                        lambda logits: tf.argmax(logits, axis=-1, output_type=tf.int32))


def sample_decode(decoder, o, temporal, spatial, audio, length, seed=None):
    """A word drawn from the softmax at every step (self-critical training's exploration)."""

    def draw(logits):
        return tf.squeeze(tf.random.categorical(tf.cast(logits, tf.float32), 1, seed=seed,
                                                dtype=tf.int32), -1)

    return _decode_loop(decoder, o, temporal, spatial, audio, length, draw)


def _tile_beams(x, beams):
    """[B, ...] -> [B * beams, ...], each row repeated `beams` times in place."""
    return tf.repeat(x, beams, axis=0)


def beam_search_decode(decoder, o, temporal, spatial, audio, length, beam_size,
                       length_penalty=1.0):
    """Batched beam search; returns the best beam per video.

    Finished beams are extended only by <PAD> at log-probability 0, so they keep their score; the
    final choice divides each beam's summed log-probability by (words incl. <EOS>)**length_penalty.

    Args:
        decoder: a built CaptionDecoder.
        o, temporal, spatial, audio: as in `greedy_decode`.
        length: decoder steps.
        beam_size: beams per video (W).
        length_penalty: exponent of the length normalisation; 0 disables it.

    Returns:
        (tokens [B, L], temporal_attention [B, L, K], spatial_attention [B, L, R]).
    """
    w = beam_size
    batch = tf.shape(o)[0]
    vocab = decoder.vocab_size
    num_frames, num_regions = temporal.shape[1], spatial.shape[1]
    o_b, temporal_b, spatial_b = (_tile_beams(x, w) for x in (o, temporal, spatial))
    audio_b = _tile_beams(audio, w)
    state = decoder.start(o_b, temporal_b, spatial_b)
    # Only beam 0 is live at t = 0: the others would repeat it.
    scores = tf.tile(tf.concat([[0.0], tf.fill([w - 1], -1e9)], 0)[None, :], [batch, 1])  # (B, W)
    finished = tf.zeros([batch, w], tf.bool)
    history = tf.zeros([batch, w, length], tf.int32)
    t_hist = tf.zeros([batch, w, length, num_frames], tf.float32)
    s_hist = tf.zeros([batch, w, length, num_regions], tf.float32)
    pad_only = tf.where(tf.range(vocab) == PAD_ID, 0.0, -1e9)  # (V,)

    def body(t, step_input, state, scores, finished, history, t_hist, s_hist):
        logits, state, w_t, w_s = decoder.step(o_b, step_input, state, temporal_b, spatial_b,
                                               audio_b)
        log_probs = tf.reshape(tf.nn.log_softmax(tf.cast(logits, tf.float32)), [batch, w, vocab])
        log_probs = tf.where(finished[:, :, None], pad_only[None, None, :], log_probs)
        candidates = tf.reshape(scores[:, :, None] + log_probs, [batch, w * vocab])
        scores, flat = tf.math.top_k(candidates, k=w)  # (B, W)
        parent = flat // vocab
        word = tf.cast(flat % vocab, tf.int32)
        # Reorder everything that belongs to a beam by its parent.
        finished = (tf.gather(finished, parent, batch_dims=1) | tf.equal(word, EOS_ID)
                    | tf.equal(word, PAD_ID))
        at_t = tf.one_hot(t, length, dtype=tf.int32)[None, None, :]
        history = tf.gather(history, parent, batch_dims=1) * (1 - at_t) + word[:, :, None] * at_t
        at_t_f = tf.cast(at_t, tf.float32)[..., None]
        w_t = tf.gather(tf.reshape(tf.cast(w_t, tf.float32), [batch, w, num_frames]), parent,
                        batch_dims=1)
        w_s = tf.gather(tf.reshape(tf.cast(w_s, tf.float32), [batch, w, num_regions]), parent,
                        batch_dims=1)
        t_hist = tf.gather(t_hist, parent, batch_dims=1) * (1 - at_t_f) + w_t[:, :, None] * at_t_f
        s_hist = tf.gather(s_hist, parent, batch_dims=1) * (1 - at_t_f) + w_s[:, :, None] * at_t_f
        flat_parent = tf.reshape(parent + tf.range(batch)[:, None] * w, [-1])  # rows of B*W
        # The projected attention keys are the same for every beam of a video: only h, c move.
        state = dict(state, h=tf.gather(state["h"], flat_parent),
                     c=tf.gather(state["c"], flat_parent))
        return (t + 1, decoder.embed(tf.reshape(word, [-1])), state, scores, finished, history,
                t_hist, s_hist)

    loop_vars = (tf.constant(0), o_b, state, scores, finished, history, t_hist, s_hist)
    # The batch dimension of the beam tensors is only known at run time (reshapes by `batch`).
    invariants = tf.nest.map_structure(lambda x: tf.TensorShape([None] + x.shape[1:]),
                                       loop_vars[1:])
    _, _, _, scores, _, history, t_hist, s_hist = tf.while_loop(
        lambda t, *_: t < length, body, loop_vars,
        shape_invariants=(tf.TensorShape([]),) + invariants,
    )
    words = tf.reduce_sum(tf.cast(tf.not_equal(history, PAD_ID), tf.float32), axis=-1)  # (B, W)
    normalised = scores / tf.pow(tf.maximum(words, 1.0), length_penalty)
    best = tf.argmax(normalised, axis=-1, output_type=tf.int32)  # (B,)
    return (
        tf.gather(history, best, batch_dims=1),
        tf.gather(t_hist, best, batch_dims=1),
        tf.gather(s_hist, best, batch_dims=1),
    )
