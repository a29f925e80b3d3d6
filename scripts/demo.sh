#!/usr/bin/env bash
# Serves the inference API and the Dagster UI until Ctrl-C, then stops both process groups.
set -euo pipefail
: "${BIN:=.venv/bin}" "${API_PORT:=8000}" "${UI_PORT:=3000}"

pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "stopping the API and the Dagster UI..."
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  sleep 3
  # `dagster dev` may ignore SIGTERM when started in the background: make sure.
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
}
trap stop INT TERM EXIT

setsid "$BIN/retail-mlops" serve --port "$API_PORT" > "${DAGSTER_HOME}/api.log" 2>&1 &
pids+=($!)
setsid "$BIN/dagster" dev -w workspace.yaml -h 127.0.0.1 -p "$UI_PORT" > "${DAGSTER_HOME}/dagster-dev.log" 2>&1 &
pids+=($!)

wait_for() {  # url, name, log
  for _ in $(seq 1 120); do
    if curl -fs -o /dev/null "$1"; then return 0; fi
    sleep 1
  done
  echo "$2 did not come up; see $3" >&2
  return 1
}
wait_for "http://127.0.0.1:$API_PORT/readyz" "the API" "$DAGSTER_HOME/api.log"
wait_for "http://127.0.0.1:$UI_PORT/server_info" "the Dagster UI" "$DAGSTER_HOME/dagster-dev.log"

cat <<MSG

  Dagster UI     http://127.0.0.1:$UI_PORT/asset-groups   (the lineage graph, runs, checks)
  Inference API  http://127.0.0.1:$API_PORT/docs          (OpenAPI; logs in $DAGSTER_HOME/api.log)

  Try a prediction:
    curl -s -X POST http://127.0.0.1:$API_PORT/v1/predict \\
         -H 'content-type: application/json' -d @examples/basket.json

  Ctrl-C stops both.
MSG
wait
