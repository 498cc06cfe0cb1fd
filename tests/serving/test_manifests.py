"""The production manifests: well-formed, reading the Pusher's destination, probing the model
status endpoint, and with a TF Serving command line that `vre serve` accepts as well."""

import pathlib

import yaml

from vre_cli.commands.serve import build_server
from vre_cli.main import build_parser

MANIFESTS = pathlib.Path(__file__).resolve().parents[2] / "serving" / "manifests"
SERVING_BASE = "gs://VRE_BUCKET/vre/serving/vre"  # kubeflow/manifests/gcp/bucket.yaml's layout


def _docs(name):
    return {d["kind"]: d for d in yaml.safe_load_all((MANIFESTS / name).read_text()) if d}


def test_tf_serving_deployment_and_service(monkeypatch):
    docs = _docs("tf-serving.yaml")
    assert set(docs) == {"Deployment", "Service", "PodDisruptionBudget"}
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"].startswith("tensorflow/serving:")
    args = dict(a.lstrip("-").split("=", 1) for a in container["args"])
    assert args["model_base_path"] == SERVING_BASE
    assert container["readinessProbe"]["httpGet"]["path"] == f"/v1/models/{args['model_name']}"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": int(args["port"]), "http": int(args["rest_api_port"])}
    assert {p["targetPort"] for p in docs["Service"]["spec"]["ports"]} == {"grpc", "http"}
    labels = docs["Deployment"]["spec"]["selector"]["matchLabels"]
    assert docs["Service"]["spec"]["selector"] == labels
    assert pod["serviceAccountName"] == "vre-serving"

    # The same command line runs our embedded server: the flags mean the same things, and in a
    # pod (KUBERNETES_SERVICE_HOST set) it binds all interfaces as TF Serving does.
    parsed = build_parser().parse_args(["serve", *container["args"]])
    assert (parsed.model_name, parsed.model_base_path) == (args["model_name"], SERVING_BASE)
    assert (parsed.port, parsed.rest_api_port) == (8500, 8501)
    assert parsed.file_system_poll_wait_seconds == 30 and parsed.enable_model_warmup is True
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    server = build_server(parsed)  # builds (no I/O yet): the gs:// path is accepted
    assert server.host == "0.0.0.0"
    assert server.config.model_config_list.config[0].base_path == SERVING_BASE


def test_kustomization_lists_the_manifests():
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (MANIFESTS / resource).is_file(), resource


def test_kserve_inference_service_reads_the_push_destination():
    service = _docs("kserve/inferenceservice.yaml")["InferenceService"]
    assert service["apiVersion"] == "serving.kserve.io/v1beta1"
    model = service["spec"]["predictor"]["model"]
    assert model["modelFormat"]["name"] == "tensorflow"
    assert model["storageUri"] == SERVING_BASE
    assert {"name": "h2c", "containerPort": 9000, "protocol": "TCP"} in model["ports"]
