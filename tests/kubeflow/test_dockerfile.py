"""The pipeline image definition: parsed, and its lock export run for real.

No Docker engine runs here, so the image is not built; these tests check that kubeflow/Dockerfile
installs exactly what uv.lock pins (its own `uv export` command is run on the lock and compared
with the locally installed, equally locked environment), the project from setup.py, and what the
KubeflowV2DagRunner's container command needs.
"""

import ast
import importlib.metadata
import re
import shlex
import shutil
import subprocess
import sys

import pytest
from packaging.requirements import Requirement


def _instructions(path):
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, rest = current.partition(" ")
        lines.append((keyword.upper(), rest.strip()))
        current = ""
    return lines


@pytest.fixture(scope="module")
def dockerfile(project_root):
    return _instructions(project_root / "kubeflow" / "Dockerfile")


def _stages(instructions):
    stages = []
    for keyword, rest in instructions:
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, rest))
    return stages


def _args(instructions):
    return dict(
        rest.split("=", 1) for keyword, rest in instructions if keyword == "ARG" and "=" in rest
    )


def test_base_is_debian13_with_the_runtime_python(dockerfile):
    base = _args(dockerfile)["PYTHON_IMAGE"]
    # TFX 1.21's ml-metadata/TFDV wheels need glibc >= 2.38: Debian 13 (trixie).
    assert "trixie" in base
    assert base.startswith(f"python:{sys.version_info.major}.{sys.version_info.minor}")
    final = _stages(dockerfile)[-1]
    assert final[0] == ("FROM", "${PYTHON_IMAGE}")


def test_uv_is_the_version_that_wrote_the_lock(dockerfile):
    uv_stage = [
        rest for keyword, rest in dockerfile if keyword == "FROM" and "astral-sh/uv" in rest
    ]
    assert uv_stage, "the Dockerfile takes uv from its official image"
    tag = re.search(r"astral-sh/uv:([\d.]+)", uv_stage[0]).group(1)
    local = subprocess.run(["uv", "--version"], capture_output=True, text=True, check=True)
    assert local.stdout.split()[1] == tag


def _export_command(dockerfile):
    for keyword, rest in dockerfile:
        if keyword == "RUN" and "uv export" in rest:
            command = rest.split("&&")[0].strip()
            return shlex.split(command)
    pytest.fail("no `uv export` RUN step in kubeflow/Dockerfile")


def test_installs_exactly_the_locked_set(dockerfile):
    runs = " ".join(rest for keyword, rest in dockerfile if keyword == "RUN")
    command = _export_command(dockerfile)
    assert "--frozen" in command and "--no-emit-project" in command
    output = command[command.index("-o") + 1]
    # `uv pip sync` (not install) of that very file: nothing more, nothing less than the lock.
    assert re.search(rf"uv pip sync {re.escape(output)}", runs)
    copies = [rest for keyword, rest in dockerfile if keyword == "COPY"]
    assert "pyproject.toml uv.lock ./" in copies
    # The project on top without touching the locked set.
    assert re.search(r"uv pip install --no-deps .*/src", runs)


def test_export_pins_what_the_local_runtime_runs(dockerfile, project_root, tmp_path):
    """Runs the Dockerfile's own export on a copy of the lock; every pin equals the local one."""
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(project_root / name, tmp_path / name)
    command = _export_command(dockerfile)
    output = tmp_path / "requirements.txt"
    command[command.index("-o") + 1] = str(output)
    subprocess.run(command, cwd=tmp_path, check=True, capture_output=True)
    pins = {}
    for line in output.read_text().splitlines():
        if not line or line.startswith(("#", " ")):
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate():
            (version,) = [s.version for s in requirement.specifier]
            pins[requirement.name] = version
    for name in (
        "tfx",
        "tensorflow",
        "keras",
        "apache-beam",
        "kfp",
        "tensorflow-serving-api",
        "tensorflow-model-analysis",
        "ml-metadata",
    ):
        assert pins[name] == importlib.metadata.version(name), name
    mismatched = {
        name: (version, importlib.metadata.version(name))
        for name, version in pins.items()
        if importlib.metadata.version(name) != version
    }
    assert not mismatched, f"image pins differ from the locked local runtime: {mismatched}"
    assert "pytest" not in pins  # the test extra stays out of the image


def test_every_project_package_is_copied(dockerfile, project_root):
    setup = ast.parse((project_root / "setup.py").read_text())
    includes = [
        node.value.rstrip("*")
        for node in ast.walk(setup)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.endswith("*")
    ]
    assert includes, "setup.py lists its packages as find_packages(include=[...])"
    copied = {rest.split()[0] for keyword, rest in dockerfile if keyword == "COPY"}
    assert set(includes) <= copied
    assert {"setup.py", "pyproject.toml"} <= {
        word for keyword, rest in dockerfile if keyword == "COPY" for word in rest.split()
    }


def test_runtime_stage_runs_kubeflow_tasks(dockerfile):
    final = _stages(dockerfile)[-1]
    env = " ".join(rest for keyword, rest in final if keyword == "ENV")
    # KubeflowV2DagRunner's command is `python -m tfx.orchestration...`: the venv's python first.
    assert re.search(r"PATH=/opt/vre-venv/bin:", env)
    assert ("COPY", "--from=build /opt/vre-venv /opt/vre-venv") in final
    installs = " ".join(rest for keyword, rest in final if keyword == "RUN")
    assert "openjdk-21-jre-headless" in installs  # METEOR in the Evaluator
    assert any(keyword == "USER" and rest != "root" for keyword, rest in final)


def test_build_context_leaves_local_state_out(project_root):
    """The Dockerfile-specific ignore file keeps the local venv, git and tests out of the image."""
    ignored = (project_root / "kubeflow" / "Dockerfile.dockerignore").read_text().split()
    assert {".git", ".venv", "tests"} <= set(ignored)
    assert "uv.lock" not in ignored and "pyproject.toml" not in ignored
