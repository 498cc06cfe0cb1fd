"""Fixtures: the test corpus tokenized by pycocoevalcap's own PTBTokenizer, a shared METEOR."""

import pytest

from tests.caption_metrics import cases


@pytest.fixture(scope="session")
def raw_corpus():
    return cases.all_cases()


@pytest.fixture(scope="session")
def coco_tokenized(raw_corpus):
    """(gts, res) in pycocoevalcap's format, tokenized by its PTBTokenizer (the reference)."""
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    hyps, refs = raw_corpus
    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({k: [{"caption": c} for c in v] for k, v in refs.items()})
    res = tokenizer.tokenize({k: [{"caption": hyps[k]}] for k in refs})
    return gts, res


@pytest.fixture(scope="session")
def meteor_scorer():
    """The process-wide METEOR JVM, which the TFMA combiner in these tests uses too (one
    paraphrase-table load for the whole session); closed at exit."""
    from vre_keras.caption_metrics.meteor import shared_meteor_scorer

    return shared_meteor_scorer()
