"""The VRE pipeline on Kubeflow Pipelines: image, compile, submit, scheduled retraining.

`compiler` turns the one TFX pipeline definition (tfx_pipeline.pipeline.create_pipeline) into a
KFP v2 pipeline spec with TFX's KubeflowV2DagRunner; `runtime_parameters` makes the data location
and the serving base run-time parameters of that spec; `submission` uploads the spec and starts
runs or recurring runs through the `kfp` client; `cli_actions` adds these to `vre pipeline`.
"""
