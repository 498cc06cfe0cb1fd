"""A progress display for local runs: videos done / total, rate, failures.

Beam's metrics are only readable once a pipeline ends, so workers (threads or processes of the
DirectRunner) append one character per finished video to a file of their own in a shared local
folder, and the driver polls that folder. Only used with local runners.
"""

import os
import pathlib
import sys
import threading
import time
import uuid

OK = "."
FAILED = "x"


def record_outcome(folder, outcome):
    """Appends one outcome (OK or FAILED) to this process's file in `folder`."""
    path = pathlib.Path(folder) / f"{os.getpid()}-{threading.get_ident()}.log"
    with path.open("a") as f:
        f.write(outcome)


def count_outcomes(folder):
    """(done, failed) counted over every worker's file."""
    done = failed = 0
    for path in pathlib.Path(folder).glob("*.log"):
        text = path.read_text()
        done += len(text)
        failed += text.count(FAILED)
    return done, failed


class ProgressDisplay:
    """Prints `done/total videos, rate, failures` every `interval_s` until stopped.

    Args:
      folder: where workers record outcomes (created).
      total: videos in the job.
      stream: where to print (stderr by default).
      interval_s: seconds between updates.
    """

    def __init__(self, folder, total, stream=None, interval_s=2.0):
        self.folder = pathlib.Path(folder) / f"progress-{uuid.uuid4().hex[:8]}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.total = total
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._start = time.monotonic()

    def line(self):
        done, failed = count_outcomes(self.folder)
        elapsed = time.monotonic() - self._start
        rate = done / elapsed if elapsed > 0 else 0.0
        return (
            f"[vre extract] {done}/{self.total} videos, {rate:.2f} videos/s, "
            f"{failed} failed, {elapsed:.0f} s"
        )

    def _loop(self):
        while not self._stop.wait(self.interval_s):
            print(self.line(), file=self.stream, flush=True)

    def __enter__(self):
        self._start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        print(self.line(), file=self.stream, flush=True)
