"""What a model release changes in the live API objects: `deploy/k8s/render.sh --model-version`, in Python.

The delivery workflow applies the EKS overlay rendered with the account's values (Terraform's
environment.env), so the live Deployment and its settings ConfigMap already hold everything the
overlay renders. A release changes exactly what `render.sh eks --model-version V [--image I]`
changes on top of that: the ConfigMap literal `RETAIL_MODEL_VERSION` (a new ConfigMap, named with
kustomize's content hash, so the pods roll), the Deployment's `retail-mlops.io/model-version`
annotation, and the container image when one is given. The names come out identical to the
render's, so the workflow's next `kubectl apply` changes nothing it need not
(tests/pipeline/release/test_release_eks.py compares the two). Doing it here keeps kubectl and the account's values
out of the Dagster image.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

MODEL_VERSION_ANNOTATION = "retail-mlops.io/model-version"
MODEL_VERSION_SETTING = "RETAIL_MODEL_VERSION"
# The same rules render.sh applies: a pushed digest, never a tag; a version safe in YAML and a name.
IMAGE_BY_DIGEST = re.compile(r"^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$")
MODEL_VERSION = re.compile(r"^[A-Za-z0-9._-]*$")
_HASH_SUFFIX = re.compile(r"^(?P<base>.+)-[a-z0-9]{10}$")
# Server-side fields a created object must not carry over from the one it copies.
_SERVER_FIELDS = ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation", "selfLink", "ownerReferences")
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


class ManifestError(Exception):
    """The live objects are not shaped as the EKS overlay renders them; the message says what differs."""


@dataclass(frozen=True)
class ReleaseChange:
    config_map: dict  # to create
    deployment_patch: dict  # strategic merge patch of the Deployment


def kustomize_config_map_hash(data: dict[str, str]) -> str:
    """The 10-character suffix kustomize v5 gives a generated ConfigMap with this `data`.

    kustomize's hasher (api/hasher) hashes Go's `json.Marshal` of {kind, name, data}; it looks the
    name up as one key "metadata/name", finds nothing and hashes an empty name, which is why
    the suffix depends on the data alone. Checked against `kubectl kustomize` in the tests.
    """
    encoded = json.dumps({"data": data, "kind": "ConfigMap", "name": ""}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # Go's encoder escapes these where Python's does not.
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        encoded = encoded.replace(raw, escaped)
    digest = hashlib.sha256(encoded.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))  # kustomize's vowel-free alphabet


def container(deployment: dict, name: str) -> dict:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    found = [c for c in containers if c["name"] == name]
    if not found:
        raise ManifestError(f"Deployment {deployment['metadata']['name']} has no container {name!r} (it has {[c['name'] for c in containers]})")
    return found[0]


def settings_config_map_name(deployment: dict, container_name: str, base: str) -> str:
    """The name of the generated settings ConfigMap (`<base>-<hash>`) the container reads its environment from."""
    for source in container(deployment, container_name).get("envFrom", []):
        name = (source.get("configMapRef") or {}).get("name", "")
        match = _HASH_SUFFIX.match(name)
        if match and match["base"] == base:
            return name
    raise ManifestError(
        f"the container {container_name!r} of Deployment {deployment['metadata']['name']} reads no {base}-<hash> ConfigMap: "
        "deploy the API with deploy/k8s/render.sh and kubectl apply first (docs/deploy.md, section 8)"
    )


def release_change(deployment: dict, config_map: dict, *, container_name: str, model_version: str, image: str | None) -> ReleaseChange:
    """The new settings ConfigMap and the Deployment patch that serve `model_version` (and `image`, if given)."""
    if not MODEL_VERSION.match(model_version):
        raise ManifestError(f"model version {model_version!r} may hold only letters, digits, '.', '_' and '-'")
    if image is not None and not IMAGE_BY_DIGEST.match(image):
        raise ManifestError(f"RETAIL_API_IMAGE must be REPOSITORY@sha256:<64 hex> (a pushed digest, never a tag), got {image!r}")
    old_name = config_map["metadata"]["name"]
    match = _HASH_SUFFIX.match(old_name)
    if match is None:
        raise ManifestError(f"ConfigMap {old_name} has no kustomize hash suffix")
    data = {**config_map.get("data", {}), MODEL_VERSION_SETTING: model_version}
    new_name = f"{match['base']}-{kustomize_config_map_hash(data)}"
    metadata = {key: value for key, value in config_map["metadata"].items() if key not in _SERVER_FIELDS}
    metadata["name"] = new_name
    # The copied annotation would describe the old ConfigMap; kubectl apply re-creates it next time.
    annotations = {k: v for k, v in (metadata.get("annotations") or {}).items() if k != _LAST_APPLIED}
    metadata.pop("annotations", None)
    if annotations:
        metadata["annotations"] = annotations
    new_config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}

    api = container(deployment, container_name)
    # envFrom has no merge key, so a strategic merge patch replaces the whole list: send all of it.
    env_from = [
        {**source, "configMapRef": {**source["configMapRef"], "name": new_name}}
        if (source.get("configMapRef") or {}).get("name") == old_name
        else source
        for source in api.get("envFrom", [])
    ]
    patched_container: dict = {"name": container_name, "envFrom": env_from}
    if image is not None:
        patched_container["image"] = image
    patch = {
        "metadata": {
            "annotations": {MODEL_VERSION_ANNOTATION: model_version},
            # Optimistic concurrency: a deploy that landed since we read the Deployment makes this a 409.
            "resourceVersion": deployment["metadata"]["resourceVersion"],
        },
        "spec": {"template": {"spec": {"containers": [patched_container]}}},
    }
    return ReleaseChange(config_map=new_config_map, deployment_patch=patch)
