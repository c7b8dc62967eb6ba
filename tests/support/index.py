"""A package index of the tests' own, on loopback: the kit's wheels, served beside the configured
index, so that projects lock and install the kit as their users will, from an index.

A PEP 503 simple index is two kinds of static page (the project list, and each project's files
with their hashes), which the standard library's HTTP server serves: no index server to depend
on, as pip's own tests serve theirs.
"""

from __future__ import annotations

import hashlib
import html
import secrets
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename

PAGE = "<!DOCTYPE html>\n<html><body>\n{}</body></html>\n"


class Index:
    """A folder of wheels and its simple index; `add` publishes one more."""

    def __init__(self, folder: Path, url: str) -> None:
        self.folder = folder
        self.url = url

    def add(self, wheel: Path) -> None:
        """Publish `wheel`: copy it in and rewrite the pages."""
        files = self.folder / "files"
        files.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(wheel, files / wheel.name)
        self._write_pages()

    def _write_pages(self) -> None:
        projects: dict[str, list[Path]] = {}
        for wheel in sorted((self.folder / "files").glob("*.whl")):
            projects.setdefault(canonicalize_name(parse_wheel_filename(wheel.name)[0]), []).append(
                wheel
            )
        simple = self.folder / "simple"
        for name, wheels in projects.items():
            links = "".join(
                f'<a href="../../files/{html.escape(w.name)}#sha256='
                f'{hashlib.sha256(w.read_bytes()).hexdigest()}">{html.escape(w.name)}</a>\n'
                for w in wheels
            )
            (simple / name).mkdir(parents=True, exist_ok=True)
            (simple / name / "index.html").write_text(PAGE.format(links))
        listing = "".join(f'<a href="{name}/">{name}</a>\n' for name in sorted(projects))
        (simple / "index.html").write_text(PAGE.format(listing))


class _Handler(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        # The pages change when a test publishes a wheel: uv must not answer from its cache.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args) -> None:  # one line per request would bury the test's output
        pass


@contextmanager
def serve(folder: Path) -> Iterator[Index]:
    """An index of `folder` on 127.0.0.1 while the block runs, found by pip, uv and `./inv lock`
    through their extra-index settings."""
    folder.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # A new address for each index: Poetry caches an index's pages by its address, and the
    # kit's wheel changes from one run to the next while its version does not.
    prefix = secrets.token_hex(4)
    url = f"http://127.0.0.1:{server.server_address[1]}/{prefix}/simple"
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PIP_EXTRA_INDEX_URL", url)
            patch.setenv("UV_EXTRA_INDEX_URL", url)
            yield Index(folder / prefix, url)
    finally:
        server.shutdown()
        server.server_close()
