# trialmatch API (and worker: same image, `trialmatch worker`).
#   docker build -t trialmatch .
#   docker run -p 8000:8000 -e TRIALMATCH_REDIS_URL=redis://redis:6379/0 trialmatch
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# gcc/g++ for any dependency without a wheel for this platform (PyRuSH, nmslib).
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY matchers ./matchers
COPY trial_cache ./trial_cache
COPY ontologies ./ontologies
COPY benchmarks ./benchmarks
RUN pip install .

RUN useradd --create-home --uid 10001 trialmatch \
    && mkdir -p /app/var && chown trialmatch /app/var
USER trialmatch

ENV TRIALMATCH_HOST=0.0.0.0 \
    TRIALMATCH_PORT=8000
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1

CMD ["trialmatch", "serve"]
