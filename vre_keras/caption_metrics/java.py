"""Locating the Java runtime and the two jars that coco-caption ships (METEOR 1.5, Stanford PTB).

We run the very jars of the installed `pycocoevalcap` package, so our tokens and METEOR scores
are the reference's by construction; the package is found through its import spec, without
importing its Python code.
"""

import importlib.util
import pathlib
import shutil
import subprocess


class JavaNotFoundError(RuntimeError):
    """No usable Java runtime: METEOR 1.5 and the PTB tokenizer are Java programs."""


def java_executable() -> str:
    """The `java` launcher on PATH, or a JavaNotFoundError saying what needs it."""
    java = shutil.which("java")
    if java is None:
        raise JavaNotFoundError(
            "Java is not installed or not on PATH: coco-caption's PTB tokenizer "
            "(stanford-corenlp-3.4.1.jar) and METEOR 1.5 (meteor-1.5.jar) need a Java runtime "
            "(install openjdk-21-jre-headless or run through ./vre)"
        )
    return java


# HotSpot's C1 compiler only: these jars run for seconds, where C2's compilations cost more CPU
# than they save (measured: PTB tokenizer on 60k captions 0.75 s CPU instead of 1.5-1.9 s;
# METEOR scoring 600 captions 4.6 s instead of 7.8-9.6 s). Output is identical: Java's floating
# point is strict (JEP 306), so the compiler tier cannot change a score; the tests compare.
FAST_START_JVM_OPTIONS = ("-XX:TieredStopAtLevel=1",)


def _pycocoevalcap_dir() -> pathlib.Path:
    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "pycocoevalcap is not installed; it ships the METEOR and PTB tokenizer jars"
        )
    return pathlib.Path(list(spec.submodule_search_locations)[0])


def _jar(relative: str) -> pathlib.Path:
    path = _pycocoevalcap_dir() / relative
    if not path.is_file():
        raise FileNotFoundError(f"coco-caption jar missing from pycocoevalcap: {path}")
    return path


def ptb_tokenizer_jar() -> pathlib.Path:
    """stanford-corenlp-3.4.1.jar (coco-caption's PTBTokenizer)."""
    return _jar("tokenizer/stanford-corenlp-3.4.1.jar")


def meteor_jar() -> pathlib.Path:
    """meteor-1.5.jar (its paraphrase table data/paraphrase-en.gz sits beside it)."""
    return _jar("meteor/meteor-1.5.jar")


def lines_through(process, lines, program: str, error_class) -> list[str]:
    """Sends `lines` to a started jar class that answers one line per line (METEOR's Normalizer
    and Stemmer), waits for it to exit and returns its lines; `error_class(message)` naming
    `program` if it fails or answers a different number of lines."""
    stdout, stderr = process.communicate("".join(line + "\n" for line in lines).encode("utf-8"))
    if process.returncode != 0:
        raise error_class(
            f"{program} exited with {process.returncode}: {stderr.decode(errors='replace')[-2000:]}"
        )
    out = stdout.decode("utf-8").split("\n")
    if len(out) != len(lines) + 1 or out[-1] != "":
        raise error_class(f"{program} returned {len(out) - 1} lines for {len(lines)}")
    return out[:-1]


def start_meteor_class(main_class: str, *args: str) -> subprocess.Popen:
    """A class of meteor-1.5.jar that reads lines on stdin and answers one line per line (its
    Normalizer, Stemmer), started now so its JVM boots while the caller works; feed it with
    `lines_through`."""
    cmd = [
        java_executable(),
        *FAST_START_JVM_OPTIONS,
        "-Dfile.encoding=UTF-8",
        "-Dstdout.encoding=UTF-8",
        "-cp",
        str(meteor_jar()),
        main_class,
        *args,
    ]
    return subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
