"""The cluster manifests: valid YAML of the expected kinds, consistent names and locations."""

import argparse
import pathlib

import pytest
import yaml

from kubeflow import cli_actions


@pytest.fixture(scope="module")
def manifests(project_root):
    return project_root / "kubeflow" / "manifests"


def _load(path: pathlib.Path):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs, f"{path} holds no document"
    for doc in docs:
        assert {"apiVersion", "kind"} <= set(doc), f"{path}: a document lacks apiVersion/kind"
    return docs


def _kustomized(folder: pathlib.Path):
    """Every document the folder's kustomization lists (files must exist)."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    docs = []
    for resource in kustomization["resources"]:
        path = folder / resource
        assert path.is_file(), f"kustomization lists missing {path}"
        docs += _load(path)
    return kustomization, docs


def _by_kind(docs):
    found = {}
    for doc in docs:
        found.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    return found


def test_cluster_basics(manifests):
    kustomization, docs = _kustomized(manifests)
    kinds = _by_kind(docs)
    assert {"vre-pipeline", "vre-serving"} <= set(kinds["ServiceAccount"])
    role, binding = kinds["Role"]["vre-pipeline"], kinds["RoleBinding"]["vre-pipeline"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert [(s["kind"], s["name"]) for s in binding["subjects"]] == [
        ("ServiceAccount", "vre-pipeline")
    ]
    # Namespaced permissions only, never a wildcard, and no blanket Secret access: a rule on
    # secrets must name them (resourceNames).
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
        if "secrets" in rule["resources"]:
            assert rule.get("resourceNames"), rule


def test_namespace_is_a_parameter(manifests):
    """No manifest names a namespace; params.env does, and replacements copy it everywhere."""
    kustomization, docs = _kustomized(manifests)
    assert "namespace" not in kustomization
    (generator,) = kustomization["configMapGenerator"]
    assert generator["envs"] == ["params.env"]
    params = dict(
        line.split("=", 1) for line in (manifests / "params.env").read_text().split() if line
    )
    assert params == {"namespace": "kubeflow"}
    (replacement,) = kustomization["replacements"]
    assert replacement["source"] == {
        "kind": "ConfigMap",
        "name": generator["name"],
        "fieldPath": "data.namespace",
    }
    targeted = {t["select"]["kind"] for t in replacement["targets"]}
    assert targeted == {doc["kind"] for doc in docs}, "every kind gets the namespace"
    for doc in docs:
        assert doc["metadata"].get("namespace") is None, doc["metadata"]
    binding = _by_kind(docs)["RoleBinding"]["vre-pipeline"]
    (target,) = [t for t in replacement["targets"] if t["select"]["kind"] == "RoleBinding"]
    assert "subjects.[name=vre-pipeline].namespace" in target["fieldPaths"]
    assert [s["name"] for s in binding["subjects"]] == ["vre-pipeline"]

    gcp_kustomization, gcp_docs = _kustomized(manifests / "gcp")
    assert "namespace" not in gcp_kustomization
    members = [d["spec"]["member"] for d in gcp_docs if d["kind"] == "IAMPolicyMember"]
    workload_identity = [m for m in members if ".svc.id.goog[" in m]
    assert workload_identity and all("[VRE_NAMESPACE/" in m for m in workload_identity)


def test_submit_uses_the_manifest_service_account(manifests):
    _, docs = _kustomized(manifests)
    parser = argparse.ArgumentParser()
    cli_actions.ACTIONS["submit"].add_arguments(parser)
    default = parser.parse_args(["--host", "http://h:1"]).service_account
    assert default in _by_kind(docs)["ServiceAccount"]


def test_pipeline_root_bucket_and_config_agree(manifests, project_root):
    """kfp-launcher's default root, the bucket and the Kubeflow config name the same places."""
    _, docs = _kustomized(manifests)
    launcher = _by_kind(docs)["ConfigMap"]["kfp-launcher"]
    root = launcher["data"]["defaultPipelineRoot"]
    # TFX executors open artifact URIs with tf.io.gfile: a filesystem TF reads natively.
    assert root.startswith("gs://")
    config = yaml.safe_load((project_root / "kubeflow" / "configs" / "msrvtt.yaml").read_text())
    config_root = config["root"].replace("${VRE_BUCKET}", "VRE_BUCKET")
    assert root == f"{config_root}/{config['pipeline_root']}"

    _, gcp_docs = _kustomized(manifests / "gcp")
    gcp = _by_kind(gcp_docs)
    assert "VRE_BUCKET" in gcp["StorageBucket"]
    members = {m["spec"]["member"]: m["spec"]["role"] for m in gcp["IAMPolicyMember"].values()}
    assert members["serviceAccount:vre-pipeline@PROJECT_ID.iam.gserviceaccount.com"] == (
        "roles/storage.objectAdmin"
    )
    # Serving only reads what the Pusher wrote.
    assert members["serviceAccount:vre-serving@PROJECT_ID.iam.gserviceaccount.com"] == (
        "roles/storage.objectViewer"
    )
    annotations = {
        name: sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
        for name, sa in _by_kind(docs)["ServiceAccount"].items()
    }
    assert set(gcp["IAMServiceAccount"]) == set(annotations)
    for name, google_account in annotations.items():
        assert google_account == f"{name}@PROJECT_ID.iam.gserviceaccount.com"


def test_serving_reads_where_the_pusher_writes(project_root):
    """serving/manifests (TF Serving, KServe) load from the Kubeflow config's push destination."""
    config = yaml.safe_load((project_root / "kubeflow" / "configs" / "msrvtt.yaml").read_text())
    root = config["root"].replace("${VRE_BUCKET}", "VRE_BUCKET")
    destination = f"{root}/{config['serving']['base']}/{config['serving']['model_name']}"

    serving = project_root / "serving" / "manifests"
    deployment = _by_kind(_load(serving / "tf-serving.yaml"))["Deployment"]["vre-serving"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "vre-serving"  # the read-only identity of ours
    (container,) = pod["containers"]
    flags = dict(a.lstrip("-").split("=", 1) for a in container["args"])
    assert flags["model_base_path"] == destination
    assert flags["model_name"] == config["serving"]["model_name"]

    (inference,) = _load(serving / "kserve" / "inferenceservice.yaml")
    predictor = inference["spec"]["predictor"]
    assert predictor["model"]["storageUri"] == destination
    assert predictor["serviceAccountName"] == "vre-serving"
