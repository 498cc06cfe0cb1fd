"""The Dataflow worker image (beam_jobs/Dockerfile): its base, Beam's boot entrypoint, and its
slim `worker` dependency set, exported from uv.lock and installed for real into a fresh venv.

No Docker engine runs here, so the image is not built; instead the Dockerfile's own `uv export`
runs on the lock (no TFX may come out of it), and a venv with exactly those packages (from uv's
cache, offline) must import and run `beam_jobs`.
"""

import importlib.metadata
import os
import shlex
import shutil
import subprocess
import sys

import pytest
from packaging.requirements import Requirement

from tests.kubeflow.test_dockerfile import _args, _instructions

# Never on a feature worker: TFX and the libraries that need glibc >= 2.39 or pull TFX in.
TFX_PACKAGES = {
    "tfx",
    "tfx-bsl",
    "ml-metadata",
    "tensorflow-data-validation",
    "tensorflow-model-analysis",
    "tensorflow-transform",
    "kfp",
}
WORKER_NEEDS = {"tensorflow", "keras", "apache-beam", "av"}


@pytest.fixture(scope="module")
def dockerfile(project_root):
    return _instructions(project_root / "beam_jobs" / "Dockerfile")


def _export(dockerfile, project_root, tmp_path):
    """Runs the Dockerfile's `uv export` on a copy of the lock; returns {name: version}."""
    (command,) = [
        shlex.split(rest.split("&&")[0]) for keyword, rest in dockerfile if "uv export" in rest
    ]
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(project_root / name, tmp_path / name)
    output = tmp_path / "requirements.txt"
    command[command.index("-o") + 1] = str(output)
    subprocess.run(command, cwd=tmp_path, check=True, capture_output=True, timeout=120)
    pins = {}
    for line in output.read_text().splitlines():
        if not line or line.startswith(("#", " ")):
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            (spec,) = requirement.specifier
            pins[requirement.name] = spec.version
    return pins, output


def test_base_and_boot_entrypoint_match_the_locked_beam(dockerfile):
    args = _args(dockerfile)
    assert "trixie" in args["PYTHON_IMAGE"]  # Debian 13: glibc 2.41 >= 2.39
    beam = importlib.metadata.version("apache-beam")
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert args["BEAM_SDK_IMAGE"] == f"apache/beam_python{python}_sdk:{beam}"
    assert args["PYTHON_IMAGE"].startswith(f"python:{python}-")
    copies = [rest for keyword, rest in dockerfile if keyword == "COPY" and "beam_sdk" in rest]
    assert copies == ["--from=beam_sdk /opt/apache/beam /opt/apache/beam"]
    assert dockerfile[-1] == ("ENTRYPOINT", '["/opt/apache/beam/boot"]')


def test_worker_extra_has_no_tfx(dockerfile, project_root, tmp_path):
    pins, _ = _export(dockerfile, project_root, tmp_path)
    assert not TFX_PACKAGES & set(pins), sorted(TFX_PACKAGES & set(pins))
    assert WORKER_NEEDS <= set(pins)
    for name in WORKER_NEEDS:  # the same versions as the local runtime
        assert pins[name] == importlib.metadata.version(name), name


@pytest.mark.slow
def test_beam_jobs_runs_with_only_the_worker_packages(dockerfile, project_root, tmp_path, samples):
    """A venv with exactly the exported set (uv's cache, offline) decodes and extracts a video."""
    _, requirements = _export(dockerfile, project_root, tmp_path)
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH (the runtime ships it)")
    venv = tmp_path / "worker-venv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    python = os.path.realpath(sys._base_executable)  # the interpreter under the runtime's venv
    subprocess.run(
        [uv, "venv", "--quiet", "--python", python, str(venv)],
        check=True,
        capture_output=True,
        env=env,
        timeout=120,
    )
    # Symlinks into uv's cache: no copy of TensorFlow's 1 GB; --offline: nothing is downloaded.
    install = subprocess.run(
        [uv, "pip", "install", "--offline", "--no-deps", "--link-mode", "symlink"]
        + ["--python", str(venv / "bin" / "python"), "-r", str(requirements)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    script = f"""
import importlib.util, json
from beam_jobs import feature_job, video_list, local_copy
from beam_jobs.feature_extractor import VideoFeatureExtractor
from beam_jobs.video_decoding import decode_video
missing = [m for m in ("tfx", "ml_metadata", "tensorflow_data_validation", "tfx_bsl", "kfp")
           if importlib.util.find_spec(m) is not None]
decoded = decode_video({samples["carphone_distorted"]["path"]!r})
features = VideoFeatureExtractor(allow_random_weights=True, use_audio=False).extract(decoded)
print(json.dumps({{"present": missing, "temporal": list(features["temporal"].shape)}}))
"""
    run = subprocess.run(
        [str(venv / "bin" / "python"), "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(project_root)},
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().splitlines()[-1] == '{"present": [], "temporal": [20, 2048]}'
