"""MSVD (YouTube2Text): clips `<youtube id>_<start>_<end>`, the standard 1,200 / 100 / 670 split.

Inputs:
- the mapping `youtube_mapping.txt`: one `<clip id> vidN` per line; N (1..1970) is the standard
  order, and the split is contiguous on it (paper §4.1): vid1-1200 train, vid1201-1300
  validation, vid1301-1970 test;
- caption files, any mix of:
  - `vidN<TAB>caption` lines (e.g. `sents_train_lc_nopunc.txt`),
  - `<clip id> caption` lines (the corpus's per-clip descriptions, e.g. AllVideoDescriptions.txt;
    lines starting with '#' are comments),
  - the corpus CSV (`MSR Video Description Corpus.csv`: VideoID, Start, End, ..., Language,
    Description), of which only the English rows are kept.
Videos are `<video_dir>/<clip id>.avi` (YouTubeClips.tar's layout).
"""

import collections
import csv
import io
import re

from beam_jobs.adapters import file_io
from beam_jobs.video_record import VideoRecord, check_unique

TRAIN_END = 1200  # vid1..vid1200
VALIDATION_END = 1300  # vid1201..vid1300; the rest (to vid1970) is test
_VID = re.compile(r"^vid(\d+)$")


def split_of(index):
    """The standard contiguous split of clip number `index` (1-based)."""
    if index < 1:
        raise ValueError(f"MSVD clip numbers start at 1, got {index}")
    if index <= TRAIN_END:
        return "train"
    if index <= VALIDATION_END:
        return "validation"
    return "test"


def read_mapping(path):
    """[(N, clip id)] from `youtube_mapping.txt`, sorted by N."""
    pairs = []
    for line_no, line in enumerate(file_io.read_text(path).splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        match = _VID.match(fields[-1]) if len(fields) == 2 else None
        if not match:
            raise ValueError(f"{path}:{line_no}: expected '<clip id> vidN', got {line!r}")
        pairs.append((int(match.group(1)), fields[0]))
    if not pairs:
        raise ValueError(f"MSVD mapping {path} is empty")
    numbers = [n for n, _ in pairs]
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"MSVD mapping {path} lists a vidN twice")
    return sorted(pairs)


def _read_corpus_csv(path, captions):
    reader = csv.DictReader(io.StringIO(file_io.read_text(path)))
    needed = {"VideoID", "Start", "End", "Language", "Description"}
    if not reader.fieldnames or not needed <= set(reader.fieldnames):
        raise ValueError(f"MSVD corpus CSV {path} needs the columns {sorted(needed)}")
    for row in reader:
        if (row["Language"] or "").strip() == "English" and (row["Description"] or "").strip():
            clip = f"{row['VideoID']}_{row['Start']}_{row['End']}"
            captions[clip].append(row["Description"].strip())


def _read_caption_lines(path, captions, clip_of_vid):
    for line_no, line in enumerate(file_io.read_text(path).splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, caption = line.replace("\t", " ", 1).partition(" ")
        if not sep or not caption.strip():
            raise ValueError(
                f"{path}:{line_no}: expected '<clip id or vidN> caption', got {line!r}"
            )
        match = _VID.match(key)
        if match:
            n = int(match.group(1))
            if n not in clip_of_vid:
                raise ValueError(f"{path}:{line_no}: {key} is not in the MSVD mapping")
            key = clip_of_vid[n]
        captions[key].append(caption.strip())


def read_msvd(mapping_path, caption_paths, video_dir, video_ext=".avi"):
    """The MSVD clips of the mapping with their captions and standard splits, in vidN order.

    Args:
      mapping_path: `youtube_mapping.txt`.
      caption_paths: caption files (formats in the module docstring).
      video_dir: folder of the clips (local or URI).
      video_ext: file extension of the clips.

    Raises:
      ValueError: malformed files, or captions of a clip the mapping does not list.
    """
    pairs = read_mapping(mapping_path)
    clip_of_vid = dict(pairs)
    captions = collections.defaultdict(list)
    for path in caption_paths:
        if str(path).lower().endswith(".csv"):
            _read_corpus_csv(path, captions)
        else:
            _read_caption_lines(path, captions, clip_of_vid)
    unknown = sorted(set(captions) - set(clip_of_vid.values()))
    if unknown:
        raise ValueError(
            f"captions for {len(unknown)} clip(s) not in the mapping {mapping_path}, "
            f"e.g. {unknown[:3]}"
        )
    records = [
        VideoRecord(
            video_id=clip,
            path=file_io.join(video_dir, clip + video_ext),
            split=split_of(n),
            captions=tuple(captions.get(clip, ())),
        )
        for n, clip in pairs
    ]
    return check_unique(records, f"MSVD mapping {mapping_path}")
