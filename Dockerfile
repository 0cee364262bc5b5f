# The wxstation bridge in a container.
#
#   docker build -t wxstation .
#   docker run -d --name wxstation --stop-timeout 30 -p 5001:5001 \
#       -v wxstation-data:/data -v "$PWD/config.yaml:/config/config.yaml:ro" wxstation
#
# --stop-timeout 30: the bridge stops within 15 s of SIGTERM (bridge/service.py,
# SHUTDOWN_BUDGET); Docker's default of 10 s could kill it while it delivers.
#
# The config's storage.path should be under /data (the default config below
# already is) so the database outlives the container.
FROM python:3.12-slim

RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin wxstation \
    && mkdir -p /data /config && chown wxstation:wxstation /data

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bridge ./bridge
RUN pip install --no-cache-dir . && rm -rf /src

# With no config mounted: the embedded defaults, database under /data.
ENV XDG_DATA_HOME=/data
USER wxstation
WORKDIR /data
VOLUME ["/data"]
EXPOSE 5001
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=60s --timeout=5s \
    CMD python -c "import socket; socket.create_connection(('127.0.0.1', 5001), 2).close()" || exit 1
ENTRYPOINT ["wxstation-bridge"]
CMD ["run"]
