# syntax=docker/dockerfile:1
# The Dagster user-code image: the code location (retail_assets.definitions) served over gRPC
# to the webserver and daemon of the official Helm chart, and the image of every run pod the
# K8sRunLauncher starts. Build from the repository root:
#   docker build -f deploy/docker/dagster.Dockerfile -t retail-dagster .
#
# The Helm chart sets the container args itself (`dagster code-server start -h 0.0.0.0 -p 4000
# -m retail_assets.definitions`, from codeServerArgs in deploy/dagster/values.yaml), and run pods
# are started with `dagster api execute_run ...`; so the image has no ENTRYPOINT, and its CMD only
# serves `docker run` without arguments.
#
# SageMaker training jobs run deploy/docker/training.Dockerfile instead (RETAIL_SAGEMAKER_IMAGE_URI):
# SageMaker needs an image that starts as root.

# Debian 12 slim, Python 3.11 (the project's `requires-python`), pinned by tag and index digest:
# the same base as api.Dockerfile (tests/deploy/test_deploy_docker.py keeps them equal).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
# The hashed lock of dagster-requirements.txt (pyproject.toml's pins plus dagster-postgres for the
# chart's PostgreSQL instance storage), every transitive dependency fixed too.
COPY deploy/docker/dagster-requirements.lock /tmp/dagster-requirements.lock
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes --only-binary=:all: \
        -r /tmp/dagster-requirements.lock
# Source folders are copied rather than `pip install --no-deps .`, for the reason given in
# api.Dockerfile: no build backend fetched at build time, and the import path is exactly these.
COPY retail_assets /app/retail_assets
COPY retail_training /app/retail_training
COPY retail_model /app/retail_model
COPY retail_api /app/retail_api
RUN /opt/venv/bin/python -m compileall -q /app

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="retail-dagster" \
      org.opencontainers.image.description="Dagster code location for the retail price-sensitivity pipeline" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 retail \
    && useradd --system --uid 10001 --gid retail --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin retail
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    RETAIL_MODE=aws
WORKDIR /app
USER 10001:10001
EXPOSE 4000
# The chart probes the server with `dagster api grpc-health-check`; this serves `docker run`.
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["dagster", "api", "grpc-health-check", "-p", "4000"]
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "retail_assets.definitions"]
