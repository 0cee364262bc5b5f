# The wxstation bridge in a container, on its own (for Home Assistant OS, see
# the add-on in addon/ and docs/addon.md).
#
#   ./scripts/image standalone      # localhost/wxstation:test, from this checkout
#   podman run -d --name wxstation --stop-timeout 30 -p 5001:5001 \
#       -v wxstation-data:/data -v "$PWD/config.yaml:/config/config.yaml:ro" localhost/wxstation:test
#
# The image installs the wheels in its build context's wheels/ folder: the
# checkout's two (scripts/build: the bridge and the library it pins) and, where the build may not reach an index,
# its dependencies' (scripts/image puts both there and builds with
# PIP_ARGS=--no-index). Any other Docker or podman build does the same:
#   scripts/build ctx/wheels && docker build -f Dockerfile ctx
# BUILD_FROM is a base with python3 and its venv module.
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
ARG BUILD_FROM=python:3.12-slim
FROM ${BUILD_FROM}

ARG PIP_ARGS=""
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin wxstation \
    && mkdir -p /data /config && chown wxstation:wxstation /data

COPY wheels/ /tmp/wheels/
# hadolint ignore=SC2086 # PIP_ARGS is a list of words
RUN python3 -m venv /opt/wxstation \
    && /opt/wxstation/bin/pip install --no-cache-dir --disable-pip-version-check \
        ${PIP_ARGS} --find-links /tmp/wheels wxstation-bridge \
    && rm -rf /tmp/wheels

# With no config mounted: the embedded defaults, database under /data.
ENV PATH=/opt/wxstation/bin:$PATH XDG_DATA_HOME=/data
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
# Every command reads /config/config.yaml when one is mounted there, like the
# health check; without it, the embedded defaults.
ENTRYPOINT ["/bin/sh", "-c", "if [ -f /config/config.yaml ]; then exec wxstation-bridge \"$@\" -c /config/config.yaml; else exec wxstation-bridge \"$@\"; fi", "wxstation-bridge"]
CMD ["run"]
