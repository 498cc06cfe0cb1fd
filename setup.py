"""Packages the project for Beam / Dataflow workers (`--setup_file ./setup.py`) and for images.

Metadata and dependencies live in pyproject.toml (the single list, locked in uv.lock); this file
only says which packages and data files ship, so that `python setup.py sdist`, which Beam runs
to stage the code, carries every part a worker may import.
"""

import setuptools

setuptools.setup(
    packages=setuptools.find_packages(
        include=["vre_common*", "vre_keras*", "beam_jobs*", "tfx_pipeline*", "serving*", "kubeflow*", "vre_cli*"]
    ),
    package_data={"vre_common": ["*.json"], "": ["*.yaml", "*.json", "*.txt"]},
    include_package_data=True,
)
