#!/usr/bin/env bash
# `make pipeline-aws`: the graph in aws mode against moto's S3 on this machine, no AWS account.
# Starts moto's server on 127.0.0.1, creates a bucket, lands the sample files in
# s3://$BUCKET/lake/landing/ and materializes everything with RETAIL_MODE=aws; training runs as a
# subprocess and the release pointer stays in the lake (moto runs no SageMaker container and there
# is no EKS here). Prints the Delta tables on S3, then stops moto (its data lives in memory);
# KEEP=1 keeps moto and the API on the S3 lake up until Ctrl-C.
set -euo pipefail
: "${BIN:=.venv/bin}" "${SAMPLE_DIR:=sample_data}" "${MOTO_PORT:=5055}" "${API_PORT:=8001}" "${BUCKET:=retail-lake}"

endpoint="http://127.0.0.1:$MOTO_PORT"
home="${DAGSTER_HOME_AWS:-$PWD/.dagster_home_aws}"
mkdir -p "$home"
[ -f "$home/dagster.yaml" ] || echo "# Dagster instance for the aws-on-moto run; empty = SQLite here." > "$home/dagster.yaml"

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  sleep 1
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
}
trap stop INT TERM EXIT

setsid "$BIN/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" > "$home/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 60); do curl -fs -o /dev/null "$endpoint/moto-api/" && break; sleep 0.5; done

# What a user exports to point everything (boto3, polars, deltalake) at an S3 endpoint.
export AWS_ENDPOINT_URL="$endpoint" AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=moto AWS_SECRET_ACCESS_KEY=moto  # moto accepts any key
export RETAIL_MODE=aws RETAIL_LAKE="s3://$BUCKET/lake" DAGSTER_HOME="$home"
export RETAIL_TRAINING=subprocess RETAIL_REGISTRY=local RETAIL_RELEASE=local RETAIL_ALERTS=local

"$BIN/python" -c "import boto3; boto3.client('s3').create_bucket(Bucket='$BUCKET')"
"$BIN/retail-mlops" materialize --landing "$SAMPLE_DIR"
"$BIN/retail-mlops" tables

if [ "${KEEP:-0}" = "1" ]; then
  setsid "$BIN/retail-mlops" serve --port "$API_PORT" > "$home/api.log" 2>&1 &
  pids+=($!)
  cat <<MSG

  moto's S3      $endpoint  (bucket $BUCKET; e.g. AWS_ENDPOINT_URL=$endpoint aws s3 ls s3://$BUCKET/lake/)
  Inference API  http://127.0.0.1:$API_PORT/docs  (serving the model released into s3://$BUCKET/lake)

  Ctrl-C stops both.
MSG
  wait
fi
