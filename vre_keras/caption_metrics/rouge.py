"""ROUGE_L exactly as coco-caption's Rouge (beta = 1.2, max precision and max recall over the
references taken separately), with the longest common subsequence computed bit-parallel.

coco-caption fills an O(m*n) table per (hypothesis, reference) pair in pure Python. Instead we
use Hyyro's bit-vector LCS (one machine word per pair holds a whole DP column), vectorised over
all pairs with numpy uint64 while the hypothesis has at most 64 tokens, and Python integers (same
algorithm, unbounded width) beyond that. Tokens are split on single spaces, as coco-caption does,
so an empty caption is one empty token.
"""

from collections.abc import Sequence

import numpy as np

BETA = 1.2
_WORD = 64


def _lcs_python(hyp: Sequence[int], ref: Sequence[int]) -> int:
    masks: dict[int, int] = {}
    for j, tok in enumerate(hyp):
        masks[tok] = masks.get(tok, 0) | (1 << j)
    full = (1 << len(hyp)) - 1
    v = full
    for tok in ref:
        u = v & masks.get(tok, 0)
        v = ((v + u) | (v - u)) & full
    return len(hyp) - bin(v).count("1")


def lcs_lengths(hyp_ids: list, ref_ids: list, ref_owner: np.ndarray) -> np.ndarray:
    """LCS length of every reference with its item's hypothesis.

    Args:
        hyp_ids: per item, the hypothesis as a list of int token ids.
        ref_ids: per reference, its int token ids.
        ref_owner: int64 [R] item of each reference.

    Returns:
        int64 [R].
    """
    num_refs = len(ref_ids)
    hyp_len = np.array([len(h) for h in hyp_ids], dtype=np.int64)
    ref_len = np.array([len(r) for r in ref_ids], dtype=np.int64)
    out = np.zeros(num_refs, dtype=np.int64)
    vocab = 1 + max(max((max(h) for h in hyp_ids if h), default=0),
                    max((max(r) for r in ref_ids if r), default=0))

    # Match masks: bit j of mask(item, token) is set where the item's hypothesis has token at j.
    short_item = hyp_len <= _WORD
    item_of = np.repeat(np.arange(len(hyp_ids), dtype=np.int64), hyp_len)
    pos_in = np.concatenate([np.arange(n, dtype=np.int64) for n in hyp_len]) if len(hyp_len) else (
        np.zeros(0, dtype=np.int64))
    flat_hyp = np.fromiter((t for h in hyp_ids for t in h), dtype=np.int64, count=int(hyp_len.sum()))
    keep = short_item[item_of]
    keys = item_of[keep] * vocab + flat_hyp[keep]
    bits = np.left_shift(np.uint64(1), pos_in[keep].astype(np.uint64))
    order = np.argsort(keys, kind="stable")
    keys, bits = keys[order], bits[order]
    if len(keys):
        starts = np.concatenate([[0], np.flatnonzero(np.diff(keys)) + 1])
        mask_key, mask_val = keys[starts], np.bitwise_or.reduceat(bits, starts)
    else:
        mask_key, mask_val = keys, bits

    vec = np.flatnonzero(short_item[ref_owner])  # references scored in the vector path
    if len(vec):
        # Longest references first, so the ones still running at step i are a prefix.
        vec = vec[np.argsort(-ref_len[vec], kind="stable")]
        lens = ref_len[vec]
        ref_start = np.zeros(len(vec), dtype=np.int64)
        np.cumsum(lens[:-1], out=ref_start[1:])
        flat_ref = np.fromiter((t for r in vec.tolist() for t in ref_ids[r]), dtype=np.int64,
                               count=int(lens.sum()))
        owner = np.repeat(ref_owner[vec], lens)
        query = owner * vocab + flat_ref
        idx = np.minimum(np.searchsorted(mask_key, query), max(len(mask_key) - 1, 0))
        found = mask_key[idx] == query if len(mask_key) else np.zeros(len(query), bool)
        match = np.where(found, mask_val[idx] if len(mask_val) else np.uint64(0), np.uint64(0))
        width = hyp_len[ref_owner[vec]].astype(np.uint64)
        full = np.where(width == _WORD, np.uint64(2**64 - 1),
                        np.left_shift(np.uint64(1), np.minimum(width, 63)) - np.uint64(1))
        v = full.copy()
        for i in range(int(lens.max(initial=0))):
            active = int(np.searchsorted(-lens, -i, side="left"))  # count of lens > i
            m = match[ref_start[:active] + i]
            va = v[:active]
            u = va & m
            v[:active] = (va + u) | (va - u)  # uint64 wrap-around only drops bits above the word
        out[vec] = hyp_len[ref_owner[vec]] - np.bitwise_count(v & full).astype(np.int64)
    for r in np.flatnonzero(~short_item[ref_owner]).tolist():
        out[r] = _lcs_python(hyp_ids[ref_owner[r]], ref_ids[r])
    return out


def rouge_l(hypotheses: Sequence[str], references: Sequence[Sequence[str]], beta: float = BETA):
    """ROUGE_L per item and its mean.

    Args:
        hypotheses: one tokenized caption per item.
        references: tokenized references per item, at least one each.
        beta: recall weight (coco-caption: 1.2).

    Returns:
        (corpus mean, float64 [I] per item), as coco-caption's Rouge.compute_score.
    """
    index: dict[str, int] = {}
    hyp_ids = [[index.setdefault(t, len(index)) for t in h.split(" ")] for h in hypotheses]
    ref_ids = [[index.setdefault(t, len(index)) for t in r.split(" ")]
               for refs in references for r in refs]
    counts = np.array([len(r) for r in references], dtype=np.int64)
    if len(hypotheses) != len(references) or (counts < 1).any():
        raise ValueError("every item needs one hypothesis and at least one reference")
    owner = np.repeat(np.arange(len(references), dtype=np.int64), counts)
    starts = np.zeros(len(references), dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    lcs = lcs_lengths(hyp_ids, ref_ids, owner).astype(np.float64)
    hyp_len = np.array([len(h) for h in hyp_ids], dtype=np.float64)
    ref_len = np.array([len(r) for r in ref_ids], dtype=np.float64)
    prec = np.maximum.reduceat(lcs / hyp_len[owner], starts)
    rec = np.maximum.reduceat(lcs / ref_len, starts)
    both = (prec != 0) & (rec != 0)
    denom = np.where(both, rec + beta**2 * prec, 1.0)
    score = np.where(both, ((1 + beta**2) * prec * rec) / denom, 0.0)
    return float(np.mean(score)), score
