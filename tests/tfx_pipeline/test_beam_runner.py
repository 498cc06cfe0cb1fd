"""The Beam-based TFX components run on the FnApiRunner unless the config names a runner: the
DirectRunner would first try to download the Prism runner from GitHub (the remote-storage test's
proxy saw those requests)."""

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.options.pipeline_options import PipelineOptions

from tfx_pipeline.pipeline import DEFAULT_BEAM_RUNNER, with_default_runner


def test_runner_added_only_when_none_is_named():
    assert with_default_runner(["--direct_num_workers=1"]) == [
        f"--runner={DEFAULT_BEAM_RUNNER}", "--direct_num_workers=1"]
    assert with_default_runner(None) == [f"--runner={DEFAULT_BEAM_RUNNER}"]
    for named in (["--runner=DataflowRunner"], ["--runner", "PortableRunner"]):
        assert with_default_runner(named) == named


def test_default_runner_resolves_and_runs_a_pipeline():
    options = PipelineOptions(with_default_runner(["--direct_running_mode=in_memory"]))
    with beam.Pipeline(options=options) as p:
        counted = p | beam.Create([1, 2, 3]) | beam.combiners.Count.Globally()
        assert_that(counted, equal_to([3]))
    assert type(p.runner).__name__ == "FnApiRunner"
