"""A plain manifest of the users' own videos: JSONL or CSV with id, path, split, captions.

- JSONL (`.jsonl` / `.json`): one object per line, `{"id", "path", "split", "captions": [...]}`.
- CSV (`.csv`): a header with `id,path,split,captions`; `captions` holds the captions separated
  by `|`; rows repeating an id (same path and split) add their captions to it.
Relative video paths are resolved against the manifest's folder. Captions may be empty (videos
extracted only to be captioned).
"""

import csv
import io
import json
import posixpath

from beam_jobs.adapters import file_io
from beam_jobs.video_record import VideoRecord, check_unique

FIELDS = ("id", "path", "split")


def _resolve(manifest_path, video_path):
    if "://" in video_path or posixpath.isabs(video_path):
        return video_path
    return file_io.join(posixpath.dirname(str(manifest_path)) or ".", video_path)


def _record(manifest_path, where, row, captions):
    missing = [f for f in FIELDS if not str(row.get(f) or "").strip()]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    try:
        return VideoRecord(
            video_id=str(row["id"]).strip(),
            path=_resolve(manifest_path, str(row["path"]).strip()),
            split=str(row["split"]).strip(),
            captions=tuple(captions),
        )
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from e


def _read_jsonl(path):
    records = []
    for line_no, line in enumerate(file_io.read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{line_no}"
        try:
            row = json.loads(line)
        except ValueError as e:
            raise ValueError(f"{where}: not a JSON object: {e}") from e
        if not isinstance(row, dict):
            # A malformed line of the file, not a caller's type error: ValueError like the rest.
            raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")  # noqa: TRY004
        captions = row.get("captions", [])
        if isinstance(captions, str) or not all(isinstance(c, str) for c in captions):
            raise ValueError(f"{where}: 'captions' must be a list of strings")
        records.append(_record(path, where, row, captions))
    return records


def _read_csv(path):
    reader = csv.DictReader(io.StringIO(file_io.read_text(path)))
    if not reader.fieldnames or not set(FIELDS) <= set(reader.fieldnames):
        raise ValueError(f"manifest {path} needs a header with {', '.join(FIELDS)}[,captions]")
    by_id = {}
    for line_no, row in enumerate(reader, 2):
        captions = [c.strip() for c in (row.get("captions") or "").split("|") if c.strip()]
        record = _record(path, f"{path}:{line_no}", row, captions)
        first = by_id.get(record.video_id)
        if first is None:
            by_id[record.video_id] = record
        elif (first.path, first.split) != (record.path, record.split):
            raise ValueError(
                f"{path}:{line_no}: id {record.video_id!r} repeats with another path or split"
            )
        else:
            by_id[record.video_id] = VideoRecord(
                first.video_id, first.path, first.split, first.captions + record.captions
            )
    return list(by_id.values())


def read_manifest(path):
    """The videos of a JSONL or CSV manifest (format in the module docstring).

    Raises:
      ValueError: an unknown extension, a malformed row (file and line named) or a repeated id.
    """
    name = str(path).lower()
    if name.endswith((".jsonl", ".json")):
        records = _read_jsonl(path)
    elif name.endswith(".csv"):
        records = _read_csv(path)
    else:
        raise ValueError(f"manifest {path}: use a .jsonl or .csv file")
    if not records:
        raise ValueError(f"manifest {path} lists no video")
    return check_unique(records, f"manifest {path}")
