"""Bad input: rejected with messages that name the ids, or scored the way coco-caption does."""

import os
import subprocess
import sys

import pytest

from vre_keras.caption_metrics import CaptionInputError, score_corpus

FAST = ("Bleu", "ROUGE_L", "CIDEr-D")


@pytest.mark.parametrize(
    "hyps, refs, message",
    [
        ({"a": "x", "b": "y"}, {"a": ["x"]}, "hypothesis but no references: 'b'"),
        ({"a": "x"}, {"a": ["x"], "c": ["z"]}, "references but no hypothesis: 'c'"),
        ({"a": "x"}, {"a": []}, "no reference captions for ids: 'a'"),
        ({"a": None}, {"a": ["x"]}, "hypothesis is not a string for ids: 'a'"),
        ({"a": "x"}, {"a": "x y"}, "not a single string, for ids: 'a'"),
        ({"a": "x"}, {"a": ["x", 3]}, "not a string for ids: 'a'"),
        ({}, {}, "corpus is empty"),
        (["x"], {"a": ["x"]}, "must be a dict"),
    ],
)
def test_rejected_with_the_id(hyps, refs, message):
    with pytest.raises(CaptionInputError, match=message):
        score_corpus(hyps, refs, metrics=FAST, tokenized=True)


def test_many_bad_ids_are_summarised():
    hyps = {f"v{i}": "x" for i in range(15)}
    with pytest.raises(CaptionInputError, match="and 4 more"):
        score_corpus(hyps, {"v0": ["x"]}, metrics=FAST, tokenized=True)


def test_unknown_metric():
    with pytest.raises(ValueError, match="unknown metrics.*SPICE"):
        score_corpus({"a": "x"}, {"a": ["x"]}, metrics=("SPICE",), tokenized=True)


def test_empty_hypotheses_and_unicode_are_scored_like_coco():
    scores = score_corpus(
        {"a": "", "b": "Ein Café über 日本"},
        {"a": ["a man"], "b": ["ein café über 日本", "x"]},
        metrics=FAST,
    )
    assert 0.0 < scores["ROUGE_L"] <= 0.5  # "a" scores 0, "b" matches exactly
    assert scores["CIDEr-D"] > 0


def test_missing_java_is_named():
    """A real interpreter with no java on PATH: the error says Java is needed and for what (for
    a caption outside the tokenizer's fast path, with no cache to answer it)."""
    code = "from vre_keras.caption_metrics import tokenize\ntokenize(['a man, riding.'])\n"
    env = dict(os.environ, PATH="/nonexistent", VRE_PTB_CACHE="off")
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )
    assert proc.returncode != 0
    assert "JavaNotFoundError: Java is not installed or not on PATH" in proc.stderr
    assert "meteor-1.5.jar" in proc.stderr
