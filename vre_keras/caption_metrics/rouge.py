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

from vre_keras.caption_metrics.key_index import find
from vre_keras.caption_metrics.token_keys import KeyedTokens, encode_with_references

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


def _segment_offsets(lengths: np.ndarray) -> np.ndarray:
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return starts


def lcs_lengths(
    hyp_ids: np.ndarray,
    hyp_len: np.ndarray,
    ref_ids: np.ndarray,
    ref_len: np.ndarray,
    ref_owner: np.ndarray,
) -> np.ndarray:
    """LCS length of every reference with its item's hypothesis.

    Args:
        hyp_ids: int64 flat token ids of all hypotheses (>= 0).
        hyp_len: int64 [I] tokens per hypothesis.
        ref_ids: int64 flat token ids of all references (-1: a token in no hypothesis).
        ref_len: int64 [R] tokens per reference.
        ref_owner: int64 [R] item of each reference.

    Returns:
        int64 [R].
    """
    num_refs = len(ref_len)
    out = np.zeros(num_refs, dtype=np.int64)
    if num_refs == 0:
        return out
    vocab = int(max(hyp_ids.max(initial=0), ref_ids.max(initial=0))) + 1
    hyp_start = _segment_offsets(hyp_len)
    ref_start = _segment_offsets(ref_len)

    # Match masks: bit j of mask(item, token) is set where the item's hypothesis has token at j.
    item_of = np.repeat(np.arange(len(hyp_len), dtype=np.int64), hyp_len)
    pos_in = np.arange(len(hyp_ids), dtype=np.int64) - hyp_start[item_of]
    keep = hyp_len[item_of] <= _WORD
    keys = item_of[keep] * vocab + hyp_ids[keep]
    bits = np.left_shift(np.uint64(1), pos_in[keep].astype(np.uint64))
    order = np.argsort(keys, kind="stable")
    keys, bits = keys[order], bits[order]
    if len(keys):
        starts = np.concatenate([[0], np.flatnonzero(np.diff(keys)) + 1])
        mask_key, mask_val = keys[starts], np.bitwise_or.reduceat(bits, starts)
    else:
        mask_key, mask_val = keys, bits

    short_ref = hyp_len[ref_owner] <= _WORD
    if len(mask_key):
        # A reference token that is not in its hypothesis leaves the bit vector unchanged
        # (its match mask is 0), so only the matching tokens of each reference are kept.
        ref_of = np.repeat(np.arange(num_refs, dtype=np.int64), ref_len)
        # Key -1 (in no table) for tokens in no hypothesis and for references of long
        # hypotheses (done in Python below).
        query = np.repeat(ref_owner, ref_len) * vocab + ref_ids
        query[ref_ids < 0] = -1
        if not short_ref.all():
            query[~short_ref[ref_of]] = -1
        idx = find(mask_key, query)
        pos = np.flatnonzero(idx >= 0)
        match = mask_val[idx[pos]]
        kept_ref = ref_of[pos]
        kept_len = np.bincount(kept_ref, minlength=num_refs)
        # Longest kept sequences first, so the references still running at step i are a prefix.
        order = np.argsort(-kept_len, kind="stable")
        lens = kept_len[order]
        seq_start = _segment_offsets(kept_len)[order]  # kept tokens stay grouped by reference
        width = hyp_len[ref_owner[order]].astype(np.uint64)
        full = np.where(
            width >= _WORD,
            np.uint64(2**64 - 1),
            np.left_shift(np.uint64(1), np.minimum(width, 63)) - np.uint64(1),
        )
        v = full.copy()
        for i in range(int(lens.max(initial=0))):
            active = int(np.searchsorted(-lens, -i, side="left"))  # references with lens > i
            m = match[seq_start[:active] + i]
            va = v[:active]
            u = va & m
            v[:active] = (va + u) | (va - u)  # uint64 wrap-around only drops bits above the word
        lcs = hyp_len[ref_owner[order]] - np.bitwise_count(v & full).astype(np.int64)
        out[order] = np.where(short_ref[order], lcs, 0)
    for r in np.flatnonzero(~short_ref).tolist():
        h = ref_owner[r]
        out[r] = _lcs_python(
            hyp_ids[hyp_start[h] : hyp_start[h] + hyp_len[h]].tolist(),
            ref_ids[ref_start[r] : ref_start[r] + ref_len[r]].tolist(),
        )
    return out


def rouge_l(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    beta: float = BETA,
    keyed: KeyedTokens | None = None,
):
    """ROUGE_L per item and its mean.

    Args:
        hypotheses: one tokenized caption per item.
        references: tokenized references per item, at least one each.
        beta: recall weight (coco-caption: 1.2).
        keyed: token_keys(hypotheses + all references, on_single_space=True), if the caller
            has it.

    Returns:
        (corpus mean, float64 [I] per item), as coco-caption's Rouge.compute_score.
    """
    counts = np.array([len(r) for r in references], dtype=np.int64)
    if len(hypotheses) != len(references) or (counts < 1).any():
        raise ValueError("every item needs one hypothesis and at least one reference")
    hyp_enc, ref_ids, ref_len = encode_with_references(
        hypotheses, [r for refs in references for r in refs], on_single_space=True, keyed=keyed
    )
    owner = np.repeat(np.arange(len(references), dtype=np.int64), counts)
    starts = _segment_offsets(counts)
    lcs = lcs_lengths(hyp_enc.ids, hyp_enc.lengths, ref_ids, ref_len, owner).astype(np.float64)
    hyp_len = hyp_enc.lengths.astype(np.float64)
    ref_len = ref_len.astype(np.float64)
    prec = np.maximum.reduceat(lcs / hyp_len[owner], starts)
    rec = np.maximum.reduceat(lcs / ref_len, starts)
    both = (prec != 0) & (rec != 0)
    denom = np.where(both, rec + beta**2 * prec, 1.0)
    score = np.where(both, ((1 + beta**2) * prec * rec) / denom, 0.0)
    return float(np.mean(score)), score
