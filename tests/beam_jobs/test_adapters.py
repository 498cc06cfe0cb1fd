"""Adapters on excerpts in the real annotation formats, and on the real files in ../shared."""

import collections
import json
import zipfile

import pytest

from beam_jobs.adapters.manifest import read_manifest
from beam_jobs.adapters.msrvtt import read_msrvtt
from beam_jobs.adapters.msvd import read_msvd, split_of

MSRVTT_EXCERPT = {
    "info": {"year": "2016", "version": "1.0"},
    "videos": [
        {
            "category": 9,
            "url": "https://www.youtube.com/watch?v=9lZi22qLlEo",
            "video_id": "video0",
            "start time": 137.72,
            "end time": 149.44,
            "split": "train",
            "id": 0,
        },
        {
            "category": 3,
            "url": "https://www.youtube.com/watch?v=x",
            "video_id": "video6513",
            "start time": 1.0,
            "end time": 11.0,
            "split": "validate",
            "id": 6513,
        },
    ],
    "sentences": [
        {"caption": "a car is shown", "video_id": "video0", "sen_id": 1},
        {"caption": "a man drives", "video_id": "video6513", "sen_id": 2},
        {"caption": "a cartoon car drives", "video_id": "video0", "sen_id": 0},
    ],
}
MSRVTT_TEST_EXCERPT = {
    "videos": [{"video_id": "video7010", "split": "test", "id": 7010}],
    "sentences": [{"caption": "a woman sings", "video_id": "video7010", "sen_id": 140200}],
}


def test_msrvtt_json_files(tmp_path):
    (tmp_path / "train_val_videodatainfo.json").write_text(json.dumps(MSRVTT_EXCERPT))
    (tmp_path / "test_videodatainfo.json").write_text(json.dumps(MSRVTT_TEST_EXCERPT))
    records = read_msrvtt(
        [tmp_path / "train_val_videodatainfo.json", tmp_path / "test_videodatainfo.json"],
        "/data/msrvtt/videos",
    )
    assert [(r.video_id, r.split) for r in records] == [
        ("video0", "train"),
        ("video6513", "validation"),
        ("video7010", "test"),
    ]
    assert records[0].path == "/data/msrvtt/videos/video0.mp4"
    assert records[0].captions == ("a cartoon car drives", "a car is shown")  # by sen_id


def test_msrvtt_zip_and_uri_video_dir(tmp_path):
    with zipfile.ZipFile(tmp_path / "annotations.zip", "w") as z:
        z.writestr("train_val_videodatainfo.json", json.dumps(MSRVTT_EXCERPT))
        z.writestr("readme.txt", "MSR-VTT 10K")
    records = read_msrvtt([tmp_path / "annotations.zip"], "gs://bucket/msrvtt", video_ext=".webm")
    assert records[1].path == "gs://bucket/msrvtt/video6513.webm"


def test_msrvtt_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad_videodatainfo.json"
    bad.write_text(json.dumps({"videos": [{"video_id": "v", "split": "dev"}], "sentences": []}))
    with pytest.raises(ValueError, match="bad_videodatainfo.json: video 'v' has split 'dev'"):
        read_msrvtt([bad], "/v")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ValueError, match="x.json is not valid JSON"):
        read_msrvtt([tmp_path / "x.json"], "/v")
    with pytest.raises(FileNotFoundError, match="absent.json"):
        read_msrvtt([tmp_path / "absent.json"], "/v")
    twice = tmp_path / "twice.json"
    twice.write_text(json.dumps(MSRVTT_EXCERPT))
    with pytest.raises(ValueError, match="'video0' appears twice"):
        read_msrvtt([twice, twice], "/v")


def test_msrvtt_real_release(shared_dir):
    records = read_msrvtt([shared_dir / "data/msrvtt/train_val_annotation.zip"], "/videos")
    assert collections.Counter(r.split for r in records) == {"train": 6513, "validation": 497}
    assert all(len(r.captions) == 20 for r in records)
    by_id = {r.video_id: r for r in records}
    assert by_id["video6512"].split == "train" and by_id["video6513"].split == "validation"


MAPPING = "-4wsuPCjDBc_5_15 vid1\r\n-7KMZQEsJW4_205_208 vid2\r\nzzit5b_-ukg_5_20 vid1970"


def test_msvd_sentence_files_and_crlf_mapping(tmp_path):
    (tmp_path / "youtube_mapping.txt").write_bytes(MAPPING.encode())
    (tmp_path / "sents_train.txt").write_text(
        "vid1\ta squirrel is eating a peanut\nvid1\ta chipmunk is eating\nvid2\ta man cooks\n"
    )
    (tmp_path / "sents_test.txt").write_text("vid1970\tthe boy is exercising\n")
    records = read_msvd(
        tmp_path / "youtube_mapping.txt",
        [tmp_path / "sents_train.txt", tmp_path / "sents_test.txt"],
        "/msvd/YouTubeClips",
    )
    assert [(r.video_id, r.split, len(r.captions)) for r in records] == [
        ("-4wsuPCjDBc_5_15", "train", 2),
        ("-7KMZQEsJW4_205_208", "train", 1),
        ("zzit5b_-ukg_5_20", "test", 1),
    ]
    assert records[0].path == "/msvd/YouTubeClips/-4wsuPCjDBc_5_15.avi"


def test_msvd_corpus_descriptions_and_csv(tmp_path):
    (tmp_path / "youtube_mapping.txt").write_text(MAPPING)
    (tmp_path / "AllVideoDescriptions.txt").write_text(
        "# Microsoft Research Video Description Corpus\n"
        "-4wsuPCjDBc_5_15 a squirrel is eating a peanut in it's shell.\n"
        "-7KMZQEsJW4_205_208 A man is cooking.\n"
    )
    (tmp_path / "corpus.csv").write_text(
        "VideoID,Start,End,WorkerID,Source,AnnotationTime,Language,Description\n"
        "zzit5b_-ukg,5,20,1,clean,20,English,A boy exercises.\n"
        "zzit5b_-ukg,5,20,2,clean,20,German,Ein Junge.\n"
    )
    records = read_msvd(
        tmp_path / "youtube_mapping.txt",
        [tmp_path / "AllVideoDescriptions.txt", tmp_path / "corpus.csv"],
        "/clips",
    )
    assert records[0].captions == ("a squirrel is eating a peanut in it's shell.",)
    assert records[2].captions == ("A boy exercises.",)  # English only


def test_msvd_errors(tmp_path):
    (tmp_path / "map.txt").write_text(MAPPING)
    (tmp_path / "caps.txt").write_text("vid77\tunmapped clip\n")
    with pytest.raises(ValueError, match="caps.txt:1: vid77 is not in the MSVD mapping"):
        read_msvd(tmp_path / "map.txt", [tmp_path / "caps.txt"], "/c")
    (tmp_path / "bad_map.txt").write_text("clip_1_2\n")
    with pytest.raises(ValueError, match="bad_map.txt:1: expected '<clip id> vidN'"):
        read_msvd(tmp_path / "bad_map.txt", [], "/c")
    (tmp_path / "other.txt").write_text("unknown_clip_1_2 a caption\n")
    with pytest.raises(ValueError, match="not in the mapping"):
        read_msvd(tmp_path / "map.txt", [tmp_path / "other.txt"], "/c")


def test_msvd_standard_split_boundaries():
    assert [split_of(n) for n in (1, 1200, 1201, 1300, 1301, 1970)] == [
        "train",
        "train",
        "validation",
        "validation",
        "test",
        "test",
    ]


def test_msvd_real_release(shared_dir):
    folder = shared_dir / "data/msvd"
    records = read_msvd(
        folder / "youtube_mapping.txt", sorted(folder.glob("sents_*_lc_nopunc.txt")), "/clips"
    )
    assert collections.Counter(r.split for r in records) == {
        "train": 1200,
        "validation": 100,
        "test": 670,
    }
    assert records[0].video_id == "-4wsuPCjDBc_5_15"
    assert all(r.captions for r in records)


def test_manifest_jsonl_with_relative_paths(tmp_path):
    (tmp_path / "m.jsonl").write_text(
        json.dumps({"id": "a", "path": "clips/a.mp4", "split": "train", "captions": ["x", "y"]})
        + "\n\n"
        + json.dumps({"id": "b", "path": "/abs/b.mp4", "split": "test"})
        + "\n"
    )
    a, b = read_manifest(tmp_path / "m.jsonl")
    assert a.path == str(tmp_path / "clips/a.mp4") and a.captions == ("x", "y")
    assert b.path == "/abs/b.mp4" and b.captions == ()


def test_manifest_csv_merges_rows_of_an_id(tmp_path):
    (tmp_path / "m.csv").write_text(
        "id,path,split,captions\n"
        "a,gs://b/a.mp4,validation,one|two\n"
        "a,gs://b/a.mp4,validation,three\n"
        "b,gs://b/b.mp4,train,\n"
    )
    a, b = read_manifest(tmp_path / "m.csv")
    assert a.captions == ("one", "two", "three") and a.path == "gs://b/a.mp4"
    assert b.captions == ()


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("m.jsonl", '{"id": "a", "path": "a.mp4"}\n', "m.jsonl:1: missing split"),
        ("m.jsonl", '{"id": "a", "path": "a.mp4", "split": "dev"}\n', "split 'dev' is not one"),
        ("m.jsonl", "[1, 2]\n", "m.jsonl:1: expected a JSON object"),
        ("m.jsonl", '{"id": "a", "path": "a", "split": "train", "captions": "x"}\n', "list of"),
        ("m.csv", "id,path\na,b\n", "needs a header"),
        ("m.csv", "id,path,split\na,x.mp4,train\na,y.mp4,train\n", "m.csv:3: id 'a' repeats"),
        ("m.txt", "", "use a .jsonl or .csv"),
        ("m.jsonl", "\n", "lists no video"),
    ],
)
def test_manifest_errors(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=message):
        read_manifest(tmp_path / name)


def test_manifest_duplicate_ids(tmp_path):
    line = json.dumps({"id": "a", "path": "a.mp4", "split": "train"}) + "\n"
    (tmp_path / "m.jsonl").write_text(line + line)
    with pytest.raises(ValueError, match="'a' appears twice"):
        read_manifest(tmp_path / "m.jsonl")
