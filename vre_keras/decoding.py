"""In-graph caption decoding with `tf.while_loop`: greedy, sampling (for self-critical training)
and beam search. Core TF ops only, so stock TF Serving runs the exported graph.

All functions decode `length` steps from a video representation o (Alg. 2) and return int32
tokens [B, L] with <PAD> after the first <EOS> (or emitted <PAD>), plus the attention maps
[B, L, K] and [B, L, R] (rows after the caption's end are 0).
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
        # No attention after the caption's end (the <EOS> step keeps its own).
        w_t = tf.where(finished[:, None], tf.zeros_like(w_t), w_t)
        w_s = tf.where(finished[:, None], tf.zeros_like(w_s), w_s)
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
    """Batched beam search with length-normalised finished hypotheses; the best one per video.

    As in GNMT / tensor2tensor, live and finished hypotheses are kept apart. Each step extends
    the W live beams, takes the 3W best extensions by summed log-probability (at most 2W of them
    end, with <EOS> or an emitted <PAD>, so W stay live), keeps the W best unfinished ones live
    and merges the ended ones into the W finished hypotheses ranked by the normalised score
    sum / (words incl. <EOS>)**length_penalty. At the last step every live beam ends. A short
    finished caption therefore never takes a live beam's slot: it competes only with other
    finished captions, on the same normalised scale the final choice uses.

    Args:
        decoder: a built CaptionDecoder.
        o, temporal, spatial, audio: as in `greedy_decode`.
        length: decoder steps.
        beam_size: beams per video (W).
        length_penalty: exponent of the length normalisation; 0 disables it.

    Returns:
        (tokens [B, L], temporal_attention [B, L, K], spatial_attention [B, L, R]); attention
        after the caption's end is 0, as in `greedy_decode`.
    """
    w = beam_size
    batch = tf.shape(o)[0]
    vocab = decoder.vocab_size
    extensions = min(3 * w, w * vocab)
    num_frames, num_regions = temporal.shape[1], spatial.shape[1]
    o_b, temporal_b, spatial_b = (_tile_beams(x, w) for x in (o, temporal, spatial))
    audio_b = _tile_beams(audio, w)
    state = decoder.start(o_b, temporal_b, spatial_b)
    minus_inf = float("-inf")
    # Only beam 0 is live at t = 0: the others would repeat it.
    alive_scores = tf.tile(tf.concat([[0.0], tf.fill([w - 1], minus_inf)], 0)[None, :],
                           [batch, 1])  # (B, W) summed log-probabilities
    finished_scores = tf.fill([batch, w], minus_inf)  # (B, W) normalised
    tokens0 = tf.zeros([batch, w, length], tf.int32)  # PAD_ID == 0 after the end
    t_att0 = tf.zeros([batch, w, length, num_frames], tf.float32)
    s_att0 = tf.zeros([batch, w, length, num_regions], tf.float32)

    def body(t, step_input, state, alive_scores, alive, finished_scores, finished):
        logits, state, w_t, w_s = decoder.step(o_b, step_input, state, temporal_b, spatial_b,
                                               audio_b)
        log_probs = tf.reshape(tf.nn.log_softmax(tf.cast(logits, tf.float32)), [batch, w, vocab])
        candidates = tf.reshape(alive_scores[:, :, None] + log_probs, [batch, w * vocab])
        scores, flat = tf.math.top_k(candidates, k=extensions)  # (B, E)
        parent = flat // vocab
        word = tf.cast(flat % vocab, tf.int32)
        # Each extension's history: its parent's, plus this step's word and attention.
        at_t = tf.one_hot(t, length, dtype=tf.int32)[None, None, :]
        at_t_f = tf.cast(at_t, tf.float32)[..., None]
        w_t = tf.reshape(tf.cast(w_t, tf.float32), [batch, w, num_frames])
        w_s = tf.reshape(tf.cast(w_s, tf.float32), [batch, w, num_regions])
        extended = (
            tf.gather(alive[0], parent, batch_dims=1) * (1 - at_t) + word[:, :, None] * at_t,
            tf.gather(alive[1], parent, batch_dims=1) * (1 - at_t_f)
            + tf.gather(w_t, parent, batch_dims=1)[:, :, None] * at_t_f,
            tf.gather(alive[2], parent, batch_dims=1) * (1 - at_t_f)
            + tf.gather(w_s, parent, batch_dims=1)[:, :, None] * at_t_f,
        )
        ended = tf.equal(word, EOS_ID) | tf.equal(word, PAD_ID) | tf.equal(t, length - 1)
        # Words of the caption, <EOS> included; an emitted <PAD> ends it without counting.
        words = tf.cast(t + 1, tf.float32) - tf.cast(tf.equal(word, PAD_ID), tf.float32)
        normalised = scores / tf.pow(tf.maximum(words, 1.0), length_penalty)
        # Finished: the best W of the old finished and the newly ended, by normalised score.
        merged = tf.concat([finished_scores, tf.where(ended, normalised, minus_inf)], axis=1)
        finished_scores, keep = tf.math.top_k(merged, k=w)
        finished = tuple(tf.gather(tf.concat([f, e], axis=1), keep, batch_dims=1)
                         for f, e in zip(finished, extended))
        # Live: the best W extensions that did not end, by summed log-probability.
        alive_scores, live = tf.math.top_k(tf.where(ended, minus_inf, scores), k=w)
        alive = tuple(tf.gather(e, live, batch_dims=1) for e in extended)
        flat_parent = tf.reshape(tf.gather(parent, live, batch_dims=1)
                                 + tf.range(batch)[:, None] * w, [-1])  # rows of B*W
        # The projected attention keys are the same for every beam of a video: only h, c move.
        state = dict(state, h=tf.gather(state["h"], flat_parent),
                     c=tf.gather(state["c"], flat_parent))
        next_word = tf.reshape(tf.gather(word, live, batch_dims=1), [-1])
        return (t + 1, decoder.embed(next_word), state, alive_scores, alive, finished_scores,
                finished)

    histories = (tokens0, t_att0, s_att0)
    loop_vars = (tf.constant(0), o_b, state, alive_scores, histories, finished_scores, histories)
    # The batch dimension of the beam tensors is only known at run time (reshapes by `batch`).
    invariants = tf.nest.map_structure(lambda x: tf.TensorShape([None] + x.shape[1:]),
                                       loop_vars[1:])
    _, _, _, _, _, finished_scores, finished = tf.while_loop(
        lambda t, *_: t < length, body, loop_vars,
        shape_invariants=(tf.TensorShape([]),) + invariants,
    )
    best = tf.argmax(finished_scores, axis=-1, output_type=tf.int32)  # (B,)
    return tuple(tf.gather(x, best, batch_dims=1) for x in finished)
