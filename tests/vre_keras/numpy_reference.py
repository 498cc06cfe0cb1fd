"""Plain numpy versions of the paper's equations, written per example with Python loops, to check
the batched TensorFlow layers against."""

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def gru_step(x, h, kernel, recurrent_kernel, bias):
    """Keras' GRU cell (reset_after=True, gate order z, r, h)."""
    u = h.shape[-1]
    mx = x @ kernel + bias[0]
    mh = h @ recurrent_kernel + bias[1]
    z = sigmoid(mx[:u] + mh[:u])
    r = sigmoid(mx[u : 2 * u] + mh[u : 2 * u])
    hh = np.tanh(mx[2 * u :] + r * mh[2 * u :])
    return z * h + (1 - z) * hh


def kbigru(features, key_frames, backward_weights, forward_weights, wc, bc):
    """Eq. 4-7, one video at a time."""
    outputs = []
    for v, key in zip(features, key_frames):
        units = backward_weights[1].shape[0]
        h_back = np.zeros(units)
        for i in range(key, -1, -1):  # v_ikey ... v_0
            h_back = gru_step(v[i], h_back, *backward_weights)
        h_fwd = np.zeros(units)
        for j in range(key, len(v)):  # v_ikey ... v_{K-1}
            h_fwd = gru_step(v[j], h_fwd, *forward_weights)
        outputs.append(np.tanh(np.concatenate([h_back, h_fwd]) @ wc + bc))
    return np.stack(outputs)


def gated_attention_scores(query, values, w_query, w_value, w_score, b_score):
    """Eq. 8 / Eq. 14: W tanh(W_q q ⊙ W_v v_i) + b, per example."""
    scores = []
    for q, vs in zip(query, values):
        scores.append([(np.tanh((q @ w_query) * (v @ w_value)) @ w_score)[0] + b_score[0]
                       for v in vs])
    return np.asarray(scores)
