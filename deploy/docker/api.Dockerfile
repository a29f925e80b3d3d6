# syntax=docker/dockerfile:1
# The inference API image: retail_api and retail_model only; no dagster, no retail_assets.
# Build from the repository root:  docker build -f deploy/docker/api.Dockerfile -t retail-api .
#
# No model is baked in. At start, and on every release, the API asks the model registry
# (RETAIL_REGISTRY: SageMaker in aws mode) for the approved version and fetches its artefact
# from the lake (RETAIL_LAKE: s3://...), so one image serves every model version and a model
# release never rebuilds or re-pushes it.

# Debian 12 slim, Python 3.11 (the project's `requires-python`), pinned by tag and index digest.
# Refresh both together: docker buildx imagetools inspect python:3.11-slim-bookworm
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
# The hashed lock of api-requirements.txt (whose pins equal pyproject.toml's): hashes for every
# wheel, direct and transitive, and wheels only, so the image gets exactly the locked artefacts,
# with no compiler in the image and no build step that could fetch anything else.
COPY deploy/docker/api-requirements.lock /tmp/api-requirements.lock
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes --only-binary=:all: \
        -r /tmp/api-requirements.lock
# The two packages are copied as source rather than `pip install --no-deps .`: the project's
# pyproject.toml builds one distribution holding all three packages (and needs a build backend
# fetched at build time), while this image must carry neither retail_assets nor dagster.
COPY retail_api /app/retail_api
COPY retail_model /app/retail_model
# Byte-compiled now, because the root filesystem is read-only at run time.
RUN /opt/venv/bin/python -m compileall -q /app

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="retail-api" \
      org.opencontainers.image.description="Basket price-sensitivity inference API (FastAPI)" \
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
    JOBLIB_TEMP_FOLDER=/tmp \
    RETAIL_MODE=aws
WORKDIR /app
# Numeric, so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
EXPOSE 8000
# Liveness for `docker run` and Compose (Kubernetes uses its own probes). Python, not curl: the
# slim image has no curl, and installing it only for this would add a package to patch.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
# --proxy-headers: the client address and scheme come from the ALB's X-Forwarded-* headers.
CMD ["uvicorn", "retail_api.app:create_app", "--factory", \
     "--host", "0.0.0.0", "--port", "8000", \
     "--proxy-headers", "--forwarded-allow-ips", "*", \
     "--timeout-graceful-shutdown", "20"]
