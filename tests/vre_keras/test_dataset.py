"""Contract-1 records -> training batches."""

import numpy as np
import pytest

from tests.vre_keras.conftest import CAPTIONS
from vre_keras.dataset import make_dataset, read_references
from vre_keras.vocabulary import EOS_ID


def test_one_element_per_caption_with_shapes_ids_and_tokens(records, tiny_config,
                                                            tiny_vocabulary):
    ids = sorted(CAPTIONS)
    batches = list(make_dataset(records["train"], tiny_config, tiny_vocabulary, batch_size=3,
                                video_ids=ids))
    c = tiny_config
    elements = sum(len(b["tokens"]) for b in batches)
    assert elements == sum(len(v) for v in CAPTIONS.values())
    first = batches[0]
    assert first["temporal"].shape == (3, c.num_frames, c.channels)
    assert first["spatial"].shape == (3, c.num_regions, c.channels)
    assert first["tokens"].shape == (3, c.caption_length)
    seen = {}
    for b in batches:
        for vid, index, tokens in zip(b["video_id"].numpy(), b["video_index"].numpy(),
                                      b["tokens"].numpy()):
            assert ids[index] == vid.decode()
            assert EOS_ID in tokens
            seen.setdefault(vid.decode(), []).append(tiny_vocabulary.decode(tokens))
    # At most max_caption_words words are kept (paper: 15; tiny: 6).
    kept = c.max_caption_words
    assert seen == {k: [" ".join(x.split()[:kept]) for x in v] for k, v in CAPTIONS.items()}


def test_per_video_and_unknown_videos(records, tiny_config, tiny_vocabulary):
    per_video = list(make_dataset(records["train"], tiny_config, tiny_vocabulary, batch_size=8,
                                  video_ids=sorted(CAPTIONS), per_video=True))
    assert len(per_video) == 1 and len(per_video[0]["tokens"]) == len(CAPTIONS)
    evaluation = next(iter(make_dataset(records["eval"], tiny_config, tiny_vocabulary, 4)))
    np.testing.assert_array_equal(evaluation["video_index"], [-1])  # not a training video
    assert read_references(records["train"]) == CAPTIONS


def test_missing_files_are_named(tiny_config, tiny_vocabulary, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        make_dataset(str(tmp_path / "nothing-here*.gz"), tiny_config, tiny_vocabulary, 2)
