"""Progress of long work as people read it: a bar on a terminal, periodic lines in logs.

On a terminal tqdm draws one redrawn line; elsewhere (a pod's log, CI, a pipe) a line is logged
every `interval_s` seconds and at the end, on the `vre.progress` logger, which `vre` commands keep
visible even when they hide other INFO logs.
"""

from __future__ import annotations

import logging
import time

from vre_common import quiet_output

LOGGER = logging.getLogger("vre.progress")
LOGGER.setLevel(logging.INFO)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class ProgressReporter:
    """Counts finished units of one piece of work and shows it.

    Args:
        desc: what is being done, e.g. "phase 1 (XE, step 1)".
        total: units in all, or None when unknown.
        unit: the unit's name, e.g. "step" or "video".
        interval_s: seconds between log lines when not on a terminal.
        terminal: draw a bar (None: when the user's stderr is a terminal).
        enabled: False shows nothing (for quiet library use).

    Example:
        with ProgressReporter("videos", total=10, unit="video") as p:
            for _ in range(10):
                p.update(1, failed=0)
    """

    def __init__(self, desc, total=None, unit="it", interval_s=30.0, terminal=None, enabled=True):
        self.desc = desc
        self.total = total
        self.unit = unit
        self.interval_s = interval_s
        self.enabled = enabled
        self.done = 0
        self.postfix = {}
        self._start = time.monotonic()
        self._last_line = self._start
        terminal = quiet_output.stderr_is_terminal() if terminal is None else terminal
        self._bar = None
        if enabled and terminal:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=True)

    def update(self, n=1, **postfix):
        """Adds `n` finished units; `postfix` values (loss, failed...) are shown beside them."""
        if not self.enabled:
            return
        self.done += n
        self.postfix.update(postfix)
        if self._bar is not None:
            if postfix:
                self._bar.set_postfix(self._formatted_postfix(), refresh=False)
            self._bar.update(n)
        elif time.monotonic() - self._last_line >= self.interval_s:
            self._log_line()

    def _formatted_postfix(self):
        return {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in self.postfix.items()}

    def line(self) -> str:
        """`desc: done/total unit (rate, ETA) key=value ...`, as logged."""
        elapsed = time.monotonic() - self._start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        count = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        parts = [f"{self.desc}: {count} {self.unit}s", f"{rate:.3g} {self.unit}s/s"]
        if self.total and rate > 0 and self.done < self.total:
            parts.append(f"ETA {_duration((self.total - self.done) / rate)}")
        parts.append(f"elapsed {_duration(elapsed)}")
        parts += [f"{k} {v}" for k, v in self._formatted_postfix().items()]
        return ", ".join(parts)

    def _log_line(self):
        self._last_line = time.monotonic()
        LOGGER.info("%s", self.line())

    def close(self):
        """Ends the display: the bar stays, or a last line is logged."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        else:
            self._log_line()
        self.enabled = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
