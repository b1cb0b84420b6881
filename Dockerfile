# arsync worker image: slim Python, non-root, config and mappings mountable.
# Reproducible: the base image by digest, every Python package from requirements/*.txt with
# its hashes. Build it with `bash .ci/image` (fills in the labels from git), or by hand:
#   docker build --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(git log -1 --format=%cI)" -t arsync .
#
# The base: python:3.11-slim's multi-arch index (linux/amd64, linux/arm64, ...), the digest the
# tag pointed to in April 2026. To move to the tag's current digest (docs/building.md):
#   docker buildx imagetools inspect python:3.11-slim    # the "Digest:" line
# and replace it below. A registry mirror: --build-arg PYTHON_IMAGE=mirror/python:3.11-slim@sha256:...
ARG PYTHON_IMAGE=docker.io/library/python:3.11-slim@sha256:9358444059ed78e2975ada2c189f1c1a3144a5dab6f35bff8c981afb38946634

FROM ${PYTHON_IMAGE} AS build
# Behind a TLS-inspecting proxy, pip needs its CA: ARSYNC_BUILD_CA=ca.pem bash .ci/image (buildah).
ARG PIP_CERT
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The build backend (hatchling) pinned too, so the same sources give the same wheel.
COPY requirements/build.txt ./requirements/
RUN pip install --no-cache-dir --require-hashes --no-deps --only-binary :all: \
        -r requirements/build.txt
COPY pyproject.toml README.md ./
COPY arsync ./arsync
COPY connector ./connector
COPY scoring ./scoring
COPY jobs ./jobs
# The defaults the wheel may carry as package data (pyproject's force-include).
COPY config ./config
COPY mappings ./mappings
COPY examples ./examples
COPY salesforce ./salesforce
RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /dist .

FROM ${PYTHON_IMAGE}
# Labels from the build: bash .ci/image passes these from pyproject.toml and git. The defaults
# keep a build without them reproducible: no clock time goes into the image.
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SOURCE=
ARG PIP_CERT
ARG PYTHON_IMAGE
LABEL org.opencontainers.image.title="arsync" \
      org.opencontainers.image.description="Accounts-receivable health from the ERP onto Salesforce Accounts." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ARSYNC_CONFIG=/app/config/arsync.yaml
RUN useradd --create-home --uid 10001 arsync
# Dependencies first, in their own layer: exactly the lock (with both extras, postgres and
# xlsx), each file checked against its hash; then the wheel alone, and pip check that nothing
# the wheel needs is missing from the lock.
COPY requirements/runtime.txt /tmp/runtime.txt
RUN pip install --no-cache-dir --require-hashes --no-deps --only-binary :all: \
        -r /tmp/runtime.txt \
 && rm /tmp/runtime.txt
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir --no-deps /tmp/*.whl \
 && rm /tmp/*.whl \
 && pip check \
 && python -c "import psycopg, openpyxl"
WORKDIR /app
# Defaults; mount your own over these: -v ./config:/app/config -v ./mappings:/app/mappings
COPY --chown=arsync:arsync config ./config
COPY --chown=arsync:arsync mappings ./mappings
COPY --chown=arsync:arsync examples ./examples
RUN mkdir -p /app/out /app/state && chown arsync:arsync /app/out /app/state
USER arsync
VOLUME ["/app/out", "/app/state"]
# /healthz and /metrics, when `metrics: {enabled: true, host: 0.0.0.0}` is in arsync.yaml.
EXPOSE 9108
# 200 from /healthz is healthy; 503, or no answer within the timeout, is not. With metrics off
# nothing listens and the probe passes (the container then watches only the worker's process);
# ARSYNC_HEALTH_URL overrides the address when the port is not 9108.
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-m", "jobs.health"]
# Give the run in progress time to finish on `docker stop`: docker stop --time 900, or
# stop_grace_period in compose; the worker exits 0 once the run has finished.
STOPSIGNAL SIGTERM
ENTRYPOINT ["arsync"]
CMD ["worker"]
