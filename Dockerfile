# The `ownstream` image: every service of compose.yaml runs it with a different command.

# Front-end assets (uPlot) from the lock file.
FROM node:22-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error \
 && mkdir -p vendor \
 && cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css vendor/

FROM python:3.12-slim
COPY --from=ghcr.io/astral-sh/uv:0.13 /uv /uvx /usr/local/bin/
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1
WORKDIR /app

# Dependencies first, so that code changes do not reinstall them.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY README.md ./
COPY shared shared
COPY services services
RUN uv sync --frozen --no-dev
COPY --from=assets /src/vendor services/api/static/vendor

RUN useradd --system --uid 10001 --home-dir /app ownstream
USER ownstream
ENV OWNSTREAM_HOST=0.0.0.0
EXPOSE 8000 8001 8002
CMD ["ownstream", "up"]
