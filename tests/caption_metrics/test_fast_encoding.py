"""The numpy text-to-id path (token_keys) and the hash lookup (key_index) against plain Python,
and the metrics against pycocoevalcap on a corpus that takes the numpy path (ASCII only)."""

import random

import numpy as np
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge

from vre_keras.caption_metrics.bleu import bleu
from vre_keras.caption_metrics.cider import cider_d
from vre_keras.caption_metrics.corpus_ngrams import CorpusNgrams
from vre_keras.caption_metrics.key_index import find, group_ids
from vre_keras.caption_metrics.rouge import rouge_l
from vre_keras.caption_metrics.token_keys import encode_corpus, encode_with_references, token_keys

TOL = 1e-6
# Pieces that stress the splitting rules: ASCII whitespace other than space (str.split() splits
# on \x1c-\x1f too), runs of spaces, tokens of exactly 8 and 9 bytes (the packed/dict boundary),
# control characters inside tokens, and (for the fallback) non-ASCII and NUL.
PIECES = [
    "a",
    "b",
    "ab",
    "abcdefgh",
    "abcdefghi",
    "abcdefghijklmnop",
    "x" * 30,
    " ",
    "  ",
    "\t",
    "\n",
    "\x1c",
    "\x1f",
    "\x0b",
    "\x01",
    "",
    "-lrb-",
]
NON_ASCII = ["é", "\xa0", "\u2003", "\x00"]


def _split(sentence, single):
    return sentence.split(" ") if single else sentence.split()


def _check_encoding(hyps, refs, single):
    enc, ref_ids, ref_len = encode_with_references(hyps, refs, single)
    hyp_tokens = [_split(s, single) for s in hyps]
    ref_tokens = [_split(s, single) for s in refs]
    assert enc.lengths.tolist() == [len(t) for t in hyp_tokens]
    assert ref_len.tolist() == [len(t) for t in ref_tokens]
    ids = {}
    for token, i in zip([t for ts in hyp_tokens for t in ts], enc.ids.tolist()):
        assert ids.setdefault(token, i) == i  # one id per token...
    assert len(set(ids.values())) == len(ids)  # ...and one token per id
    assert ref_ids.tolist() == [ids.get(t, -1) for ts in ref_tokens for t in ts]


def test_encoding_equals_str_split_on_tricky_text():
    rng = random.Random(0)
    for trial in range(1500):
        pool = PIECES + (NON_ASCII if trial % 4 == 0 else [])
        sentence = lambda: "".join(rng.choice(pool) for _ in range(rng.randint(0, 10)))  # noqa
        hyps = [sentence() for _ in range(rng.randint(1, 5))]
        refs = [sentence() for _ in range(rng.randint(1, 8))]
        for single in (False, True):
            _check_encoding(hyps, refs, single)


def test_token_keys_numpy_path_and_fallback():
    keyed = token_keys(["a  bb", "", "abcdefghi abcdefghi abcdefgh"], on_single_space=True)
    keys = keyed.keys
    assert keyed.counts.tolist() == [3, 1, 3]
    assert keys[1] == keys[3] == 0  # the empty tokens
    assert keys[4] == keys[5] < 0 <= keys[6]  # 9 bytes: dict ids; 8 bytes: packed
    assert token_keys(["café"]) is None and token_keys(["a\x00b"]) is None
    assert token_keys([]).counts.tolist() == []


def test_find_equals_dict_lookup():
    rng = np.random.default_rng(0)
    for size in (0, 1, 7, 1000, 5000):
        keys = np.unique(rng.integers(-(2**63), 2**63 - 1, size=size, dtype=np.int64))
        rng.shuffle(keys)
        query = np.concatenate(
            [keys, rng.integers(-(2**63), 2**63 - 1, 300, dtype=np.int64), rng.integers(-3, 3, 50)]
        )
        position = {k: i for i, k in enumerate(keys.tolist())}
        assert find(keys, query).tolist() == [position.get(q, -1) for q in query.tolist()]
    # Keys that differ only in their top bits collide in every level: the binary-search rest.
    keys = np.arange(16, dtype=np.int64) << 59
    assert find(keys, np.concatenate([keys, keys + 1])).tolist() == list(range(16)) + [-1] * 16


def test_metrics_equal_coco_on_ascii_corpus(coco_tokenized):
    gts, res = coco_tokenized
    ids = [k for k in gts if all(s.isascii() for s in gts[k] + res[k])]
    assert len(ids) > 100
    gts, res = {k: gts[k] for k in ids}, {k: res[k] for k in ids}
    hyps, refs = [res[k][0] for k in ids], [gts[k] for k in ids]
    assert token_keys(hyps + [r for rs in refs for r in rs]) is not None  # the numpy path

    want, want_items = Bleu(4).compute_score(gts, res, verbose=0)
    got, got_items = bleu(hyps, refs)
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
    np.testing.assert_allclose(got_items, np.array(want_items).T, rtol=0, atol=TOL)

    want, want_items = Rouge().compute_score(gts, res)
    got, got_items = rouge_l(hyps, refs)
    assert abs(got - want) <= TOL
    np.testing.assert_allclose(got_items, want_items, rtol=0, atol=TOL)

    want, want_items = Cider().compute_score(gts, res)
    got, got_items = cider_d(CorpusNgrams.build(hyps, refs))
    assert abs(got - want) <= TOL
    np.testing.assert_allclose(got_items, want_items, rtol=0, atol=TOL)


def test_group_ids_equal_keys_share_an_id():
    rng = np.random.default_rng(1)
    for keys in (
        rng.integers(0, 50, 2000),
        rng.integers(-(2**63), 2**63 - 1, 3000, np.int64),
        np.arange(40, dtype=np.int64) << 58,
        np.zeros(0, np.int64),
    ):
        ids = group_ids(keys)
        first = {}
        for k, i in zip(keys.tolist(), ids.tolist()):
            assert first.setdefault(k, i) == i and keys[i] == k
        assert len(set(first.values())) == len(first)


def test_encode_corpus_equals_dict_encoding():
    rng = random.Random(2)
    for trial in range(300):
        pool = PIECES + (NON_ASCII if trial % 4 == 0 else [])
        sentences = [
            "".join(rng.choice(pool) for _ in range(rng.randint(0, 10)))
            for _ in range(rng.randint(1, 8))
        ]
        enc, token_ids = encode_corpus(sentences)
        tokens = [t for s in sentences for t in s.split()]
        assert enc.lengths.tolist() == [len(s.split()) for s in sentences]
        assert enc.ids.tolist() == [token_ids[t] for t in tokens]
        assert len(set(token_ids.values())) == len(token_ids) == len(set(tokens))


def test_stable_order_is_numpys_stable_argsort():
    from vre_keras.caption_metrics.ngrams import stable_order

    rng = np.random.default_rng(3)
    for n in (0, 1, 2, 17, 5000):
        # Many ties (small ranges), negative keys, and spans too wide for the fast path.
        for high in (1, 5, 1 << 20, 1 << 40, 1 << 62):
            keys = rng.integers(-high, high, n, dtype=np.int64)
            np.testing.assert_array_equal(stable_order(keys), np.argsort(keys, kind="stable"))


def test_splits_agree_only_where_split_and_split_on_space_give_the_same_tokens():
    from vre_keras.caption_metrics.token_keys import splits_agree

    def agree(sentences):
        same = all(s.split() == s.split(" ") for s in sentences)
        assert splits_agree(token_keys(sentences)) == same, sentences
        return same

    assert agree(["a man", "is here", "x"])
    for odd in ("", " a", "a ", "a  b", "a\tb", "a\x1cb", "a\n"):
        for where in (0, 1, 2):
            sentences = ["a man", "is here"]
            sentences.insert(where, odd)
            assert not agree(sentences)


def test_metrics_with_shared_keys_equal_their_own(coco_tokenized):
    """evaluate_corpus splits the text once for BLEU, CIDEr and (where the splitting rules
    agree) ROUGE_L; each metric gives what it gives on its own."""
    from vre_keras.caption_metrics.token_keys import splits_agree

    gts, res = coco_tokenized
    ids = [k for k in gts if all(s.isascii() for s in gts[k] + res[k])]
    for chosen in (ids, [k for k in ids if all(gts[k]) and res[k][0]]):  # with / without ""
        hyps, refs = [res[k][0] for k in chosen], [gts[k] for k in chosen]
        keyed = token_keys(hyps + [r for rs in refs for r in rs])
        for got, want in zip(bleu(hyps, refs, keyed=keyed), bleu(hyps, refs)):
            np.testing.assert_array_equal(got, want)
        if splits_agree(keyed):
            for got, want in zip(rouge_l(hyps, refs, keyed=keyed), rouge_l(hyps, refs)):
                np.testing.assert_array_equal(got, want)
        shared = cider_d(CorpusNgrams.build(hyps, refs, keyed=keyed))
        for got, want in zip(shared, cider_d(CorpusNgrams.build(hyps, refs))):
            np.testing.assert_array_equal(got, want)
