# arsync worker image: slim Python, non-root, config and mappings mountable.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY arsync ./arsync
COPY connector ./connector
COPY scoring ./scoring
COPY jobs ./jobs
RUN pip install --no-cache-dir --upgrade pip build \
 && python -m build --wheel --outdir /dist

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ARSYNC_CONFIG=/app/config/arsync.yaml
RUN useradd --create-home --uid 10001 arsync
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl
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
