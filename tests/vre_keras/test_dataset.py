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


def test_shuffle_separates_a_videos_captions_and_reorders_videos(tmp_path, tiny_config):
    from vre_keras.synthetic_data import write_synthetic_records
    from vre_keras.vocabulary import Vocabulary

    # 16 videos x 4 captions, written in order (as a Beam job writes them).
    captions = {f"v{i:02d}": [f"clip {i} caption {j}" for j in range(4)] for i in range(16)}
    path = write_synthetic_records(tmp_path / "t.tfrecord.gz", captions, tiny_config, seed=0)
    vocabulary = Vocabulary.build([c for cs in captions.values() for c in cs], min_count=1)
    ids = sorted(captions)
    dataset = make_dataset(str(path), tiny_config, vocabulary, batch_size=4, shuffle=True,
                           video_ids=ids, shuffle_buffer=16, seed=1)
    epochs = []
    for _ in range(2):
        stream = []
        for batch in dataset:
            videos = [v.decode() for v in batch["video_id"].numpy()]
            assert len(set(videos)) == len(videos), videos  # no video twice in a batch
            for v, c, tokens in zip(videos, batch["caption_index"].numpy(),
                                    batch["tokens"].numpy()):
                assert vocabulary.decode(tokens) == captions[v][c]
                stream.append((v, int(c)))
        assert sorted(stream) == sorted((v, c) for v in ids for c in range(4))
        # A video's captions are a whole window of other videos apart.
        for v in ids:
            where = [i for i, (w, _) in enumerate(stream) if w == v]
            assert min(np.diff(where)) >= 8, (v, where)
        epochs.append([v for v, _ in stream[:16]])
    assert epochs[0] != epochs[1]  # a new video order every epoch
    assert epochs[0] != ids
