"""`kubectl` for deploy/k8s/deploy.sh's tests: the real kustomize, an API server modelled in a file.

No cluster runs here. This plays the API server's optimistic concurrency as the Kubernetes API
conventions document it ("Concurrency Control and Consistency"): every write gives the object a
new `metadata.resourceVersion`, and a write that carries a resourceVersion other than the
current one is refused with 409 Conflict ("the object has been modified"), which kubectl prints
as `Error from server (Conflict)`. It handles only the calls deploy.sh makes: `kustomize` (passed
to the real kubectl), `apply -k`, `get deployment ... -o name|jsonpath=...` and `rollout status`
(the rollout is always finished: rollouts are not what these tests are about).

`FAKE_RELEASE_BEFORE_APPLY=V0,V1,...`: before the n-th `apply` since the cluster was made, Vn
(if not empty) is released the way the Dagster release does it (retail_assets/release/manifests.release_change:
a new settings ConfigMap and a patch of the Deployment), i.e. a release lands between deploy.sh's
read and its write. State lives in the JSON file `FAKE_CLUSTER`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from retail_assets.release.manifests import release_change, settings_config_map_name

STATE = Path(os.environ["FAKE_CLUSTER"])
REAL_KUBECTL = os.environ["REAL_KUBECTL"]


def load() -> dict:
    return json.loads(STATE.read_text()) if STATE.exists() else {"objects": {}, "version": 0, "applies": 0, "log": []}


def save(state: dict) -> None:
    STATE.write_text(json.dumps(state))


def key(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata'].get('namespace', 'retail')}/{obj['metadata']['name']}"


def write(state: dict, obj: dict) -> None:
    state["version"] += 1
    obj["metadata"]["resourceVersion"] = str(state["version"])
    state["objects"][key(obj)] = obj


def release(state: dict, version: str) -> None:
    """What the Dagster release's calls do to the objects (create_config_map + patch_deployment)."""
    deployment = state["objects"]["Deployment/retail/retail-api"]
    config_map = state["objects"][f"ConfigMap/retail/{settings_config_map_name(deployment, 'api', 'retail-api-settings')}"]
    change = release_change(deployment, config_map, container_name="api", model_version=version, image=None)
    new_config_map = {**change.config_map, "metadata": {**change.config_map["metadata"], "namespace": "retail"}}
    write(state, new_config_map)
    patch = change.deployment_patch
    assert patch["metadata"]["resourceVersion"] == deployment["metadata"]["resourceVersion"]
    deployment["metadata"].setdefault("annotations", {}).update(patch["metadata"]["annotations"])
    (patched,) = patch["spec"]["template"]["spec"]["containers"]
    for live in deployment["spec"]["template"]["spec"]["containers"]:
        if live["name"] == patched["name"]:
            live.update(patched)
    write(state, deployment)
    state["log"].append(f"release {version}")


def apply(directory: str) -> int:
    state = load()
    # One entry per apply since the cluster was made (its first apply included); '' releases nothing.
    pending = os.environ.get("FAKE_RELEASE_BEFORE_APPLY", "").split(",")
    if state["applies"] < len(pending) and pending[state["applies"]]:
        release(state, pending[state["applies"]])
    state["applies"] += 1
    rendered = subprocess.run([REAL_KUBECTL, "kustomize", directory], capture_output=True, text=True, check=True).stdout
    for obj in (doc for doc in yaml.safe_load_all(rendered) if doc):
        obj["metadata"].setdefault("namespace", "retail")
        current = state["objects"].get(key(obj))
        precondition = obj["metadata"].get("resourceVersion")
        if current is not None and precondition is not None and precondition != current["metadata"]["resourceVersion"]:
            save(state)
            print(f'Error from server (Conflict): error when applying patch: Operation cannot be fulfilled on deployments.apps "{obj["metadata"]["name"]}": '
                  "the object has been modified; please apply your changes to the latest version and try again", file=sys.stderr)
            return 1
        write(state, obj)
        state["log"].append(f"apply {key(obj)}")
    save(state)
    return 0


def jsonpath(obj: dict, template: str) -> str:
    """The `{.a.b\\.c/d}` fields of a jsonpath template (missing ones print as nothing, as kubectl does)."""

    def field(match: re.Match) -> str:
        value = obj
        for part in re.split(r"(?<!\\)\.", match.group(1).lstrip(".")):
            value = value.get(part.replace("\\.", "."), "") if isinstance(value, dict) else ""
        return str(value)

    return re.sub(r"\{([^}]*)\}", field, template)


def main(argv: list[str]) -> int:
    if argv[:1] == ["kustomize"]:
        return subprocess.run([REAL_KUBECTL, *argv]).returncode
    if argv[:2] == ["apply", "-k"]:
        return apply(argv[2])
    if argv[:1] == ["-n"] and argv[2:4] == ["rollout", "status"]:
        print(f'deployment "{argv[4].split("/")[1]}" successfully rolled out')
        return 0
    if argv[:1] == ["-n"] and argv[2:4] == ["get", "deployment"]:
        obj = load()["objects"].get(f"Deployment/{argv[1]}/{argv[4]}")
        output = argv[argv.index("-o") + 1]
        if obj is not None:
            print(f"deployment.apps/{argv[4]}" if output == "name" else jsonpath(obj, output.removeprefix("jsonpath=")), end="")
        return 0
    print(f"fake kubectl: not a call deploy.sh makes: {argv}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
