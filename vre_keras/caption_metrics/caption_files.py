"""Reading predictions and references from JSON / JSONL / CSV files, writing score reports.

Accepted layouts (the id field may be `video_id`, `id` or `image_id`):
- predictions: JSON {id: caption}; JSON list of {id, caption} (coco-caption's results format);
  JSONL of such rows; CSV with columns id + caption.
- references: JSON {id: [captions]}; coco-caption annotations {"annotations": [{image_id,
  caption}]}; MSR-VTT {"sentences": [{video_id, caption}]}; this project's sample file / plain
  manifest {"videos": [{id, captions}]} or JSONL of {id, captions}; a JSON list or JSONL of
  {id, caption} rows; CSV with one row per (id, caption).
"""

import csv
import json
import os

from vre_common import storage

ID_FIELDS = ("video_id", "id", "image_id")


class CaptionFileError(ValueError):
    """A predictions or references file cannot be read; the message names the file and row."""


def _id_of(row: dict, where: str):
    for field in ID_FIELDS:
        if field in row:
            return str(row[field])
    raise CaptionFileError(f"{where}: no id field (one of {', '.join(ID_FIELDS)}) in {row!r}")


def read_text(path: str) -> str:
    """A file's text: remote paths (gs://) through vre_common.storage; local ones directly, since
    storage's tf.io.gfile route imports TensorFlow, seconds of `vre evaluate`'s start-up."""
    if storage.is_remote(path):
        return storage.read_text(path)
    with open(storage.absolute(path), encoding="utf-8") as f:
        return f.read()


def write_text(path: str, text: str) -> str:
    """Writes a report whole (a temporary sibling renamed over it), local or remote; returns the
    path. Local paths without importing TensorFlow, as read_text."""
    path = str(path)
    if storage.is_remote(path):
        return storage.write_text(path, text)
    local = storage.absolute(path)
    os.makedirs(os.path.dirname(local), exist_ok=True)
    staging = f"{local}.tmp-{os.getpid()}"
    with open(staging, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(staging, local)
    return path


def _load_rows(path: str):
    """The file (local or remote, e.g. gs://) as a JSON value, or a list of dict rows for JSONL
    and CSV."""
    if not storage.isfile(path):
        raise CaptionFileError(f"{path}: no such file")
    text = read_text(path)
    name = storage.basename(path)
    suffix = name[name.rindex(".") :].lower() if "." in name else ""
    if suffix == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        if not rows:
            raise CaptionFileError(f"{path}: the CSV file has no rows")
        return rows
    if suffix == ".jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise CaptionFileError(f"{path}:{n}: not JSON: {e}") from e
        return rows
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise CaptionFileError(f"{path}: not JSON ({e}); use .csv or .jsonl for those") from e


def _text(value, where: str) -> str:
    if not isinstance(value, str):
        raise CaptionFileError(f"{where}: caption is not a string: {value!r}")
    return value


def load_predictions(path) -> dict[str, str]:
    """id -> predicted caption. Raises CaptionFileError naming the file and the id or row."""
    path = str(path)
    data = _load_rows(path)
    if isinstance(data, dict):
        return {str(k): _text(v, f"{path}: id {k!r}") for k, v in data.items()}
    if not isinstance(data, list):
        raise CaptionFileError(f"{path}: expected a dict id -> caption or a list of rows")
    out = {}
    for n, row in enumerate(data, 1):
        where = f"{path}: row {n}"
        if not isinstance(row, dict) or "caption" not in row:
            raise CaptionFileError(f"{where}: expected an object with an id and a 'caption'")
        video_id = _id_of(row, where)
        if video_id in out:
            raise CaptionFileError(f"{where}: second prediction for id {video_id!r}")
        out[video_id] = _text(row["caption"], f"{where} (id {video_id!r})")
    return out


def load_references(path) -> dict[str, list[str]]:
    """id -> reference captions. Raises CaptionFileError naming the file and the id or row."""
    path = str(path)
    data = _load_rows(path)
    if isinstance(data, dict):
        for key in ("annotations", "sentences", "videos"):
            if key in data and isinstance(data[key], list):
                data = data[key]
                break
        else:
            out = {}
            for k, v in data.items():
                if not isinstance(v, list):
                    raise CaptionFileError(f"{path}: id {k!r}: references must be a list")
                out[str(k)] = [_text(c, f"{path}: id {k!r}") for c in v]
            return out
    if not isinstance(data, list):
        raise CaptionFileError(f"{path}: expected a dict id -> captions or a list of rows")
    out: dict[str, list[str]] = {}
    for n, row in enumerate(data, 1):
        where = f"{path}: row {n}"
        if not isinstance(row, dict):
            raise CaptionFileError(f"{where}: expected an object, got {row!r}")
        video_id = _id_of(row, where)
        if "captions" in row and isinstance(row["captions"], list):
            out.setdefault(video_id, []).extend(
                _text(c, f"{where} (id {video_id!r})") for c in row["captions"]
            )
        elif "caption" in row:
            out.setdefault(video_id, []).append(_text(row["caption"], f"{where} ({video_id!r})"))
        else:
            raise CaptionFileError(f"{where}: no 'caption' or 'captions' for id {video_id!r}")
    return out


def format_table(scores: dict[str, float], count: int) -> str:
    """A plain-text table: metric, score (coco-caption scale) and x100 (the papers' scale)."""
    lines = [f"{'metric':10} {'score':>10} {'x100':>8}", "-" * 30]
    lines += [f"{name:10} {value:10.6f} {100 * value:8.2f}" for name, value in scores.items()]
    lines.append(f"({count} videos)")
    return "\n".join(lines)
