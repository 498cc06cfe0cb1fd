"""What a `vre` command prints: the project's own messages, not the stack's start-up noise.

TensorFlow, XLA and gRPC log from C++ through absl straight to file descriptor 2 (oneDNN notices,
"failed call to cuInit", "Could not find cuda drivers"), some of it before any Python setting can
reach it, and TF 2.21's absl logging no longer honours TF_CPP_MIN_LOG_LEVEL for those early lines.
So, unless verbose, stderr is passed through a line filter at the descriptor level (which also
covers child processes, e.g. the feature job's decoders); Python logging shows the project's
loggers and only errors of third-party ones; Python warnings are shown only when the project's own
code issues them. Nothing here changes what the libraries compute.

No library does the descriptor-level filtering (absl has no switch for its pre-InitializeLog
stderr lines), hence this module.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading
import warnings

VERBOSE_ENV = "VRE_VERBOSE"
PROJECT_PACKAGES = (
    "beam_jobs",
    "tfx_pipeline",
    "vre_keras",
    "serving",
    "kubeflow",
    "vre_common",
    "vre_cli",
    "benchmarks",
    "vre",
)
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"

# Lines a library writes to fd 2 that say nothing to a user of this project.
NOISE_LINES = (
    # absl / glog C++ lines: "I0000 00:00:1796.. 14784 port.cc:153] ..." (TF, XLA, gRPC, oneDNN)
    re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w./+-]+:\d+\] "),
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called"),
    # Python warnings' second line (the source line), when the first was dropped: see below.
)

_installed = False
_filter = None


def is_verbose(argv=None) -> bool:
    """--verbose on the command line or VRE_VERBOSE=1 in the environment."""
    argv = sys.argv[1:] if argv is None else argv
    return "--verbose" in argv or os.environ.get(VERBOSE_ENV, "") not in ("", "0", "false")


def is_noise(line: str) -> bool:
    """True for a stderr line from the stack's C++ logging (see NOISE_LINES)."""
    return any(p.search(line) for p in NOISE_LINES)


def stderr_is_terminal() -> bool:
    """Whether the user's stderr is a terminal (fd 2 itself is a pipe while filtered)."""
    try:
        return os.isatty(_filter.out if _filter else sys.stderr.fileno())
    except (AttributeError, ValueError, OSError):
        return False


def _is_project_file(filename: str) -> bool:
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    filename = os.path.abspath(filename)
    return filename.startswith(top + os.sep) and "site-packages" not in filename


class _ProjectRecords(logging.Filter):
    """Project loggers at their level; third-party loggers (absl, root from Beam...) errors only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        name = record.name.split(".")[0]
        if name in PROJECT_PACKAGES:
            return True
        # Records on the root logger: keep those the project's own code wrote.
        return name == "root" and _is_project_file(record.pathname)


def _show_project_warnings(message, category, filename, lineno, file=None, line=None):
    if _is_project_file(filename):
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


class _StderrFilter:
    """Reads what is written to fd 2 through a pipe and passes on all but noise lines.

    Partial lines ending in a carriage return (progress bars) are passed on at once.
    """

    def __init__(self):
        self.out = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self.read_end = read_end
        self.thread = threading.Thread(target=self._pump, name="vre-stderr-filter", daemon=True)
        self.thread.start()

    def _write(self, text: str):
        data = text.encode("utf-8", "replace")
        while data:
            data = data[os.write(self.out, data) :]

    def _pump(self):
        pending = ""
        while True:
            try:
                chunk = os.read(self.read_end, 65536)
            except OSError:
                break
            if not chunk:
                break
            pending += chunk.decode("utf-8", "replace")
            *lines, pending = pending.split("\n")
            kept = [line + "\n" for line in lines if not is_noise(line)]
            if "\r" in pending:  # a progress bar redrawing its line: show it now
                cut = pending.rindex("\r") + 1
                kept.append(pending[:cut])
                pending = pending[cut:]
            if kept:
                self._write("".join(kept))
        if pending and not is_noise(pending):
            self._write(pending)

    def close(self):
        """Restores fd 2 and lets the pump drain what was written before."""
        try:
            sys.stderr.flush()
        except (ValueError, OSError):
            pass
        os.dup2(self.out, 2)  # the pipe's last write end closes here: the pump sees EOF
        self.thread.join(timeout=5)
        os.close(self.read_end)


def set_level(level: int, verbose: bool = False, fmt: str = LOG_FORMAT):
    """The level (INFO when verbose) and format of the project's own logs for this command.

    Progress lines (`vre.progress`) keep their own level and stay visible.
    """
    root = logging.getLogger()
    if not root.handlers:  # called in-process without install (tests)
        logging.basicConfig(format=fmt)
    for handler in root.handlers:
        handler.setFormatter(logging.Formatter(fmt))
    root.setLevel(logging.INFO if verbose else level)


def install(verbose: bool | None = None, level: int = logging.INFO) -> bool:
    """Sets up the process's output for a `vre` command; returns whether it is verbose.

    Call it first thing, before TensorFlow, Beam or TFX are imported.

    Args:
        verbose: show everything (None: from --verbose / VRE_VERBOSE).
        level: the level of the project's own loggers.
    """
    global _installed
    verbose = is_verbose() if verbose is None else verbose
    if _installed:
        return verbose
    _installed = True
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    if verbose:
        root.setLevel(logging.INFO)
        return True
    root.setLevel(level)
    handler.addFilter(_ProjectRecords())
    warnings.showwarning = _show_project_warnings
    # Before TF is imported: what its Python side and Abseil read from the environment.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    global _filter
    if os.environ.get("VRE_STDERR_FILTER", "1") != "0":
        _filter = _StderrFilter()
        atexit.register(_filter.close)
    try:  # absl's Python logger (TFX, TFMA) otherwise sets up its own handler on first use
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
        absl_logging.use_python_logging(quiet=True)
    except ImportError:
        pass
    return False
