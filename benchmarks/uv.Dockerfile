# The second baseline: the multi-stage recipe current guides recommend for a Poetry-locked
# project (uv's "Using uv in Docker": intermediate layers, a cache mount for uv, bytecode
# compiled, a final stage that copies the venv). Poetry only exports the lock to hashed
# requirements; uv installs them into a venv, dependencies before source. Same base image as
# docker/Dockerfile, same poetry.lock (main group, as in our runtime image), same CA bundle.
#
# Where the guides copy uv from its registry image, this machine has no registry: uv and Poetry
# come from the package index, every file's hash pinned by the project's docker/toolchain/.
# CACHE_ID names uv's cache mount: the bench passes a fresh one to time a truly cold build.
ARG BASE_IMAGE
ARG CACHE_ID=/root/.cache/uv

# uv, installed with the pip Debian ships as a wheel (the base's python3 has no pip).
FROM ${BASE_IMAGE} AS uv
COPY docker/toolchain/uv.txt /toolchain/uv.txt
RUN --mount=type=secret,id=ca,required=false \
    if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    wheel=$(echo /usr/share/python-wheels/pip-*.whl); \
    python3 -m venv --without-pip /opt/uv \
    && /opt/uv/bin/python "$wheel/pip" install --quiet \
        --no-cache-dir --disable-pip-version-check --require-hashes --no-deps \
        -r /toolchain/uv.txt

# Poetry 2 and its export plugin, only to turn the lock into hashed requirements.
FROM ${BASE_IMAGE} AS export
ARG CACHE_ID
ENV UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=0
COPY --from=uv /opt/uv/bin/uv /usr/local/bin/uv
COPY docker/toolchain/poetry.txt /toolchain/poetry.txt
RUN --mount=type=cache,id=${CACHE_ID},target=/root/.cache/uv \
    --mount=type=secret,id=ca,required=false \
    if [ -f /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi; \
    uv venv --quiet /opt/poetry \
    && uv pip install --quiet --python /opt/poetry/bin/python --require-hashes \
        -r /toolchain/poetry.txt
WORKDIR /app
COPY pyproject.toml poetry.lock ./
RUN /opt/poetry/bin/poetry export --only main -f requirements.txt -o requirements.txt

# The dependencies, from the exported requirements only: a source change reinstalls nothing.
FROM ${BASE_IMAGE} AS build
ARG CACHE_ID
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=0 VIRTUAL_ENV=/opt/venv
COPY --from=uv /opt/uv/bin/uv /usr/local/bin/uv
COPY --from=export /app/requirements.txt /app/requirements.txt
RUN --mount=type=cache,id=${CACHE_ID},target=/root/.cache/uv \
    --mount=type=secret,id=ca,required=false \
    if [ -f /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi; \
    uv venv --quiet /opt/venv \
    && uv pip install --quiet --require-hashes -r /app/requirements.txt

# The runtime: the venv (no uv, no Poetry), then the source.
FROM ${BASE_IMAGE}
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONPATH=/app/src
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY src/credit_model/ src/credit_model/
COPY kit/src/lockstep/ src/lockstep/
CMD ["python", "-m", "lockstep.runtime.fingerprint"]
