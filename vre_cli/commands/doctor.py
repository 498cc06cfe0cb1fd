"""`vre doctor`: is this runtime able to run the whole stack?"""

import importlib
import os
import shutil
import subprocess

NAME = "doctor"
HELP = "Print the runtime's versions and check that TFX, PyAV, Java and the sample videos work."

_PACKAGES = [
    ("TensorFlow", "tensorflow"),
    ("Keras", "keras"),
    ("TFX", "tfx"),
    ("Apache Beam", "apache-beam"),
    ("TF Serving API", "tensorflow-serving-api"),
    ("TFMA", "tensorflow-model-analysis"),
    ("KFP", "kfp"),
    ("PyAV", "av"),
    ("NLTK", "nltk"),
    ("pycocoevalcap", "pycocoevalcap"),
]


def add_arguments(parser):
    parser.add_argument(
        "--skip_tfx", action="store_true", help="skip the import of tfx.v1 (about 15 s)"
    )


def _java_version():
    java = shutil.which("java")
    if not java:
        raise RuntimeError("no 'java' on PATH (METEOR 1.5 needs a Java runtime)")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=True)
    return (out.stderr or out.stdout).splitlines()[0]


def _check_tfx():
    tfx_v1 = importlib.import_module("tfx.v1")
    return f"tfx.v1 imports ({len(tfx_v1.components.__all__)} components)"


def _check_videos():
    import av

    from vre_common.sample_data import sample_videos

    parts = []
    for video in sample_videos():
        with av.open(video["path"]) as container:
            stream = container.streams.video[0]
            frame = next(container.decode(stream))
            parts.append(f"{video['id']} {frame.width}x{frame.height}")
    return "decoded a frame of each: " + ", ".join(parts)


def run(args) -> int:
    # Imported here: every `vre` command builds the parser from all command modules, and these
    # two cost ~40 ms of each start-up.
    import importlib.metadata
    import platform

    print(f"{'runtime mode':16} {os.environ.get('VRE_RUNTIME_MODE', 'unmanaged (not via ./vre)')}")
    print(
        f"{'Python':16} {platform.python_version()} ({platform.libc_ver()[0]} {platform.libc_ver()[1]})"
    )
    failures = []
    for label, dist in _PACKAGES:
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = "MISSING"
            failures.append(f"{label} ({dist}) is not installed")
        print(f"{label:16} {version}")
    checks = [("Java", _java_version), ("sample videos", _check_videos)]
    if not args.skip_tfx:
        checks.append(("TFX", _check_tfx))
    for label, check in checks:
        try:
            print(f"{label:16} ok: {check()}")
        except Exception as e:  # report every failed check, then exit non-zero
            print(f"{label:16} FAILED: {type(e).__name__}: {e}")
            failures.append(f"{label}: {e}")
    if failures:
        print("\nvre doctor: the runtime is not usable:\n  - " + "\n  - ".join(failures))
        return 1
    print("\nvre doctor: all checks passed")
    return 0
