#!/usr/bin/env bash
# `make pipeline-aws`: aws mode end to end on this machine, no AWS account and no Kubernetes.
#
# moto's server on 127.0.0.1 plays S3 and SageMaker's Model Registry; the API's EKS objects
# (deploy/k8s rendered for this lake) run on the local cluster (retail_assets/release/local_cluster:
# a stand-in for the Kubernetes API whose pods are real API server processes, behind a Service).
#   1. first install: all sample weeks but the last two land; the graph trains, registers and
#      releases the first model; the API is then deployed pinned to it (what the delivery workflow
#      does: render.sh eks --model-version <the released version>);
#   2. a week lands: the graph retrains and the EKS release (RETAIL_RELEASE=eks, the aws default)
#      rolls the new version out to the pods, asks the Service, and records it;
#   3. the last week lands: the same again, a second release in a row.
# After each step it prints what serves: the registry's record and every pod's answer.
# Training runs as a subprocess (moto runs no training container). Everything is stopped at the end
# (moto's data lives in memory); KEEP=1 keeps moto and the cluster up until Ctrl-C.
set -euo pipefail
: "${BIN:=.venv/bin}" "${SAMPLE_DIR:=sample_data}" "${MOTO_PORT:=5055}" "${BUCKET:=retail-lake}"

endpoint="http://127.0.0.1:$MOTO_PORT"
home="${DAGSTER_HOME_AWS:-$PWD/.dagster_home_aws}"
# A fresh run: moto starts empty, so the instance and the landing copies of an earlier run go too.
rm -rf "$home/landing" "$home/cluster" "$home/kubeconfig" "$home/service-url" "$home/storage" "$home/history" "$home/schedules" "$home/logs"
mkdir -p "$home/landing" "$home/cluster"
[ -f "$home/dagster.yaml" ] || echo "# Dagster instance for the aws-on-moto run; empty = SQLite here." > "$home/dagster.yaml"

pids=()
stop() {
  trap - INT TERM EXIT
  # The cluster stops its pods itself (SIGTERM, then SIGKILL after their grace period): give it time.
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
}
trap stop INT TERM EXIT

setsid "$BIN/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" > "$home/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 60); do curl -fs -o /dev/null "$endpoint/moto-api/" && break; sleep 0.5; done

# What a user exports to point everything (boto3, polars, deltalake) at an S3 endpoint.
export AWS_ENDPOINT_URL="$endpoint" AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=moto AWS_SECRET_ACCESS_KEY=moto  # moto accepts any key
export RETAIL_MODE=aws RETAIL_LAKE="s3://$BUCKET/lake" DAGSTER_HOME="$home"
export RETAIL_TRAINING=subprocess RETAIL_REGISTRY=sagemaker RETAIL_ALERTS=local
"$BIN/python" -c "import boto3; boto3.client('s3').create_bucket(Bucket='$BUCKET')"

weeks=("$SAMPLE_DIR"/transactions_*.csv)
[ "${#weeks[@]}" -ge 3 ] || { echo "pipeline-aws: needs at least 3 sample weeks in $SAMPLE_DIR" >&2; exit 1; }
land() { for file in "$@"; do cp "$file" "$home/landing/"; done; }
what_serves() {
  echo "== what serves"
  "$BIN/python" -c "
from retail_assets.settings import get_environment
from retail_model.lake import open_lake
from retail_model.registry import open_registry
settings = get_environment()
released = open_registry(settings, open_lake(settings.lake, settings.aws)).released()
print('registry records:', released.version if released else 'nothing released')"
  if [ -f "$home/kubeconfig" ]; then "$BIN/python" -m retail_assets.release.local_cluster status --kubeconfig "$home/kubeconfig"; fi
}

echo "== 1. first install: ${#weeks[@]} sample weeks, all but the last two land"
land "${weeks[@]:0:${#weeks[@]}-2}"
RETAIL_RELEASE=local "$BIN/retail-mlops" materialize --landing "$home/landing"
first=$("$BIN/python" -c "
from retail_assets.settings import get_environment
from retail_model.lake import open_lake
from retail_model.registry import open_registry
settings = get_environment()
print(open_registry(settings, open_lake(settings.lake, settings.aws)).released().version)")
# Terraform's environment file for the overlay, pointing at this lake and region.
sed -e "s|^LAKE_URI=.*|LAKE_URI=$RETAIL_LAKE|" -e "s|^AWS_REGION=.*|AWS_REGION=$AWS_DEFAULT_REGION|" \
  deploy/k8s/overlays/eks/environment.env > "$home/environment.env"
echo "   deploying the API (deploy/k8s, overlay eks) pinned to $first on the local cluster..."
setsid "$BIN/python" -m retail_assets.release.local_cluster up --environment "$home/environment.env" --model-version "$first" \
  --kubeconfig "$home/kubeconfig" --service-url-file "$home/service-url" --workdir "$home/cluster" > "$home/cluster.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do [ -s "$home/service-url" ] && break; kill -0 "${pids[-1]}" 2>/dev/null || break; sleep 0.5; done
[ -s "$home/service-url" ] || { echo "pipeline-aws: the local cluster did not come up; see $home/cluster.log" >&2; cat "$home/cluster.log" >&2; exit 1; }
what_serves

# From here on the release is the EKS one, through the kubeconfig the cluster wrote.
export RETAIL_RELEASE=eks KUBECONFIG="$home/kubeconfig" RETAIL_API_SERVICE_URL="$(cat "$home/service-url")" RETAIL_ROLLOUT_POLL_SECONDS=1
for step in 2 3; do
  week=${weeks[${#weeks[@]}-4+step]}
  echo "== $step. $(basename "$week") lands: retrain, and release to the cluster"
  land "$week"
  "$BIN/retail-mlops" materialize --landing "$home/landing"
  what_serves
done
"$BIN/retail-mlops" tables

if [ "${KEEP:-0}" = "1" ]; then
  cat <<MSG

  moto (S3, SageMaker)  $endpoint   (e.g. AWS_ENDPOINT_URL=$endpoint aws s3 ls s3://$BUCKET/lake/)
  the API's Service     $RETAIL_API_SERVICE_URL  (/readyz, /docs; the key is in the Secret retail-api-key)
  what serves           $BIN/python -m retail_assets.release.local_cluster status --kubeconfig $home/kubeconfig
  pod logs              $home/cluster/<pod>/container-N.log

  Ctrl-C stops everything.
MSG
  wait
fi
