#!/usr/bin/env bash
# Render a release of the API: an overlay plus the two values that change between releases, the
# image (by digest: the delivery workflow) and the approved model version (the Dagster release).
#
#   deploy/k8s/render.sh eks --image 111122223333.dkr.ecr.ap-southeast-1.amazonaws.com/retail-mlops/api@sha256:<64 hex> \
#       --model-version 20261125-214556-a344ef4f [--environment FILE] [--out DIR]
#
# --image REPO@sha256:D   the image to run; omitted: the overlay's placeholder (for dry runs only).
# --model-version V       RETAIL_MODEL_VERSION; '' serves the registry's latest Approved version.
#                         Omitted: the overlay's value. Either writer passes the other's value
#                         through, read back from the live Deployment (docs/deploy.md):
#                           kubectl -n retail get deploy retail-api \
#                             -o jsonpath='{.metadata.annotations.retail-mlops\.io/model-version}'
# --environment FILE      replaces the overlay's environment.env (Terraform's values for the account).
# --out DIR               write the release kustomization to DIR (then `kubectl apply -k DIR`);
#                         without it, print the rendered YAML (for `kubectl apply -f -` or review).
#
# The release kustomization holds exactly what `kustomize edit` would write into a copy of the
# overlay, so either route gives the same objects:
#   kustomize edit set image retail-api=REPO@sha256:D
#   kustomize edit add configmap retail-api-settings --behavior=merge --from-literal=RETAIL_MODEL_VERSION=V
# plus the annotation retail-mlops.io/model-version on the Deployment, where the next release reads
# it back. The model version is a ConfigMap literal, so the generated name's hash changes with it
# and the Deployment rolls. Nothing in the working tree is modified. Needs kubectl (kustomize).
set -euo pipefail

usage() { sed -n '2,17p' "$0" >&2; exit 2; }

[[ $# -ge 1 ]] || usage
overlay=$1; shift
image="" model_version="" have_model_version=0 environment="" out=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --image) image=${2:?--image needs a value}; shift 2 ;;
    --model-version) [[ $# -ge 2 ]] || usage; model_version=$2; have_model_version=1; shift 2 ;;
    --environment) environment=${2:?--environment needs a file}; shift 2 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    *) usage ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
[[ -f "$here/overlays/$overlay/kustomization.yaml" ]] || { echo "render.sh: no overlay '$overlay' under $here/overlays" >&2; exit 2; }
# Values land in YAML: accept only the characters a digest reference and a model version use.
if [[ -n $image && ! $image =~ ^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$ ]]; then
  echo "render.sh: --image must be REPOSITORY@sha256:<64 hex> (a pushed digest, never a tag), got '$image'" >&2; exit 2
fi
if [[ ! $model_version =~ ^[A-Za-z0-9._-]*$ ]]; then
  echo "render.sh: --model-version may hold only letters, digits, '.', '_' and '-', got '$model_version'" >&2; exit 2
fi
if [[ -n $environment && ! -f $environment ]]; then
  echo "render.sh: --environment $environment is not a file" >&2; exit 2
fi

if [[ -n $out ]]; then
  if [[ -e $out && -n $(ls -A "$out" 2>/dev/null) ]]; then
    echo "render.sh: --out $out exists and is not empty" >&2; exit 2
  fi
  mkdir -p "$out"
  work=$(cd "$out" && pwd)
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
cp -R "$here/base" "$here/overlays" "$work/"
if [[ -n $environment ]]; then
  cp "$environment" "$work/overlays/$overlay/environment.env"
fi

{
  echo "# Rendered by deploy/k8s/render.sh: $overlay${image:+, image $image}$( ((have_model_version)) && echo ", model version '${model_version}'")"
  echo "apiVersion: kustomize.config.k8s.io/v1beta1"
  echo "kind: Kustomization"
  echo "resources:"
  echo "  - overlays/$overlay"
  if [[ -n $image ]]; then
    echo "images:"
    echo "  - name: retail-api"
    echo "    newName: ${image%@*}"
    echo "    digest: ${image#*@}"
  fi
  if ((have_model_version)); then
    echo "configMapGenerator:"
    echo "  - name: retail-api-settings"
    echo "    behavior: merge"
    echo "    literals:"
    echo "      - RETAIL_MODEL_VERSION=$model_version"
    echo "patches:"
    echo "  - patch: |-"
    echo "      apiVersion: apps/v1"
    echo "      kind: Deployment"
    echo "      metadata:"
    echo "        name: retail-api"
    echo "        annotations:"
    echo "          retail-mlops.io/model-version: \"$model_version\""
  fi
} > "$work/kustomization.yaml"

if [[ -n $out ]]; then
  kubectl kustomize "$work" > /dev/null  # fail here, not halfway through an apply
  echo "$work"
else
  kubectl kustomize "$work"
fi
