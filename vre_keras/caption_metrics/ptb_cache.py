"""A file cache of the PTB tokenizer jar's output for the captions the fast path cannot prove.

Keys are exactly the text the lexer can see while tokenizing a caption (the caption, plus the
following lines it looks ahead into, plus the line break after them or nothing at the end of
the input; see tokenizer.py), so a cached line is the jar's by construction. Values are the
output lines after coco-caption's punctuation removal.

The file is `$VRE_PTB_CACHE` (default ~/.cache/vre/ptb) / ptb-<jar size>-<jar mtime>-v1.json,
so a different jar never reads another's entries. It is read once per process, written whole
(a temporary sibling renamed over it) when a call adds entries, and kept to the newest
MAX_ENTRIES. Processes writing at once can only lose each other's new entries, never corrupt the
file; an unreadable or unwritable file means the jar runs, with a warning.
"""

import json
import logging
import os
import threading
from pathlib import Path

_log = logging.getLogger(__name__)
_FORMAT = 1
MAX_ENTRIES = 200_000  # ~20-40 MB of JSON for captions of ~60 characters and their context
CACHE_ENV = "VRE_PTB_CACHE"
_lock = threading.Lock()
_loaded: dict[Path, dict[str, str]] = {}  # path -> entries, read once per process


def cache_dir() -> Path | None:
    """The cache directory, or None when `$VRE_PTB_CACHE` is "off" (the jar always runs)."""
    value = os.environ.get(CACHE_ENV)
    if value == "off":
        return None
    return Path(value) if value else Path.home() / ".cache" / "vre" / "ptb"


def cache_path(jar: Path, directory: Path) -> Path:
    stat = jar.stat()
    return directory / f"ptb-{stat.st_size}-{stat.st_mtime_ns}-v{_FORMAT}.json"


def _read(path: Path) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        _log.warning("ignoring the PTB tokenizer cache %s (unreadable: %s)", path, e)
        return {}
    if not isinstance(entries, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in entries.items()
    ):
        _log.warning("ignoring the PTB tokenizer cache %s (not a dict of strings)", path)
        return {}
    return entries


def lookup(path: Path, keys: list[str]) -> list[str | None]:
    """The cached output line of each key, None where missing."""
    with _lock:
        entries = _loaded.get(path)
        if entries is None:
            entries = _loaded[path] = _read(path)
        return [entries.get(k) for k in keys]


def store(path: Path, new: dict[str, str]) -> None:
    """Adds entries (merged with what another process may have written meanwhile)."""
    if not new:
        return
    with _lock:
        entries = _read(path)
        entries.update(new)
        if len(entries) > MAX_ENTRIES:  # the newest entries are last (dicts keep order)
            entries = dict(list(entries.items())[-MAX_ENTRIES:])
        _loaded[path] = entries
        staging = path.with_name(f"{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(staging, "w", encoding="utf-8") as f:
                json.dump(entries, f)  # ASCII with escapes: lone surrogates too
            os.replace(staging, path)
        except OSError as e:  # a read-only home still tokenizes, just without the cache
            _log.warning("could not write the PTB tokenizer cache %s: %s", path, e)
            try:
                staging.unlink(missing_ok=True)
            except OSError:
                pass
