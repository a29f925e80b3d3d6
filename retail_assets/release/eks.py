"""`EksRelease`: the API on EKS serves an Approved version only after it rolled out and answered.

The steps, each of which may stop the release:

1. the version is Approved and its artefact passes the smoke test (nothing in the cluster moves yet);
2. the live Deployment has finished any earlier rollout (a deploy in flight is not raced);
3. the new settings ConfigMap and the Deployment patch (`release/manifests.py`: what
   `deploy/k8s/render.sh eks --model-version V` renders) are applied through the Kubernetes API;
4. the rollout is watched (`release/rollout.py`) until every replica is updated and available;
5. real gold baskets are predicted through the Service, which must answer with this version;
6. only then the registry records the release (the API's and the monitoring's record of what serves).

A failure after step 3 rolls the Deployment back to the revision that served before, waits for it,
and leaves the registry's record unchanged, so it stays true.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from retail_assets.release.cluster import REVISION_ANNOTATION, Cluster, ClusterError
from retail_assets.release.manifests import MODEL_VERSION_ANNOTATION, ManifestError, container, release_change, settings_config_map_name
from retail_assets.release.rollout import RolloutFailed, progress, wait_for_rollout
from retail_assets.release.service_smoke import ServiceSmokeFailed, predict_through_service
from retail_assets.release.target import ReleaseError, ReleaseTarget, SmokeTest
from retail_model.basket import Basket
from retail_model.registry import APPROVED, ModelRegistry, RegistryEntry, RegistryError, Release


@dataclass(frozen=True)
class EksReleaseSettings:
    namespace: str = "retail"
    deployment: str = "retail-api"  # also the Service's name
    container: str = "api"
    settings_config_map: str = "retail-api-settings"  # the generator's name, before kustomize's hash
    image: str | None = None  # REPOSITORY@sha256:DIGEST; None keeps the image the Deployment runs
    rollout_timeout_seconds: float = 900.0
    poll_seconds: float = 5.0
    service_url: str | None = None  # None: the Service's in-cluster address
    smoke_timeout_seconds: float = 30.0

    @property
    def api_url(self) -> str:
        return self.service_url or f"http://{self.deployment}.{self.namespace}.svc.cluster.local"


class EksRelease(ReleaseTarget):
    """Release to the API Deployment on EKS (RETAIL_RELEASE=eks), rolling back on any failure."""

    def __init__(self, registry: ModelRegistry, cluster: Cluster, settings: EksReleaseSettings, baskets: Callable[[], list[Basket]],
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.registry = registry
        self.cluster = cluster
        self.settings = settings
        self._baskets = baskets
        self._clock, self._sleep = clock, sleep

    @property
    def destination(self) -> str:
        return f"Deployment {self.settings.namespace}/{self.settings.deployment}"

    def current(self) -> Release | None:
        return self.registry.released()

    def release(self, entry: RegistryEntry, smoke_test: SmokeTest, reason: str = "", actor: str = "pipeline") -> Release:
        version = entry.version
        if entry.status != APPROVED:
            raise ReleaseError(f"model {version} is {entry.status}, not Approved: {self.keeps_serving()}")
        try:
            smoke_test(self.registry.load_model(entry))
        except Exception as error:  # any failure of the candidate means: do not roll it out
            raise ReleaseError(f"model {version} failed its smoke test ({error}); nothing was rolled out: {self.keeps_serving()}") from error
        namespace, name, options = self.settings.namespace, self.settings.deployment, self.settings
        try:
            before = self.cluster.read_deployment(namespace, name)
            state = progress(before)
            if not state.done:
                raise ReleaseError(f"{self.destination} is still rolling out (waiting for {state.waiting_for}); "
                                   f"release {version} once it has finished: {self.keeps_serving()}")
            config_map = self.cluster.read_config_map(namespace, settings_config_map_name(before, options.container, options.settings_config_map))
            change = release_change(before, config_map, container_name=options.container, model_version=version, image=options.image)
            api_key = self._api_key(before)
            self.cluster.create_config_map(namespace, change.config_map)
            self.cluster.patch_deployment(namespace, name, change.deployment_patch)
        except (ClusterError, ManifestError, RolloutFailed) as error:
            raise ReleaseError(f"model {version} was not rolled out ({error}); {self.destination} is unchanged: {self.keeps_serving()}") from error
        previous_revision = state.revision
        previous_version = (before["metadata"].get("annotations") or {}).get(MODEL_VERSION_ANNOTATION, "")
        try:
            self._wait_for_rollout()
            predict_through_service(self.cluster, options.api_url, api_key, self._baskets(), version, options.smoke_timeout_seconds)
            # record_release re-reads the status under the registry's lock: a rejection that landed
            # during the rollout still stops the release (and rolls the cluster back).
            return self.registry.record_release(version, reason=reason, actor=actor)
        except (ClusterError, RolloutFailed, ServiceSmokeFailed, RegistryError) as error:
            failure = f"model {version} was rolled out to {self.destination} but not released: {error}"
            self._roll_back(failure, previous_revision, previous_version, error)
            raise ReleaseError(f"{failure}; rolled back to revision {previous_revision} "
                               f"(model {previous_version or 'the latest Approved'}): {self.keeps_serving()}") from error

    def _wait_for_rollout(self) -> dict:
        options = self.settings
        return wait_for_rollout(self.cluster, options.namespace, options.deployment, options.rollout_timeout_seconds, options.poll_seconds,
                                self._clock, self._sleep)

    def _roll_back(self, failure: str, revision: str | None, model_version: str, cause: Exception) -> None:
        namespace, name = self.settings.namespace, self.settings.deployment
        try:
            live = self.cluster.read_deployment(namespace, name)
            seen = live.get("status", {}).get("observedGeneration", 0) >= live["metadata"].get("generation", 0)
            if seen and (live["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION) == revision:
                return  # the patch made no new revision (same template): what served still serves
            if revision is None:
                raise ReleaseError(f"{failure}; {self.destination} had no revision to roll back to: fix it by hand. {self.keeps_serving()}")
            self.cluster.rollback(namespace, name, revision, {MODEL_VERSION_ANNOTATION: model_version})
            self._wait_for_rollout()
        except (ClusterError, RolloutFailed) as error:
            recorded = self.current()
            raise ReleaseError(
                f"{failure}; the rollback to revision {revision} failed too ({error}). {self.destination} needs a person: "
                f"check `kubectl -n {namespace} get pods`, then `kubectl -n {namespace} rollout undo deployment/{name} --to-revision={revision}`. "
                f"The registry still records {recorded.version if recorded else 'no release'} as serving."
            ) from cause

    def _api_key(self, deployment: dict) -> str | None:
        """The key the API checks: read where the Deployment takes it from (the Secret `retail-api-key`)."""
        for variable in container(deployment, self.settings.container).get("env", []):
            if variable["name"] != "RETAIL_API_KEY":
                continue
            if "value" in variable:
                return variable["value"]
            secret = (variable.get("valueFrom") or {}).get("secretKeyRef")
            if secret:
                return self.cluster.read_secret_value(self.settings.namespace, secret["name"], secret["key"])
        return None
