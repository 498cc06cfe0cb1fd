"""Corpora from the real MSVD and MSR-VTT train/val annotations in ../shared/data: several human
captions per video, each as a hypothesis scored against other captions of its video."""

import collections
import json
import zipfile
from pathlib import Path


DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _require(path: Path) -> Path:
    if not path.exists():
        # ../shared/data is part of the checkout's contract (CI lays it beside the clone).
        raise FileNotFoundError(f"shared caption data not found: {path}")
    return path


def msvd_captions() -> dict[str, list[str]]:
    """MSVD train + val: video id -> captions (lower case, no punctuation)."""
    out = collections.defaultdict(list)
    for split in ("train", "val"):
        path = _require(DATA / "msvd" / f"sents_{split}_lc_nopunc.txt")
        for line in path.read_text(encoding="utf-8").splitlines():
            video, _, caption = line.partition("\t")
            out[video].append(caption)
    return dict(out)


def msrvtt_captions() -> dict[str, list[str]]:
    """MSR-VTT 10K train + validate: video id -> raw captions (as annotated)."""
    path = _require(DATA / "msrvtt" / "train_val_annotation.zip")
    with zipfile.ZipFile(path) as z:
        data = json.loads(z.read("train_val_videodatainfo.json"))
    out = collections.defaultdict(list)
    for sentence in data["sentences"]:
        out[sentence["video_id"]].append(sentence["caption"])
    return dict(out)


def leave_one_out(
    captions: dict[str, list[str]], videos: int, per_video: int, max_refs: int, stride: int = 1
) -> tuple[dict, dict]:
    """(hypotheses, references): from every `stride`-th video of the first videos*stride, its
    first `per_video` captions each as a hypothesis, against up to `max_refs` of the video's
    other captions."""
    hyps, refs = {}, {}
    for video in list(captions)[: videos * stride : stride]:
        caps = captions[video]
        for i in range(min(per_video, len(caps) - 1)):
            others = caps[:i] + caps[i + 1 :]
            hyps[f"{video}#{i}"] = caps[i]
            refs[f"{video}#{i}"] = others[:max_refs]
    return hyps, refs
