"""The local cluster's object store: what the Kubernetes API server keeps, and how it changes objects.

Objects are plain dicts in the API's own JSON field names. The store applies the three patch
types `KubernetesCluster` and kubectl send: a strategic merge patch (lists merged by their
`patchMergeKey`, as the API's OpenAPI schema declares for the fields a Deployment uses), a JSON
patch (RFC 6902: add, replace, remove) and a JSON merge patch (RFC 7386). A `resourceVersion` in
a patch is a precondition: another value is a 409 Conflict, as the API server answers.
"""

from __future__ import annotations

import copy
import threading
import uuid
from datetime import UTC, datetime

# patchMergeKey of the list fields a Deployment's pod template holds (k8s.io/api core/v1 types).
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "env": "name", "volumes": "name", "volumeMounts": "mountPath",
    "ports": "containerPort", "imagePullSecrets": "name", "tolerations": "key",
}


class ApiError(Exception):
    """An answer of the API server other than 2xx, with its Status reason."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def status(self) -> dict:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message,
                "reason": self.reason, "code": self.code}


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def strategic_merge(target: object, patch: object, key: str | None = None) -> object:
    """`target` with `patch` applied as a strategic merge patch (a new object; None deletes a field)."""
    if isinstance(patch, dict) and isinstance(target, dict):
        merged = copy.deepcopy(target)
        for name, value in patch.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = strategic_merge(merged.get(name), value, name)
        return merged
    if isinstance(patch, list) and isinstance(target, list) and key in MERGE_KEYS:
        merge_key = MERGE_KEYS[key]
        merged = copy.deepcopy(target)
        for item in patch:
            found = next((i for i, old in enumerate(merged) if isinstance(old, dict) and old.get(merge_key) == item.get(merge_key)), None)
            if found is None:
                merged.append(copy.deepcopy(item))
            else:
                merged[found] = strategic_merge(merged[found], item)
        return merged
    return copy.deepcopy(patch)  # scalars, and lists without a merge key, are replaced whole


def merge_patch(target: object, patch: object) -> object:
    """RFC 7386: objects merge, everything else (lists too) is replaced, null deletes."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = copy.deepcopy(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = merge_patch(merged.get(name), value)
    return merged


def json_patch(target: dict, operations: list[dict]) -> dict:
    """RFC 6902 add / replace / remove, with RFC 6901 pointers; anything else is a 422."""
    document = copy.deepcopy(target)
    for operation in operations:
        op, path = operation.get("op"), operation.get("path", "")
        parts = [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]
        if not parts or op not in ("add", "replace", "remove"):
            raise ApiError(422, "Invalid", f"unsupported JSON patch operation {operation!r}")
        parent: object = document
        for part in parts[:-1]:
            try:
                parent = parent[int(part)] if isinstance(parent, list) else parent[part]
            except (KeyError, IndexError, ValueError) as error:
                raise ApiError(422, "Invalid", f"the JSON patch path {path} does not exist") from error
        last = parts[-1]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if op == "add":
                parent.insert(index, copy.deepcopy(operation["value"]))
            elif op == "replace":
                parent[index] = copy.deepcopy(operation["value"])
            else:
                del parent[index]
        elif isinstance(parent, dict):
            if op != "add" and last not in parent:
                raise ApiError(422, "Invalid", f"the JSON patch path {path} does not exist")
            if op == "remove":
                del parent[last]
            else:
                parent[last] = copy.deepcopy(operation["value"])
        else:
            raise ApiError(422, "Invalid", f"the JSON patch path {path} does not exist")
    return document


def owned(objects: list[dict], owner: dict) -> list[dict]:
    """The objects whose ownerReferences name `owner` (by uid)."""
    uid = owner["metadata"]["uid"]
    return [o for o in objects if any(ref.get("uid") == uid for ref in o["metadata"].get("ownerReferences", []))]


def matches(labels: dict, selector: str) -> bool:
    """An equality-based label selector (`a=b,c=d`), as `KubernetesCluster` sends it."""
    for term in filter(None, selector.split(",")):
        name, _, value = term.partition("=")
        if labels.get(name.strip()) != value.strip().lstrip("="):
            return False
    return True


class Store:
    """The API server's storage: objects by (kind, namespace, name), each write a new resourceVersion."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._objects: dict[tuple[str, str, str], dict] = {}
        self._version = 1000

    def get(self, kind: str, namespace: str, name: str) -> dict:
        with self.lock:
            found = self._objects.get((kind, namespace, name))
            if found is None:
                raise ApiError(404, "NotFound", f'{kind.lower()}s "{name}" not found')
            return found

    def find(self, kind: str, namespace: str, name: str) -> dict | None:
        with self.lock:
            return self._objects.get((kind, namespace, name))

    def list(self, kind: str, namespace: str | None = None, selector: str = "") -> list[dict]:
        with self.lock:
            return [obj for (k, ns, _), obj in self._objects.items()
                    if k == kind and namespace in (None, ns) and matches(obj["metadata"].get("labels") or {}, selector)]

    def create(self, obj: dict, exists_ok: bool = False) -> dict:
        """Store a new object (server fields filled in); an existing name is a 409 AlreadyExists."""
        with self.lock:
            metadata = obj["metadata"]
            metadata.setdefault("namespace", "default")
            key = (obj["kind"], metadata["namespace"], metadata["name"])
            if key in self._objects:
                if exists_ok:
                    return self._objects[key]
                raise ApiError(409, "AlreadyExists", f'{obj["kind"].lower()}s "{metadata["name"]}" already exists')
            metadata.update(uid=str(uuid.uuid4()), creationTimestamp=now_iso(), generation=1)
            metadata.setdefault("annotations", {})
            self._objects[key] = obj
            self.touch(obj)
            return obj

    def replace(self, obj: dict) -> dict:
        """Store a changed object; a changed `spec` is a new `metadata.generation`, as the API server counts."""
        with self.lock:
            metadata = obj["metadata"]
            key = (obj["kind"], metadata["namespace"], metadata["name"])
            old = self._objects[key]
            if obj.get("spec") != old.get("spec"):
                metadata["generation"] = old["metadata"].get("generation", 1) + 1
            self._objects[key] = obj
            self.touch(obj)
            return obj

    def delete(self, kind: str, namespace: str, name: str) -> None:
        with self.lock:
            self._objects.pop((kind, namespace, name), None)

    def touch(self, obj: dict) -> None:
        with self.lock:
            self._version += 1
            obj["metadata"]["resourceVersion"] = str(self._version)

    def patch(self, kind: str, namespace: str, name: str, content_type: str, body: object) -> dict:
        with self.lock:
            current = self.get(kind, namespace, name)
            if content_type.startswith("application/strategic-merge-patch+json"):
                patched = strategic_merge(current, body)
            elif content_type.startswith("application/merge-patch+json"):
                patched = merge_patch(current, body)
            elif content_type.startswith("application/json-patch+json"):
                if not isinstance(body, list):
                    raise ApiError(400, "BadRequest", "a JSON patch is a list of operations")
                patched = json_patch(current, body)
            else:
                raise ApiError(415, "UnsupportedMediaType", f"the server does not support the patch type {content_type!r}")
            wanted = (body.get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
            if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {kind.lower()}s "{name}": the object has been modified; '
                                                "please apply your changes to the latest version and try again")
            for field in ("uid", "creationTimestamp", "generation", "namespace", "name"):  # the server owns these
                patched["metadata"][field] = current["metadata"][field]
            patched["status"] = current.get("status", {})
            return self.replace(patched)
