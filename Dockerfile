# The user-code image: lumia's code location served over gRPC (`dagster code-server start`), for the Dagster Helm
# chart's user-code deployment or any host running the webserver and daemon elsewhere. No dev dependencies.
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/lumia/dagster_home

RUN groupadd --system --gid 10001 lumia \
    && useradd --system --uid 10001 --gid lumia --home-dir /opt/lumia --create-home lumia

WORKDIR /opt/lumia
COPY pyproject.toml setup.py README.md LICENSE ./
COPY lumia_assets ./lumia_assets
COPY workspace.yaml dagster.yaml ./
RUN pip install --no-cache-dir . \
    && mkdir -p "$DAGSTER_HOME" \
    && chown -R lumia:lumia /opt/lumia

USER lumia
EXPOSE 4000
# CMD, not ENTRYPOINT: the Helm chart's user-code deployment passes its own `dagster code-server start ...` as the
# container args, and the K8sRunLauncher runs `dagster api execute_run` in this image; both replace CMD.
CMD ["dagster", "code-server", "start", "--host", "0.0.0.0", "--port", "4000", "--module-name", "lumia_assets.definitions"]
