# syntax=docker/dockerfile:1
# The SageMaker training image (RETAIL_SAGEMAKER_IMAGE_URI): what a training job runs,
# `python -m retail_training.entrypoint` (the job also passes it as ContainerEntrypoint).
# Build from the repository root:
#   docker build -f deploy/docker/training.Dockerfile -t retail-training .
#
# Why it starts as root: SageMaker creates /opt/ml/model, /opt/ml/output and /opt/ml/checkpoints
# owned by root before the container starts and has no setting for the container's user (AWS's
# own training images run as root), so an image whose USER is 10001 cannot write its model. The
# entrypoint hands exactly those directories to RETAIL_TRAINING_USER and becomes that user for
# good before it reads any data (retail_training/container.py); the training code never
# runs as root. tests/training/test_container.py runs the entrypoint that way against root-owned
# directories.

# The same base as the other two images (tests/deploy/test_deploy_docker.py keeps them equal).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
# Its own hashed lock: the libraries retail_training and retail_model import (scikit-learn,
# xgboost, polars, numpy, deltalake, boto3), at the project's pins; no Dagster.
COPY deploy/docker/training-requirements.lock /tmp/training-requirements.lock
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes --only-binary=:all: \
        -r /tmp/training-requirements.lock
# Exactly what the container runs: retail_training and the retail_model it imports (no Dagster
# layer; tests/deploy/test_deploy_docker.py checks every first-party import is copied).
COPY retail_training /app/retail_training
COPY retail_model /app/retail_model
RUN /opt/venv/bin/python -m compileall -q /app

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="retail-training" \
      org.opencontainers.image.description="SageMaker training job for the retail price-sensitivity model" \
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
    RETAIL_MODE=aws \
    RETAIL_TRAINING_USER=10001:10001
WORKDIR /app
# Root on purpose (DL3002): SageMaker mounts /opt/ml as root; the entrypoint drops to RETAIL_TRAINING_USER.
# hadolint ignore=DL3002
USER 0:0
ENTRYPOINT ["python", "-m", "retail_training.entrypoint"]
