# The wxstation bridge in a container.
#
#   docker build -t wxstation .
#   docker run -d --name wxstation --stop-timeout 30 -p 5001:5001 \
#       -v wxstation-data:/data -v "$PWD/config.yaml:/config/config.yaml:ro" wxstation
#
# --stop-timeout 30: the bridge stops within 15 s of SIGTERM (bridge/runtime/assembly.py,
# SHUTDOWN_BUDGET); Docker's default of 10 s could kill it while it delivers.
#
# The config's storage.path should be under /data (the default config below
# already is) so the database outlives the container.
#
# The status page listens on 127.0.0.1:5002 inside the container, which the
# health check uses. To open it from outside, set in the config
#   http: {host: 0.0.0.0, token: !secret http_token}
# and add -p 127.0.0.1:5002:5002 (or your LAN address) to docker run.
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
EXPOSE 5001 5002
STOPSIGNAL SIGTERM
# The bridge's own /healthz: healthy while it listens for stations and its
# database takes their packets; unhealthy (with the reason in `docker inspect`)
# when the disk is full, the database at its cap or the port closed. `health`
# reads the same config as `run` for the page's host and port.
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s \
    CMD if [ -f /config/config.yaml ]; then wxstation-bridge health -c /config/config.yaml; \
        else wxstation-bridge health; fi || exit 1
ENTRYPOINT ["wxstation-bridge"]
CMD ["run"]
