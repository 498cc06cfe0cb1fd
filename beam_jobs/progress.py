"""A progress display for local runs: videos done / total, rate, failures.

Beam's metrics are only readable once a pipeline ends, so workers (threads or processes of the
DirectRunner) append one character per finished video to a file of their own in a shared local
folder, and the driver polls that folder. Only used with local runners.
"""

import os
import pathlib
import threading
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
    """Shows `done/total videos, rate, ETA, failed` while a local run goes on, until stopped.

    The driver polls the workers' outcome files every `poll_s` seconds and feeds the counts to
    vre_common.progress (a bar on a terminal, a log line every `interval_s` seconds elsewhere).

    Args:
      folder: where workers record outcomes (created).
      total: videos in the job.
      poll_s: seconds between polls of the outcome files.
      interval_s: seconds between log lines when not on a terminal.
    """

    def __init__(self, folder, total, poll_s=1.0, interval_s=30.0):
        self.folder = pathlib.Path(folder) / f"progress-{uuid.uuid4().hex[:8]}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.total = total
        self.poll_s = poll_s
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._reporter = None

    def _poll(self):
        done, failed = count_outcomes(self.folder)
        if done > self._reporter.done:
            self._reporter.update(done - self._reporter.done, failed=failed)

    def _loop(self):
        while not self._stop.wait(self.poll_s):
            self._poll()

    def __enter__(self):
        from vre_common.progress import ProgressReporter

        self._reporter = ProgressReporter(
            "[vre extract] videos", total=self.total, unit="video", interval_s=self.interval_s
        )
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._poll()
        self._reporter.close()
