"""A plain manifest of the users' own videos: JSONL or CSV with id, path, split, captions.

- JSONL (`.jsonl` / `.json`): one object per line, `{"id", "path", "split", "captions": [...]}`.
- CSV (`.csv`): a header with `id,path,split,captions`; `captions` holds the captions separated
  by `|`; rows repeating an id (same path and split) add their captions to it.
Relative video paths are resolved against the manifest's folder. Captions may be empty (videos
extracted only to be captioned).

The feature job does not call `read_manifest`: its workers parse the lines themselves
(`beam_jobs.video_list`), so the driver never holds the list. A CSV row must fit on one line
there (no line breaks inside quoted fields).
"""

import csv
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


def parse_jsonl_line(manifest_path, where, line):
    """The VideoRecord of one JSONL manifest line; ValueError naming `where` when malformed."""
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
    return _record(manifest_path, where, row, captions)


def csv_fieldnames(manifest_path, header_line):
    """The column names of a CSV manifest's header line; ValueError when a column is missing."""
    fieldnames = next(csv.reader([header_line]), [])
    fieldnames = [name.strip() for name in fieldnames]
    if not set(FIELDS) <= set(fieldnames):
        raise ValueError(
            f"manifest {manifest_path} needs a header with {', '.join(FIELDS)}[,captions]"
        )
    return fieldnames


def parse_csv_line(manifest_path, where, fieldnames, line):
    """The VideoRecord of one CSV manifest row (captions split on '|')."""
    values = next(csv.reader([line]), [])
    if len(values) > len(fieldnames):
        raise ValueError(f"{where}: {len(values)} columns, the header has {len(fieldnames)}")
    row = dict(zip(fieldnames, values))
    captions = [c.strip() for c in (row.get("captions") or "").split("|") if c.strip()]
    return _record(manifest_path, where, row, captions)


def _read_jsonl(path):
    records = []
    for line_no, line in enumerate(file_io.read_text(path).splitlines(), 1):
        if line.strip():
            records.append(parse_jsonl_line(path, f"{path}:{line_no}", line))
    return records


def _read_csv(path):
    lines = file_io.read_text(path).splitlines()
    if not lines:
        raise ValueError(f"manifest {path} needs a header with {', '.join(FIELDS)}[,captions]")
    fieldnames = csv_fieldnames(path, lines[0])
    by_id = {}
    for line_no, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        record = parse_csv_line(path, f"{path}:{line_no}", fieldnames, line)
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


def manifest_format(path):
    """ "jsonl" or "csv" from the manifest's extension; ValueError for anything else."""
    name = str(path).lower()
    if name.endswith((".jsonl", ".json")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    raise ValueError(f"manifest {path}: use a .jsonl or .csv file")


def read_manifest(path):
    """The videos of a JSONL or CSV manifest (format in the module docstring), in the caller.

    Raises:
      ValueError: an unknown extension, a malformed row (file and line named) or a repeated id.
    """
    records = _read_jsonl(path) if manifest_format(path) == "jsonl" else _read_csv(path)
    if not records:
        raise ValueError(f"manifest {path} lists no video")
    return check_unique(records, f"manifest {path}")
