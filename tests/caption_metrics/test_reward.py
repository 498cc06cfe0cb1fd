"""CaptionReward: per-caption CIDEr-D + ROUGE_L equal to coco-caption's per-item scores."""

import numpy as np
import pytest
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge

from vre_keras.caption_metrics import CaptionInputError
from vre_keras.caption_metrics.reward import CaptionReward, normalize_generated


@pytest.fixture(scope="module")
def tokenized_corpus(coco_tokenized):
    gts, res = coco_tokenized
    return gts, res, CaptionReward(gts, tokenized=True)


def test_reward_equals_coco_per_item_scores(tokenized_corpus):
    """With the training references as the whole corpus, each caption's reward is exactly
    coco-caption's per-item CIDEr (document frequencies of that corpus) plus ROUGE_L."""
    gts, res, reward = tokenized_corpus
    ids = list(gts)
    captions = [res[k][0] for k in ids]
    cider_items = Cider().compute_score(gts, res)[1]
    rouge_items = Rouge().compute_score(gts, res)[1]
    cider, rouge = reward.components(ids, captions)
    np.testing.assert_allclose(cider, cider_items, rtol=0, atol=1e-6)
    np.testing.assert_allclose(rouge, rouge_items, rtol=0, atol=1e-6)
    # A batch is scored against the fixed training statistics: any subset, in any order and
    # with repeats, gives the same per-caption values.
    pick = [5, 0, 5, 17, 250]
    got = reward([ids[i] for i in pick], [captions[i] for i in pick])
    assert got.dtype == np.float32 and got.shape == (5,)
    np.testing.assert_allclose(got, (cider_items + rouge_items)[pick], rtol=1e-6, atol=1e-5)


def test_reward_accepts_numpy_bytes_as_from_tf_numpy_function(tokenized_corpus):
    gts, res, reward = tokenized_corpus
    ids = list(gts)[:4]
    as_str = reward(ids, [res[k][0] for k in ids])
    as_bytes = reward(np.array([k.encode() for k in ids], dtype=object),
                      np.array([res[k][0].encode() for k in ids], dtype=object))
    np.testing.assert_array_equal(as_str, as_bytes)


def test_reward_rejects_unknown_video_and_length_mismatch(tokenized_corpus):
    _, _, reward = tokenized_corpus
    with pytest.raises(CaptionInputError, match="no-such-video"):
        reward(["no-such-video"], ["a man"])
    with pytest.raises(CaptionInputError, match="2 video ids but 1 captions"):
        reward(["video1", "video2"], ["a man"])


def test_reward_tokenizes_raw_references_once():
    reward = CaptionReward({"v1": ["A man rides a bike."], "v2": ["A dog, running!"]})
    assert reward.references == {"v1": ["a man rides a bike"], "v2": ["a dog running"]}
    perfect, wrong = reward(["v1", "v1"], ["A man rides a bike .", "a dog running"])
    assert perfect > wrong


def test_reward_needs_references():
    with pytest.raises(CaptionInputError, match="non-empty dict"):
        CaptionReward({})
    with pytest.raises(CaptionInputError, match="no reference captions for ids: 'v2'"):
        CaptionReward({"v1": ["a man"], "v2": []}, tokenized=True)


def test_normalize_generated():
    assert normalize_generated(b"A Man , rides .") == "a man rides"
    with pytest.raises(TypeError, match="int"):
        normalize_generated(3)
