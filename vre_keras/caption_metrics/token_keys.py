"""Text to token ids for a whole corpus at once, without a Python call per token.

The sentences are joined into one ASCII byte string and split with numpy: a token of at most 8
bytes *is* its key (its bytes packed into a uint64, read at the token's start through an
unaligned 8-byte view), so equal keys mean equal tokens without hashing and without building a
Python string per token. Only the few longer tokens go through a dict. Text that is not plain
ASCII, or holds NUL (which would pack like padding), is left to the per-token dict path
(ngrams.encode_strings / lookup_strings); BLEU, ROUGE_L and CIDEr give the same scores either way.

Splitting follows str.split() (any ASCII whitespace, no empty tokens: coco-caption's BLEU and
CIDEr) or str.split(" ") (single spaces, "" tokens kept: its ROUGE_L); for ASCII text these are
exactly the byte rules used here.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vre_keras.caption_metrics.key_index import find, group_ids
from vre_keras.caption_metrics.ngrams import BASE, Encoded, encode_strings, lookup_strings

_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[[c for c in range(128) if chr(c).isspace()]] = True  # str.split()'s ASCII set
_SPACE = ord(" ")
_OTHER_WHITESPACE = re.compile("[\t\n\x0b\x0c\r\x1c-\x1f]")  # str.split()'s, but " "
_WORD_BYTES = 8
# Masks keeping the first L bytes of a little-endian word, for L = 0..8.
_MASKS = np.array([(1 << (8 * n)) - 1 for n in range(_WORD_BYTES + 1)], dtype=np.uint64)


@dataclass
class KeyedTokens:
    """The tokens of some sentences as keys.

    Attributes:
        keys: int64 [T] one key per token: equal keys <=> equal tokens.
        counts: int64 [S] tokens per sentence.
        text: the sentences joined by single spaces.
        starts: int64 [T] where each token starts in `text`.
        ends: int64 [T] where each token ends (exclusive).
    """

    keys: np.ndarray
    counts: np.ndarray
    text: str
    starts: np.ndarray
    ends: np.ndarray


def token_keys(sentences: Sequence[str], on_single_space: bool = False) -> KeyedTokens | None:
    """One exact int64 key per token, for all sentences at once.

    Args:
        sentences: the sentences as strings.
        on_single_space: split as str.split(" ") instead of str.split().

    Returns:
        KeyedTokens, or None when the text is not ASCII or holds NUL (use the dict path then).
    """
    sentences = list(sentences)
    if not sentences:
        empty = np.zeros(0, dtype=np.int64)
        return KeyedTokens(empty, empty, "", empty, empty)
    # Joined by one space, the tokens of the whole are the tokens of the sentences in turn
    # (under both splitting rules), and every token starts inside its own sentence's span.
    joined = " ".join(sentences)
    if not joined.isascii() or "\x00" in joined:
        return None
    size = len(joined)
    padded = np.zeros(size + 2 * _WORD_BYTES, dtype=np.uint8)
    padded[:size] = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
    data = padded[:size]
    if on_single_space:
        spaces = np.flatnonzero(data == _SPACE)
        starts = np.concatenate([[0], spaces + 1])
        ends = np.concatenate([spaces, [size]])
    else:
        # White space with a border of it on both sides: a token starts after white space and
        # ends before it.
        white = np.ones(size + 2, dtype=bool)
        if (data < _SPACE).any():  # other ASCII white space (tabs, \x1c..) or control bytes
            np.take(_WHITESPACE, data, out=white[1:-1])
        else:
            np.equal(data, _SPACE, out=white[1:-1])
        starts = np.flatnonzero(white[:-2] > white[1:-1])
        ends = np.flatnonzero(white[1:-1] < white[2:]) + 1
    length = ends - starts
    # words[i] is the 8 bytes from byte i on (an unaligned view; the zero padding covers the end).
    words = np.ndarray((size + 1,), dtype="<u8", buffer=padded, strides=(1,))
    # Packed ASCII never sets a byte's top bit: short tokens' keys are >= 0, long ones < 0.
    keys = (words[starts] & _MASKS[np.minimum(length, _WORD_BYTES)]).view(np.int64)
    long_tokens = np.flatnonzero(length > _WORD_BYTES)
    if len(long_tokens):
        index: dict[str, int] = {}
        ids = [
            index.setdefault(joined[s:e], len(index))
            for s, e in zip(starts[long_tokens].tolist(), ends[long_tokens].tolist())
        ]
        keys[long_tokens] = -1 - np.asarray(ids, dtype=np.int64)
    sentence_start = np.zeros(len(sentences), dtype=np.int64)
    np.cumsum(
        np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))[:-1] + 1,
        out=sentence_start[1:],
    )
    first_token = np.searchsorted(starts, sentence_start, side="left")
    counts = np.diff(first_token, append=len(starts)).astype(np.int64)
    return KeyedTokens(keys, counts, joined, starts, ends)


def splits_agree(keyed: KeyedTokens) -> bool:
    """True when str.split(" ") gives these sentences the same tokens as str.split() (no empty
    sentence, no leading, trailing or repeated space, no other white space; PTB-tokenized
    captions are so unless one is empty): then one set of keys serves BLEU, CIDEr and ROUGE_L."""
    text = keyed.text
    return (
        bool(text)
        and "  " not in text
        and text[0] != " "
        and text[-1] != " "
        and _OTHER_WHITESPACE.search(text) is None
    )


def encode_with_references(
    hypotheses: Sequence[str],
    references: Sequence[str],
    on_single_space: bool = False,
    keyed: KeyedTokens | None = None,
):
    """Token ids of hypotheses, and of references through the hypotheses' ids.

    BLEU and ROUGE_L only compare a reference with its own hypothesis, so reference tokens that
    occur in no hypothesis need no id of their own.

    Args:
        hypotheses: one sentence per item.
        references: all reference sentences (flat).
        on_single_space: split as str.split(" ") (ROUGE_L) instead of str.split() (BLEU).
        keyed: token_keys(hypotheses + references) under that rule, if the caller has it.

    Returns:
        (Encoded hypotheses with ids 0..U-1, int64 [tokens] reference ids with -1 for tokens in
        no hypothesis, int64 [R] tokens per reference).
    """
    hypotheses, references = list(hypotheses), list(references)
    if keyed is None:
        keyed = token_keys(hypotheses + references, on_single_space)
    if keyed is None:
        hyp_enc, token_ids = encode_strings(hypotheses, on_single_space)
        ref_ids, ref_len = lookup_strings(references, token_ids, on_single_space)
        return hyp_enc, ref_ids, ref_len
    keys, counts = keyed.keys, keyed.counts
    hyp_len, ref_len = counts[: len(hypotheses)], counts[len(hypotheses) :]
    hyp_tokens = int(hyp_len.sum())
    table, hyp_ids = np.unique(keys[:hyp_tokens], return_inverse=True)
    ref_ids = find(table, keys[hyp_tokens:])
    hyp_start = np.zeros(len(hyp_len), dtype=np.int64)
    np.cumsum(hyp_len[:-1], out=hyp_start[1:])
    return Encoded(hyp_ids.astype(np.int64), hyp_len, hyp_start), ref_ids, ref_len


def encode_corpus(sentences: Sequence[str], keyed: KeyedTokens | None = None) -> tuple:
    """str.split() token ids of sentences, as ngrams.encode_strings(sentences) without a frozen
    map: (Encoded, token -> id map). An id is the index of one occurrence of the token.
    `keyed`: token_keys(sentences), if the caller has it."""
    sentences = list(sentences)
    if keyed is None:
        keyed = token_keys(sentences)
    if keyed is None:
        return encode_strings(sentences)
    if len(keyed.keys) >= BASE:
        raise ValueError(f"too many tokens in one scoring call ({len(keyed.keys)} >= {BASE})")
    ids = group_ids(keyed.keys)
    # The map holds only the distinct tokens (their representatives: id == own index).
    firsts = np.flatnonzero(ids == np.arange(len(ids)))
    text = keyed.text
    token_ids = {
        text[s:e]: i
        for i, s, e in zip(
            firsts.tolist(), keyed.starts[firsts].tolist(), keyed.ends[firsts].tolist()
        )
    }
    starts = np.zeros(len(keyed.counts), dtype=np.int64)
    np.cumsum(keyed.counts[:-1], out=starts[1:])
    return Encoded(ids, keyed.counts, starts), token_ids
