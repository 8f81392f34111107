# Fireline's production image: `fireline serve` as a non-root user, runtime dependencies only.
# The build stage installs the project (`pip install -c constraints.txt .`: the lock's versions, not editable)
# into a venv; the final stage
# copies only that venv, so no compiler, pip cache or source tree ships. tests/app/test_deploy.py builds the
# same environment the same way (the COPY lines below are read by it) and runs `fireline check`.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/fireline
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY bot ./bot
COPY playbooks ./playbooks
RUN /opt/fireline/bin/pip install -c constraints.txt .

FROM python:3.11-slim
ENV PATH=/opt/fireline/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8080
RUN useradd --system --uid 10001 --create-home --home-dir /app fireline
COPY --from=build /opt/fireline /opt/fireline
WORKDIR /app
USER fireline
EXPOSE 8080
# Team playbooks: COPY them to /app/playbooks.d and set PLAYBOOKS_PATH=/app/playbooks.d (see docs/playbooks.md).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8080')}/healthz\", timeout=4)"]
CMD ["fireline", "serve"]
