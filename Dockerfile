# Rantai, the hub alone: its wheel and runtime dependencies on a slim Python, run as a user
# of its own. RANTAI_DATABASE_URL names the store; unset, an embedded PostgreSQL (the
# pgserver wheel) keeps it in the volume /var/lib/rantai. The demo's estate is not in the
# image (it is not in the wheel). compose.yaml runs it beside PostgreSQL.
#
#   docker build -t rantai .
#   docker run -p 8000:8000 -e RANTAI_ENV=production -e RANTAI_SECRET_KEY=… rantai

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY schema ./schema
COPY resolvers ./resolvers
COPY adapters ./adapters
COPY migrations ./migrations
# The hub's wheel and a wheel of every dependency, built here so the image needs no compiler.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RANTAI_DATA_DIR=/var/lib/rantai
RUN groupadd --system --gid 10001 rantai \
    && useradd --system --uid 10001 --gid rantai --home-dir /var/lib/rantai --create-home \
        --shell /usr/sbin/nologin rantai
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels /wheels/rantai-*.whl \
    && rm -rf /wheels
USER 10001:10001
WORKDIR /var/lib/rantai
VOLUME ["/var/lib/rantai"]
EXPOSE 8000
# /readyz: the store is reachable and migrated (docs/operations.md).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
ENTRYPOINT ["rantai"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
