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
RUN mkdir -p /app/out && chown arsync:arsync /app/out
USER arsync
VOLUME ["/app/out"]
ENTRYPOINT ["arsync"]
CMD ["run", "--dry-run"]
