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


def lr_plus(key_frame_prob, reward, previous_reward, epsilon=1e-7):
    """LR+ of Eq. 21 per video, with the sign that makes both branches do what §3.4 says.

    Improvement (R_e > R_{e-1}) raises alpha_ikey through -|d| log(alpha); a worse reward lowers it
    through -|d| log(1 - alpha). Eq. 21 as printed multiplies the second branch by -(R_e - R_{e-1}),
    which is positive there and would *raise* alpha; the text says that branch "will generate enough
    gradient to decrease alpha_ikey", so we use |R_e - R_{e-1}| in both branches.

    Args:
        key_frame_prob: alpha_ikey [B], the refocus probability of the chosen key frame.
        reward: R_e [B] (gradient is stopped here).
        previous_reward: R_{e-1} [B] (gradient stopped).
        epsilon: keeps the logs finite.

    Returns:
        float32 [B].
    """
    advantage = tf.stop_gradient(tf.cast(reward, tf.float32) - tf.cast(previous_reward, tf.float32))
    alpha = tf.clip_by_value(tf.cast(key_frame_prob, tf.float32), epsilon, 1.0 - epsilon)
    better = tf.cast(advantage > 0, tf.float32)  # 1+
    worse = tf.cast(advantage < 0, tf.float32)  # 1-
    return -tf.abs(advantage) * (better * tf.math.log(alpha) + worse * tf.math.log(1.0 - alpha))
