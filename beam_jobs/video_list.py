"""The job's input: a manifest file that the workers read and parse, never the driver.

The driver only names the file (and reads a CSV header or the first line), so the job graph and
the driver's memory do not grow with the number of videos: `ReadFromText` splits the file
among workers, and each line becomes a `VideoRecord` there. A malformed line becomes a dead
letter (stage "input") naming the manifest and quoting the line.

Dataset adapters that must parse annotation files (MSR-VTT, MSVD) write their records as a JSONL
manifest first (`write_manifest`), streamed line by line.
"""

import json

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from beam_jobs.adapters import manifest as manifest_lib

INPUT_STAGE = "input"
MALFORMED = "malformed"
QUOTE_CHARS = 200  # how much of a malformed line its dead letter quotes


def _open_lines(path):
    """The manifest's lines, streamed (a text wrapper over Beam's filesystems)."""
    import io

    handle = FileSystems.open(path, compression_type=CompressionTypes.AUTO)
    return io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")


def first_lines(path, count):
    """Up to `count` first non-blank lines of `path`, read as a stream (the driver's only read).

    Raises:
      FileNotFoundError: the manifest cannot be read; the message names it.
    """
    lines = []
    try:
        with _open_lines(path) as f:
            for line in f:
                if line.strip():
                    lines.append(line.rstrip("\r\n"))
                    if len(lines) >= count:
                        break
    except Exception as e:
        if isinstance(e, UnicodeDecodeError):
            raise ValueError(f"manifest {path} is not UTF-8 text: {e}") from e
        raise FileNotFoundError(f"cannot read manifest {path}: {e}") from e
    return lines


def count_lines(path):
    """Non-blank lines of `path` (streamed; for the local progress display's total)."""
    with _open_lines(path) as f:
        return sum(1 for line in f if line.strip())


def check_manifest(path):
    """Fails early, naming the file, when the manifest is unreadable, empty or has a bad header.

    Returns:
      (format, CSV column names or None).
    """
    fmt = manifest_lib.manifest_format(path)
    head = first_lines(path, 2)
    fieldnames = manifest_lib.csv_fieldnames(path, head[0]) if fmt == "csv" and head else None
    if len(head) < (2 if fmt == "csv" else 1):
        raise ValueError(f"manifest {path} lists no video")
    return fmt, fieldnames


def write_manifest(records, path):
    """Writes VideoRecords as a JSONL manifest at `path` (any filesystem), streamed.

    Returns:
      The number of records written.
    """
    count = 0
    with FileSystems.create(path, mime_type="application/jsonl") as f:
        for record in records:
            f.write((json.dumps(record.to_dict(), sort_keys=True) + "\n").encode("utf-8"))
            count += 1
    return count


class _ParseLine(beam.DoFn):
    """One manifest line -> VideoRecord, or a dead letter naming the manifest and the line."""

    def __init__(self, manifest_path, fmt, fieldnames):
        self.manifest_path = manifest_path
        self.fmt = fmt
        self.fieldnames = fieldnames

    def process(self, line):
        line = line.lstrip("\ufeff")  # a UTF-8 byte-order mark on the first line
        if not line.strip():
            return
        where = f"manifest {self.manifest_path}, line {line[:QUOTE_CHARS]!r}"
        try:
            if self.fmt == "jsonl":
                yield manifest_lib.parse_jsonl_line(self.manifest_path, where, line)
            else:
                yield manifest_lib.parse_csv_line(self.manifest_path, where, self.fieldnames, line)
        except ValueError as e:
            yield beam.pvalue.TaggedOutput(
                MALFORMED,
                {"id": "", "path": self.manifest_path, "stage": INPUT_STAGE, "error": str(e)},
            )


class ReadVideoRecords(beam.PTransform):
    """A manifest file -> (VideoRecords, dead letters of malformed lines), parsed on workers.

    Args:
      manifest_path: a `.jsonl` or `.csv` manifest (local path or URI); see
        `beam_jobs.adapters.manifest` for the format.
      fmt: "jsonl" or "csv" (from `check_manifest`).
      fieldnames: the CSV header's column names (from `check_manifest`), None for JSONL.
    """

    def __init__(self, manifest_path, fmt, fieldnames=None):
        super().__init__()
        self.manifest_path = str(manifest_path)
        self.fmt = fmt
        self.fieldnames = fieldnames

    def expand(self, pipeline):
        lines = pipeline | "ReadManifest" >> beam.io.ReadFromText(
            self.manifest_path, skip_header_lines=1 if self.fmt == "csv" else 0
        )
        parsed = lines | "ParseLines" >> beam.ParDo(
            _ParseLine(self.manifest_path, self.fmt, self.fieldnames)
        ).with_outputs(MALFORMED, main="records")
        return parsed.records, parsed[MALFORMED]
