# The naive baseline the benchmarks compare against: the common Poetry-in-Docker recipe.
# One stage: copy the whole repository, install Poetry, `poetry install`. Same base image as
# docker/Dockerfile, dependencies from the same poetry.lock (main group, as in our runtime image).
#
# The one departure from the textbook recipe is forced by package mirrors that serve only the
# simple index (no Poetry JSON API), where `poetry install` fails with "Package X not found": the
# index pip uses arrives as SIMPLE_INDEX (read from pip at bench time) and is declared as
# Poetry's primary source, and the lock's content-hash is recomputed for that edit. On an
# ordinary network leave SIMPLE_INDEX empty.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG POETRY_SPEC
ARG SIMPLE_INDEX=""
# Debian's python3 has no pip: a virtual environment stands in for the python image's own
# interpreter (without VIRTUAL_ENV, Poetry would install into the system Python instead).
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY . .
RUN --mount=type=secret,id=ca,required=false \
    if [ -f /run/secrets/ca ]; then \
        export PIP_CERT=/run/secrets/ca REQUESTS_CA_BUNDLE=/run/secrets/ca; fi; \
    python3 -m venv /opt/venv \
    && pip install "${POETRY_SPEC}" \
    && poetry config virtualenvs.create false \
    && if [ -n "$SIMPLE_INDEX" ]; then \
        poetry source add --priority=primary simple-index "$SIMPLE_INDEX" \
        && python -c 'import re, pathlib; from poetry.factory import Factory; \
lock = pathlib.Path("poetry.lock"); \
key = Factory().create_poetry(".").locker._get_content_hash(); \
text = re.sub(r"content-hash = \"\w+\"", f"content-hash = \"{key}\"", lock.read_text()); \
lock.write_text(text)'; \
    fi \
    && poetry install --only main --no-interaction --no-ansi
CMD ["python", "-m", "lockstep.runtime.fingerprint"]
