"""`python -m retail_assets.release.local_cluster`: the API's EKS objects on a local cluster, for `make pipeline-aws`.

    up      render deploy/k8s (`render.sh eks --environment FILE --model-version V`), apply it with an
            API key Secret, wait for the rollout, write a kubeconfig (so `KubernetesCluster()`, i.e.
            RETAIL_RELEASE=eks, talks to it) and the Service's address; then run until SIGTERM/Ctrl-C.
    status  what serves: the Deployment's revision and model annotation, and each pod's answer.

The pods get the rendered environment plus AWS_ENDPOINT_URL and the AWS keys of the calling shell
(what IRSA gives pods on EKS; here moto's address and keys).
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import yaml

from retail_assets.release.local_cluster import CHECKOUT, LocalCluster, api_image

IMAGE = "retail-api:unreleased"  # what render.sh renders without --image: this checkout's API
_FORWARDED = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def up(args: argparse.Namespace) -> int:
    import os

    command = [str(CHECKOUT / "deploy" / "k8s" / "render.sh"), "eks", "--environment", args.environment, "--model-version", args.model_version]
    rendered = subprocess.run(command, capture_output=True, text=True, check=False)
    if rendered.returncode != 0:
        print(f"local cluster: {' '.join(command)} failed:\n{rendered.stderr}", file=sys.stderr)
        return 1
    objects = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "retail-api-key", "namespace": args.namespace},
              "data": {"api-key": base64.b64encode(secrets.token_hex(16).encode()).decode()}}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    pod_env = {name: os.environ[name] for name in _FORWARDED if os.environ.get(name)}
    with LocalCluster(images={IMAGE: api_image()}, extra_env=pod_env, workdir=Path(args.workdir)) as cluster:
        cluster.apply([*objects, secret])
        cluster.wait_for_rollout(args.namespace, args.deployment, timeout=args.timeout)
        cluster.write_kubeconfig(Path(args.kubeconfig), args.namespace)
        service = cluster.service_url(args.namespace, args.deployment)
        Path(args.service_url_file).write_text(service + "\n")
        print(f"local cluster: Kubernetes API {cluster.url}, Service {args.namespace}/{args.deployment} at {service}", flush=True)
        stop.wait()
    return 0


def status(args: argparse.Namespace) -> int:
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(config_file=args.kubeconfig, client_configuration=configuration)
    api = client.ApiClient(configuration)
    deployment = json.loads(client.AppsV1Api(api).read_namespaced_deployment(args.deployment, args.namespace, _preload_content=False).data)
    annotations = deployment["metadata"]["annotations"]
    print(f"Deployment {args.namespace}/{args.deployment}: revision {annotations.get('deployment.kubernetes.io/revision')}, "
          f"model {annotations.get('retail-mlops.io/model-version') or '(latest Approved)'}, "
          f"{deployment['status'].get('availableReplicas', 0)}/{deployment['spec'].get('replicas')} available")
    pods = json.loads(client.CoreV1Api(api).list_namespaced_pod(args.namespace, _preload_content=False).data)["items"]
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        port = pod["metadata"]["annotations"]["local-cluster/port"]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as answer:
                served = json.loads(answer.read()).get("model_version")
        except OSError as error:
            served = f"not ready ({error})"
        restarts = sum(c.get("restartCount", 0) for c in pod["status"].get("containerStatuses", []))
        print(f"  pod {pod['metadata']['name']}: serves {served} (restarts {restarts})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m retail_assets.release.local_cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default="retail")
    parser.add_argument("--deployment", default="retail-api")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="deploy the API and run until stopped")
    start.add_argument("--environment", required=True, help="Terraform's environment.env for the overlay (LAKE_URI, AWS_REGION, ...)")
    start.add_argument("--model-version", default="", help="RETAIL_MODEL_VERSION of the first deploy ('' = latest Approved)")
    start.add_argument("--kubeconfig", required=True, help="where to write the kubeconfig")
    start.add_argument("--service-url-file", required=True, help="where to write the Service's address")
    start.add_argument("--workdir", required=True, help="pods' scratch space and logs")
    start.add_argument("--timeout", type=float, default=300.0, help="seconds the first rollout may take")
    show = commands.add_parser("status", help="what the pods serve")
    show.add_argument("--kubeconfig", required=True)
    args = parser.parse_args(argv)
    return up(args) if args.command == "up" else status(args)


if __name__ == "__main__":
    sys.exit(main())
