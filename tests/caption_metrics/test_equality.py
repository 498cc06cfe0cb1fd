"""Every metric equals pycocoevalcap's on a few hundred generated and hand-picked cases."""

import random

import numpy as np
import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge, my_lcs

from vre_keras.caption_metrics import names, score_corpus, tokenize
from vre_keras.caption_metrics.bleu import bleu
from vre_keras.caption_metrics.cider import cider_d
from vre_keras.caption_metrics.corpus import evaluate_corpus
from vre_keras.caption_metrics.corpus_ngrams import CorpusNgrams
from vre_keras.caption_metrics.rouge import lcs_lengths, rouge_l

TOL = 1e-6


def _ours(gts, res, ids):
    return [res[k][0] for k in ids], [gts[k] for k in ids]


def _subcorpora(ids, count=8, seed=1):
    """The whole corpus and random sub-corpora (BLEU and CIDEr are corpus-level statistics)."""
    rng = random.Random(seed)
    yield list(ids)
    for _ in range(count):
        yield rng.sample(list(ids), rng.randint(1, 40))


def test_tokenize_equals_coco_ptbtokenizer(raw_corpus, coco_tokenized):
    hyps, refs = raw_corpus
    gts, res = coco_tokenized
    ids = list(refs)
    assert tokenize([hyps[k] for k in ids]) == [res[k][0] for k in ids]
    assert tokenize([r for k in ids for r in refs[k]]) == [r for k in ids for r in gts[k]]


def test_tokenize_examples():
    assert tokenize(['A Man, is "talking" (on) the Phone.', "", "...", "isn't it?"]) == [
        "a man is talking -lrb- on -rrb- the phone", "", "", "is n't it"]
    assert tokenize([]) == []


def test_bleu_equals_coco(coco_tokenized):
    gts, res = coco_tokenized
    for ids in _subcorpora(gts):
        hyps, refs = _ours(gts, res, ids)
        want, want_items = Bleu(4).compute_score({k: gts[k] for k in ids},
                                                 {k: res[k] for k in ids}, verbose=0)
        got, got_items = bleu(hyps, refs)
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
        np.testing.assert_allclose(got_items, np.array(want_items).T, rtol=0, atol=TOL)


def test_cider_equals_coco(coco_tokenized):
    gts, res = coco_tokenized
    for ids in _subcorpora(gts):
        hyps, refs = _ours(gts, res, ids)
        want, want_items = Cider().compute_score({k: gts[k] for k in ids},
                                                 {k: res[k] for k in ids})
        got, got_items = cider_d(CorpusNgrams.build(hyps, refs))
        assert abs(got - want) <= TOL
        np.testing.assert_allclose(got_items, want_items, rtol=0, atol=TOL)


def test_rouge_equals_coco(coco_tokenized):
    gts, res = coco_tokenized
    hyps, refs = _ours(gts, res, list(gts))
    want, want_items = Rouge().compute_score(gts, res)
    got, got_items = rouge_l(hyps, refs)
    assert abs(got - want) <= TOL
    np.testing.assert_allclose(got_items, want_items, rtol=0, atol=TOL)


def test_bit_parallel_lcs_equals_dynamic_programming():
    rng = random.Random(3)
    hyps, refs, owner = [], [], []
    for item in range(120):
        # Lengths around the 64-token word size exercise both the numpy and the Python path.
        hyps.append([rng.randint(0, 6) for _ in range(rng.choice([1, 5, 20, 63, 64, 65, 90]))])
        for _ in range(rng.randint(1, 4)):
            refs.append([rng.randint(0, 6) for _ in range(rng.choice([1, 7, 30, 70]))])
            owner.append(item)
    flat = lambda seqs: np.array([t for s in seqs for t in s], dtype=np.int64)  # noqa: E731
    lengths = lambda seqs: np.array([len(s) for s in seqs], dtype=np.int64)  # noqa: E731
    got = lcs_lengths(flat(hyps), lengths(hyps), flat(refs), lengths(refs), np.array(owner))
    want = [my_lcs(list(map(str, r)), list(map(str, hyps[o]))) for r, o in zip(refs, owner)]
    assert got.tolist() == want


@pytest.mark.slow
def test_meteor_equals_coco_exactly(coco_tokenized, meteor_scorer):
    from pycocoevalcap.meteor.meteor import Meteor

    gts, res = coco_tokenized
    reference = Meteor()
    try:
        want, want_items = reference.compute_score(gts, res)
    finally:
        del reference  # its __del__ ends its JVM
    hyps, refs = _ours(gts, res, list(gts))
    got, got_items = meteor_scorer.score(hyps, refs)
    assert got == want
    assert got_items == want_items


@pytest.mark.slow
def test_score_corpus_equals_coco_on_raw_text(raw_corpus, coco_tokenized, meteor_scorer):
    """The public entry point, from raw text (its own tokenization) to every key."""
    hyps, refs = raw_corpus
    gts, res = coco_tokenized
    scores = score_corpus(hyps, refs, meteor_scorer=meteor_scorer)
    assert set(scores) == set(names.ALL_KEYS)
    want_bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    for key, value in zip(names.BLEU_KEYS, want_bleu):
        assert abs(scores[key] - value) <= TOL
    assert abs(scores[names.ROUGE_L] - Rouge().compute_score(gts, res)[0]) <= TOL
    cider = Cider().compute_score(gts, res)[0]
    assert abs(scores[names.CIDER] - cider) <= TOL
    assert scores[names.CIDER_D] == scores[names.CIDER]
    assert scores[names.METEOR] == meteor_scorer.score(*_ours(gts, res, list(gts)))[0]


def test_evaluate_corpus_per_item_and_metric_choice(raw_corpus):
    hyps, refs = raw_corpus
    result = evaluate_corpus(hyps, refs, metrics=("Bleu", "CIDEr"))
    assert set(result.corpus) == set(names.BLEU_KEYS) | {names.CIDER}
    assert set(result.per_item) == set(hyps)
    assert result.per_item["identical"][names.BLEU_4] == pytest.approx(1.0, abs=1e-6)
    assert result.per_item["empty_hypothesis"][names.CIDER] == 0.0
    assert result.tokenized_hypotheses["quotes_brackets"] == (
        "a man says hello -lrb- loudly -rrb- to the u.s. crowd")
