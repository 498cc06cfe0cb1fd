"""`vre` commands print the project's messages, not the stack's start-up noise, unless --verbose."""

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import warnings

import pytest

from tests.conftest import PROJECT_ROOT
from vre_common import quiet_output
from vre_common.sample_data import sample_videos

# What a user saw before: absl/TF C++ lines, absl's pre-init banner, absl and Beam Python
# warnings, third-party Python warnings with their source file.
NOISE = [
    re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]"),
    re.compile(r"All log messages before absl::InitializeLog"),
    re.compile(r"^WARNING (absl|root):"),
    re.compile(r"site-packages/.*(Warning|warning)"),
    re.compile(r"oneDNN|cuInit|cuda drivers|ZetaSQL"),
]


def _noise(lines):
    return [line for line in lines if any(p.search(line) for p in NOISE)]


@pytest.mark.parametrize(
    "line",
    [
        "I0000 00:00:1796209497.851495    5164 cudart_stub.cc:31] Could not find cuda drivers",
        "E0000 00:00:1796209180.536983   14784 cuda_platform.cc:52] failed call to cuInit: X",
        "W0000 00:00:1796209180.5   14784 tensorflow/core/framework/op_kernel.cc:1857] x",
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    ],
)
def test_stack_log_lines_are_noise(line):
    assert quiet_output.is_noise(line)


@pytest.mark.parametrize(
    "line",
    [
        "WARNING beam_jobs.feature_extractor: USING RANDOM CNN WEIGHTS (seed=20190000)",
        "vre demo: done in 204 s",
        "Traceback (most recent call last):",
        "ValueError: I0000 is not a video",
    ],
)
def test_project_lines_and_errors_are_kept(line):
    assert not quiet_output.is_noise(line)


def test_log_filter_keeps_project_records_and_third_party_errors():
    keep = quiet_output._ProjectRecords().filter

    def record(name, level, path="/opt/vre-venv/lib/python3.13/site-packages/x.py"):
        return logging.LogRecord(name, level, path, 1, "m", None, None)

    assert keep(record("beam_jobs.feature_job", logging.WARNING))
    assert keep(record("vre.progress", logging.INFO))
    assert not keep(record("absl", logging.WARNING))
    assert not keep(record("root", logging.WARNING))  # Beam's "Resource module is not available"
    assert keep(record("absl", logging.ERROR))
    assert keep(record("root", logging.WARNING, str(PROJECT_ROOT / "beam_jobs" / "x.py")))


def _start_vre(args, tmp_path, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != quiet_output.VERBOSE_ENV}
    env.update(env_extra or {})
    return subprocess.Popen(
        [sys.executable, "-m", "vre_cli", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process):
    stdout, stderr = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def one_video_manifest(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quiet")
    video = next(v for v in sample_videos() if v["id"] == "carphone_pristine")
    manifest = folder / "manifest.jsonl"
    manifest.write_text(json.dumps(dict(video, split="train")) + "\n")
    return manifest


def _extract_args(manifest, out):
    return [
        "extract",
        "--dataset",
        "manifest",
        "--manifest",
        str(manifest),
        "--output_dir",
        str(out),
        "--allow_random_weights",
        "--",
        "--direct_running_mode=in_memory",
        "--direct_num_workers=1",
    ]


@pytest.mark.slow
@pytest.mark.e2e
def test_extract_is_quiet_by_default_and_verbose_on_request(one_video_manifest, tmp_path):
    """A real feature job (TF, Beam, RunInference): the same command quiet, then --verbose."""
    # Both runs at once (two cores): the same job, quiet and --verbose.
    quiet_run = _start_vre(_extract_args(one_video_manifest, tmp_path / "a"), tmp_path)
    loud_run = _start_vre(
        _extract_args(one_video_manifest, tmp_path / "b"), tmp_path, {quiet_output.VERBOSE_ENV: "1"}
    )
    quiet, loud = _finish(quiet_run), _finish(loud_run)
    assert quiet.returncode == 0, quiet.stderr
    lines = (quiet.stdout + quiet.stderr).splitlines()
    assert not _noise(lines), "\n".join(_noise(lines))
    # The project's own warning and result stay visible.
    assert any("RANDOM" in line for line in lines), lines
    assert any(line.startswith("vre extract: 1 of 1 videos") for line in lines), lines

    assert loud.returncode == 0, loud.stderr
    # The same run shows the stack's lines when asked: the filter above had something to hide.
    assert _noise((loud.stdout + loud.stderr).splitlines())


def test_project_warnings_are_shown_and_third_party_ones_hidden(capsys):
    shown = []
    saved = warnings.showwarning
    try:
        warnings.showwarning = quiet_output._show_project_warnings
        quiet_output._default_showwarning = lambda *a, **k: shown.append(a[2])
        warnings.warn_explicit("x", UserWarning, "/opt/vre-venv/lib/site-packages/keras/a.py", 1)
        warnings.warn_explicit("y", UserWarning, str(PROJECT_ROOT / "vre_keras" / "a.py"), 1)
    finally:
        warnings.showwarning = saved
        quiet_output._default_showwarning = saved
    assert shown == [str(PROJECT_ROOT / "vre_keras" / "a.py")]


def test_vre_console_script_is_on_the_path(tmp_path):
    """`make run CMD="vre ..."` and the docs' `vre ...` work inside the runtime, from any folder."""
    vre = shutil.which("vre")
    assert vre, f"no vre on PATH ({os.environ.get('PATH')})"
    out = subprocess.run([vre, "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage: vre" in out.stdout and "demo" in out.stdout
