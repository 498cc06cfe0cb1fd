"""Shared test setup: paths to the project and to ../shared."""

import os
import pathlib

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DIR = PROJECT_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def project_root():
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def shared_dir():
    if not SHARED_DIR.is_dir():
        pytest.fail(f"../shared is missing beside the checkout ({SHARED_DIR})")
    return SHARED_DIR
