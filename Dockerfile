# syntax=docker/dockerfile:1
# The project's one image: the `rakuten` CLI, the Dagster code location, webserver and daemon,
# the MLflow tracking server, the API and the hub (docker-compose.yml picks the command).
#
#   docker build -t rakuten-mlops:latest .
#   docker run --rm rakuten-mlops:latest --help          # = rakuten --help
#
# Stage 1 installs exactly uv.lock (`uv sync --frozen`, runtime dependencies only) into
# /opt/venv; stage 2 is python slim with that virtualenv copied in: no uv, no build tools,
# running as an unprivileged user. Every locked package has a wheel for Linux x86_64 and
# aarch64, so no compiler is installed. Builds without a registry (the compose test) pass
# PYTHON_IMAGE=a local stand-in (scripts/local-images.py).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

# The uv the Makefile pins (tests/deploy/test_lockfile.py checks they agree).
ARG UV_VERSION=0.13.9

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv

RUN python -m venv /opt/uv \
 && /opt/uv/bin/pip install "uv==${UV_VERSION}"

WORKDIR /src
# Dependencies first, from the lock alone (this layer is reused while only the code changes) ...
COPY pyproject.toml uv.lock README.md ./
RUN /opt/uv/bin/uv sync --frozen --no-install-project --python /usr/local/bin/python3
# ... then the project itself, as a regular (non-editable) install.
COPY rakuten_assets ./rakuten_assets
# rakuten_assets/cli/monitoring/ links into monitoring/; the wheel takes the files themselves.
COPY monitoring ./monitoring
COPY api ./api
COPY gradio_hub ./gradio_hub
RUN /opt/uv/bin/uv sync --frozen --no-editable --python /usr/local/bin/python3 \
 && /opt/venv/bin/rakuten --help >/dev/null

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="rakuten-mlops" \
      org.opencontainers.image.description="Rakuten product classifier: Dagster assets, MLflow registry, FastAPI serving, Gradio hub" \
      org.opencontainers.image.licenses="Apache-2.0"

# Unprivileged user; fixed ids so named volumes keep the same owner across image rebuilds.
RUN groupadd --system --gid 10001 rakuten \
 && useradd --system --uid 10001 --gid rakuten --home-dir /var/lib/rakuten --shell /usr/sbin/nologin rakuten

COPY --from=builder /opt/venv /opt/venv

# The Dagster instance (PostgreSQL storage, all values from the environment) and the workspace
# that points the webserver and daemon at the code-location gRPC server.
COPY deploy/dagster.yaml deploy/workspace.yaml /opt/dagster/home/

# Writable places, each a named volume in docker-compose.yml. A new named volume takes the
# owner of the folder it is mounted on, so these are created here, owned by `rakuten`.
RUN mkdir -p /var/lib/rakuten /var/lib/dagster/storage /var/lib/dagster/logs /mlartifacts \
 && chown -R rakuten:rakuten /var/lib/rakuten /var/lib/dagster /mlartifacts

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RAKUTEN_HOME=/var/lib/rakuten \
    DAGSTER_HOME=/opt/dagster/home \
    DAGSTER_STORAGE_DIR=/var/lib/dagster/storage \
    DAGSTER_COMPUTE_LOGS_DIR=/var/lib/dagster/logs \
    GRADIO_ANALYTICS_ENABLED=False \
    MPLCONFIGDIR=/tmp/matplotlib

USER rakuten:rakuten
WORKDIR /var/lib/rakuten

ENTRYPOINT ["rakuten"]
CMD ["--help"]
