"""The part of SageMaker that moto cannot play: running the training container.

moto's server records a training job and reports it Completed at once; it runs no container,
cannot fail or stop a job, and implements no StopTrainingJob. `FakeTrainingContainer` is a
small HTTP server in front of moto for the SageMaker API only (tests point
`AWS_ENDPOINT_URL_SAGEMAKER` at it; S3 and everything else still go straight to moto). It
forwards every call to moto, and for each job moto accepts it plays the container: it reads the
job as moto recorded it, downloads the channels from where `InputDataConfig` says into a scratch
copy of the /opt/ml layout, writes `hyperparameters.json`, runs the job's `ContainerEntrypoint`
(the project's own training entrypoint) with SM_* variables pointing into that scratch folder,
and uploads /opt/ml/model as `model.tar.gz` under `OutputDataConfig.S3OutputPath/<job>/output/`.
While it runs, DescribeTrainingJob says InProgress; afterwards Completed, or Failed with
SageMaker's `AlgorithmError: <the container's failure file>` as FailureReason.

`behaviour` makes the next job misbehave the ways a real one can: "hang" (runs until stopped),
"max_runtime" (SageMaker stopped it: Stopped / MaxRuntimeExceeded), "no_artifact" (completes but
uploads nothing).
"""

from __future__ import annotations

import http.client
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import boto3


@dataclass
class JobState:
    status: str = "InProgress"
    secondary: str = "Training"
    failure_reason: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)


class FakeTrainingContainer:
    def __init__(self, moto_endpoint: str, region: str = "us-east-1") -> None:
        self.moto = urlparse(moto_endpoint)
        self.moto_endpoint = moto_endpoint
        self.region = region
        self.jobs: dict[str, JobState] = {}
        self.behaviour = "run"
        self.threads: list[threading.Thread] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                fake._handle(self)

            def log_message(self, *args) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._serving = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._serving.start()

    def close(self) -> None:
        for state in self.jobs.values():
            state.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        self.server.shutdown()
        self.server.server_close()

    # -- the SageMaker API --------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        target = request.headers.get("X-Amz-Target", "").split(".")[-1]
        if target == "StopTrainingJob":
            name = json.loads(body)["TrainingJobName"]
            state = self.jobs.get(name)
            if state is not None and state.status == "InProgress":
                state.status, state.secondary = "Stopping", "Stopping"
                state.stop.set()
            return self._reply(request, 200, b"{}", {"Content-Type": "application/x-amz-json-1.1"})
        status, headers, payload = self._forward(request, body)
        if target == "CreateTrainingJob" and status == 200:
            name = json.loads(body)["TrainingJobName"]
            self.jobs[name] = JobState()
            thread = threading.Thread(target=self._play_container, args=(name, self.behaviour), daemon=True)
            self.threads.append(thread)
            thread.start()
        if target == "DescribeTrainingJob" and status == 200:
            described = json.loads(payload)
            state = self.jobs.get(described["TrainingJobName"])
            if state is not None and state.status != "Completed":
                described |= {"TrainingJobStatus": state.status, "SecondaryStatus": state.secondary}
                described.pop("ModelArtifacts", None)  # SageMaker names an artefact only for a completed job
                if state.failure_reason:
                    described["FailureReason"] = state.failure_reason
            payload = json.dumps(described, default=str).encode()
        self._reply(request, status, payload, headers)

    def _forward(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict, bytes]:
        connection = http.client.HTTPConnection(self.moto.hostname, self.moto.port, timeout=60)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        connection.request("POST", request.path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        kept = {k: v for k, v in response.getheaders() if k.lower() in ("content-type", "x-amzn-requestid")}
        connection.close()
        return response.status, kept, payload

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict) -> None:
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    # -- the container --------------------------------------------------------------------------

    def _play_container(self, name: str, behaviour: str) -> None:
        state = self.jobs[name]
        if behaviour == "max_runtime":
            state.status, state.secondary = "Stopped", "MaxRuntimeExceeded"
            state.failure_reason = "Training job reached the MaxRuntimeInSeconds limit"
            return
        if behaviour == "hang":
            state.stop.wait(timeout=600)
            state.status, state.secondary = "Stopped", "Stopped"
            return
        sagemaker = boto3.client("sagemaker", endpoint_url=self.moto_endpoint, region_name=self.region)
        s3 = boto3.client("s3", endpoint_url=self.moto_endpoint, region_name=self.region)
        job = sagemaker.describe_training_job(TrainingJobName=name)
        with tempfile.TemporaryDirectory(prefix=f"fake-sagemaker-{name}-") as scratch:
            opt_ml = Path(scratch)  # stands for /opt/ml inside the container
            for channel in job["InputDataConfig"]:
                _download_prefix(s3, channel["DataSource"]["S3DataSource"]["S3Uri"], opt_ml / "input" / "data" / channel["ChannelName"])
            config = opt_ml / "input" / "config"
            config.mkdir(parents=True)
            (config / "hyperparameters.json").write_text(json.dumps(job.get("HyperParameters", {})))
            (opt_ml / "model").mkdir()
            environment = {
                **os.environ,
                "SM_MODEL_DIR": str(opt_ml / "model"),
                "SM_CHANNEL_TRAIN": str(opt_ml / "input" / "data" / "train"),
                "SM_CHANNEL_TEST": str(opt_ml / "input" / "data" / "test"),
                "SM_INPUT_CONFIG_DIR": str(config),
                "SM_OUTPUT_DIR": str(opt_ml / "output"),
                "SM_OUTPUT_DATA_DIR": str(opt_ml / "output" / "data"),
            }
            environment.pop("SM_HPS", None)
            command = list(job["AlgorithmSpecification"]["ContainerEntrypoint"])
            command[0] = sys.executable if command[0] == "python" else command[0]
            done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600, check=False)
            if done.returncode != 0:
                failure = opt_ml / "output" / "failure"
                reason = failure.read_text() if failure.exists() else done.stderr[-500:]
                state.status, state.secondary, state.failure_reason = "Failed", "Failed", f"AlgorithmError: {reason}"
                return
            if behaviour != "no_artifact":
                output = urlparse(job["OutputDataConfig"]["S3OutputPath"])
                key = f"{output.path.strip('/')}/{name}/output/model.tar.gz"
                s3.put_object(Bucket=output.netloc, Key=key, Body=_tar_gz(opt_ml / "model"))
        state.status, state.secondary = "Completed", "Completed"


def _download_prefix(s3, uri: str, target: Path) -> None:
    parsed = urlparse(uri)
    prefix = parsed.path.lstrip("/")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=parsed.netloc, Prefix=prefix):
        for item in page.get("Contents", []):
            path = target / item["Key"][len(prefix) :].lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(parsed.netloc, item["Key"], str(path))


def _tar_gz(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(directory.rglob("*")):
            tar.add(path, arcname=path.relative_to(directory).as_posix(), recursive=False)
    return buffer.getvalue()
