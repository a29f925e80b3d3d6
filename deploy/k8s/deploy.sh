#!/usr/bin/env bash
# Deploy an API image without undoing a model release: the delivery workflow's deploy step, and
# the way to deploy by hand (docs/deploy.md).
#
#   deploy/k8s/deploy.sh --image REPO@sha256:D --environment FILE [--attempts 3] [--timeout 10m]
#
# Two writers change the Deployment retail/retail-api: this script (the image) and the Dagster
# release (the model version, retail_assets/release/eks.py). Each keeps the other's value, and
# both follow one rule so that neither reverts the other:
#   1. wait until no rollout is in progress;
#   2. read the Deployment once, taking from that one read the other writer's value (here the
#      model version, annotation retail-mlops.io/model-version) and its metadata.resourceVersion;
#   3. write with that resourceVersion as a precondition: if anything changed the Deployment since
#      step 2, the API server refuses the write with 409 Conflict instead of applying a stale model
#      version; then start again at step 1.
# It prints the model version it kept. Needs kubectl (with kustomize) and cluster credentials.
set -euo pipefail

usage() { sed -n '2,16p' "$0" >&2; exit 2; }

namespace=retail deployment=retail-api image="" environment="" attempts=3 timeout=10m
while [[ $# -gt 0 ]]; do
  case $1 in
    --image) image=${2:?--image needs a value}; shift 2 ;;
    --environment) environment=${2:?--environment needs a file}; shift 2 ;;
    --attempts) attempts=${2:?--attempts needs a number}; shift 2 ;;
    --timeout) timeout=${2:?--timeout needs a duration}; shift 2 ;;
    *) usage ;;
  esac
done
[[ -n $image && -n $environment ]] || usage
[[ $attempts =~ ^[1-9][0-9]*$ ]] || { echo "deploy.sh: --attempts must be a positive number" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for attempt in $(seq 1 "$attempts"); do
  # 1. An unfinished rollout (a release being watched) is not a state to build on.
  if [[ -n $(kubectl -n "$namespace" get deployment "$deployment" --ignore-not-found -o name) ]]; then
    kubectl -n "$namespace" rollout status "deployment/$deployment" --timeout="$timeout" >&2
  fi
  # 2. One read: the pinned model version and the resourceVersion it belongs to ('|' cannot occur in either).
  state=$(kubectl -n "$namespace" get deployment "$deployment" --ignore-not-found \
    -o jsonpath='{.metadata.annotations.retail-mlops\.io/model-version}|{.metadata.resourceVersion}')
  model_version=${state%%|*}
  resource_version=""
  [[ $state == *"|"* ]] && resource_version=${state#*|}

  rm -rf "$work/release" "$work/kustomization.yaml"
  "$here/render.sh" eks --image "$image" --model-version "$model_version" --environment "$environment" \
    --out "$work/release" > /dev/null
  target="$work/release"
  if [[ -n $resource_version ]]; then
    # 3. The precondition: the Deployment as it was at the read, or nothing.
    cat > "$work/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - release
patches:
  - patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: $deployment
        resourceVersion: "$resource_version"
YAML
    target="$work"
  fi
  if kubectl apply -k "$target" > "$work/applied" 2> "$work/errors"; then
    cat "$work/applied" >&2
    echo "deployed $image keeping model version '${model_version:-latest Approved}' (attempt $attempt)"
    exit 0
  fi
  if ! grep -q "the object has been modified" "$work/errors"; then
    cat "$work/errors" >&2
    exit 1
  fi
  echo "deploy.sh: the Deployment changed after it was read (a model release?); reading it again" >&2
done
echo "deploy.sh: the Deployment kept changing under $attempts attempts; nothing was reverted, deploy again later" >&2
exit 1
