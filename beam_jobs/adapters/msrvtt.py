"""MSR-VTT: `train_val_videodatainfo.json` / `test_videodatainfo.json` (or the zip holding them).

Format (MSR-VTT 10K v1.0 readme): `videos` [{video_id, split, ...}] with split train / validate /
test, and `sentences` [{video_id, caption, sen_id}]. Videos are `<video_dir>/<video_id>.mp4`.
The official files give 6,513 / 497 / 2,990 videos (video0-6512 / 6513-7009 / 7010-9999); the
paper writes 6,512 / 498 / 2,990, and we follow the files.
"""

import collections
import json

from beam_jobs.adapters import file_io
from beam_jobs.video_record import VideoRecord, check_unique

SPLIT_NAMES = {
    "train": "train",
    "validate": "validation",
    "validation": "validation",
    "test": "test",
}
ANNOTATION_SUFFIX = "videodatainfo.json"


def _load_documents(path):
    """[(name, parsed json)] of a .json file or of every *videodatainfo.json in a .zip."""
    path = str(path)
    if path.endswith(".zip"):
        members = file_io.read_zip_members(path, ANNOTATION_SUFFIX)
        if not members:
            raise ValueError(f"{path} holds no '*{ANNOTATION_SUFFIX}' file")
        items = sorted(members.items())
        return [(f"{path}!{name}", _parse(f"{path}!{name}", data)) for name, data in items]
    return [(path, _parse(path, file_io.read_bytes(path)))]


def _parse(name, data):
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise ValueError(f"MSR-VTT annotation {name} is not valid JSON: {e}") from e
    if not isinstance(doc, dict) or "videos" not in doc or "sentences" not in doc:
        raise ValueError(f"MSR-VTT annotation {name} lacks the 'videos' and 'sentences' lists")
    return doc


def read_msrvtt(annotation_paths, video_dir, video_ext=".mp4"):
    """The MSR-VTT videos of the given annotation files, in file order.

    Args:
      annotation_paths: paths of `*_videodatainfo.json` files or zips holding them.
      video_dir: folder of the `videoN.mp4` files (local or URI).
      video_ext: file extension of the videos.

    Returns:
      A list of VideoRecord (captions ordered by sen_id).

    Raises:
      ValueError: malformed file, unknown split, or a video id listed twice.
    """
    records = []
    for path in annotation_paths:
        for name, doc in _load_documents(path):
            captions = collections.defaultdict(list)
            for i, sentence in enumerate(doc["sentences"]):
                try:
                    captions[sentence["video_id"]].append(
                        (sentence.get("sen_id", i), sentence["caption"])
                    )
                except (KeyError, TypeError) as e:
                    raise ValueError(f"{name}: sentence #{i} lacks {e}") from e
            for i, video in enumerate(doc["videos"]):
                try:
                    video_id, split = video["video_id"], video["split"]
                except (KeyError, TypeError) as e:
                    raise ValueError(f"{name}: video #{i} lacks {e}") from e
                if split not in SPLIT_NAMES:
                    raise ValueError(
                        f"{name}: video {video_id!r} has split {split!r}, "
                        f"expected one of {sorted(SPLIT_NAMES)}"
                    )
                records.append(
                    VideoRecord(
                        video_id=video_id,
                        path=file_io.join(video_dir, video_id + video_ext),
                        split=SPLIT_NAMES[split],
                        captions=tuple(c for _, c in sorted(captions.get(video_id, []))),
                    )
                )
    return check_unique(records, "MSR-VTT annotations " + ", ".join(map(str, annotation_paths)))
