"""Losses of §3.4: masked caption cross-entropy (Eq. 17-18) and the refocus loss LR+ (Eq. 21)."""

import tensorflow as tf

from vre_keras.vocabulary import PAD_ID


def caption_cross_entropy(logits, tokens):
    """Per-caption XE: -sum_t log p(y_t), over the non-<PAD> positions (Eq. 17-18).

    Args:
        logits: float [B, L, V].
        tokens: int [B, L] reference tokens (<EOS> is scored, <PAD> is not).

    Returns:
        float32 [B].
    """
    tokens = tf.cast(tokens, tf.int32)
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tokens,
                                                         logits=tf.cast(logits, tf.float32))
    mask = tf.cast(tf.not_equal(tokens, PAD_ID), tf.float32)
    return tf.reduce_sum(nll * mask, axis=1)


def key_frame_log_probs(refocus_logits, key_frame):
    """(log alpha_ikey, log(1 - alpha_ikey)) computed from the refocus scores a (Eq. 8-9).

    Both come from log-sum-exps of the logits, so they stay exact where alpha_ikey is within
    float precision of 0 or 1 (logs of a clipped softmax saturate at log(epsilon) there).

    Args:
        refocus_logits: a [B, K].
        key_frame: int [B].

    Returns:
        (float32 [B], float32 [B]).
    """
    logits = tf.cast(refocus_logits, tf.float32)
    key_frame = tf.cast(key_frame, tf.int32)
    total = tf.reduce_logsumexp(logits, axis=-1)
    log_alpha = tf.gather(logits, key_frame, batch_dims=1) - total
    is_key = tf.one_hot(key_frame, tf.shape(logits)[-1], on_value=True, off_value=False)
    # log(1 - alpha_k) = logsumexp_{j != k} a_j - logsumexp_j a_j. The key frame's score is
    # replaced by a constant (not added to), so its gradient there is exactly zero, never NaN.
    others = tf.where(is_key, tf.fill(tf.shape(logits), -float("inf")), logits)
    log_rest = tf.reduce_logsumexp(others, axis=-1) - total
    return log_alpha, log_rest


def lr_plus(refocus_logits, key_frame, reward, previous_reward, has_previous=None):
    """LR+ of Eq. 21 per caption, with the sign that makes both branches do what §3.4 says.

    Improvement (R_e > R_{e-1}) raises alpha_ikey through -|d| log(alpha); a worse reward lowers it
    through -|d| log(1 - alpha). Eq. 21 as printed multiplies the second branch by -(R_e - R_{e-1}),
    which is positive there and would *raise* alpha; the text says that branch "will generate enough
    gradient to decrease alpha_ikey", so we use |R_e - R_{e-1}| in both branches.

    Args:
        refocus_logits: the refocus scores a [B, K] (alpha = softmax(a)); the logs are taken
            with log-softmax, exactly (see key_frame_log_probs).
        key_frame: i_key [B], the frame step 2 used.
        reward: R_e [B] (gradient is stopped here).
        previous_reward: R_{e-1} [B] (gradient stopped).
        has_previous: optional bool/0-1 [B]; 0 where no R_{e-1} exists yet (the loss is 0 there:
            a threshold of 0 before any reward was measured would push every key frame down).

    Returns:
        float32 [B].
    """
    advantage = tf.stop_gradient(tf.cast(reward, tf.float32) - tf.cast(previous_reward, tf.float32))
    if has_previous is not None:
        advantage = advantage * tf.cast(has_previous, tf.float32)
    log_alpha, log_rest = key_frame_log_probs(refocus_logits, key_frame)
    # 1+ selects log(alpha), 1- selects log(1 - alpha); a select rather than indicator products,
    # so an unused branch's -inf (K = 1) never meets a 0.
    chosen = tf.where(advantage > 0, log_alpha, tf.where(advantage < 0, log_rest, 0.0))
    return -tf.abs(advantage) * chosen


def caption_attention_profile(temporal_attention, tokens):
    """The decoder's temporal attention averaged over a caption's scored steps (words + <EOS>).

    Args:
        temporal_attention: float [B, L, K], per-step weights of AttTSoft (Eq. 15).
        tokens: int [B, L] the caption (<PAD> steps are left out).

    Returns:
        float32 [B, K], each row summing to 1.
    """
    mask = tf.cast(tf.not_equal(tf.cast(tokens, tf.int32), PAD_ID), tf.float32)[:, :, None]
    total = tf.reduce_sum(tf.cast(temporal_attention, tf.float32) * mask, axis=1)
    return total / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)


def decoder_attention_refocus_loss(refocus_logits, temporal_attention, tokens):
    """Cross-entropy from the decoder's caption attention profile to the refocus alpha.

    The target (caption_attention_profile, gradient stopped) is where the decoder looked while
    wording this caption; the loss pulls alpha = softmax(a) towards it, so argmax alpha - the key
    frame - becomes the frame the caption was read from.

    Args:
        refocus_logits: a [B, K] (Eq. 8).
        temporal_attention: float [B, L, K] of the decoder's pass.
        tokens: int [B, L] the caption.

    Returns:
        float32 [B].
    """
    target = tf.stop_gradient(caption_attention_profile(temporal_attention, tokens))
    log_alpha = tf.nn.log_softmax(tf.cast(refocus_logits, tf.float32), axis=-1)
    return -tf.reduce_sum(target * log_alpha, axis=-1)
