"""A real registry server for the tests: Debian's `docker-registry` (distribution 2.8).

On 127.0.0.1 at a free port; the Docker engine treats 127.0.0.0/8 registries as insecure-allowed,
so plain http works.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.commands import free_port

REGISTRY_BIN = "docker-registry"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)


class Registry:
    """A registry server on 127.0.0.1, storing its blobs in a folder of its own."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        """`127.0.0.1:PORT`, as the `registry` setting names it."""
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> Registry:
        """Start the server and wait until `GET /v2/` answers; returns self."""
        binary = shutil.which(REGISTRY_BIN) or f"/usr/bin/{REGISTRY_BIN}"
        if not Path(binary).is_file():
            pytest.fail(
                f"the registry tests need {REGISTRY_BIN} (Debian: apt-get install docker-registry)",
                pytrace=False,
            )
        config = self.folder / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.folder / 'data'}\n"
            f"http:\n  addr: {self.address}\n"
        )
        log = open(self.folder / "registry.log", "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if self.get("/v2/")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(
            f"{REGISTRY_BIN} did not answer on {self.address}:\n{self.log()}", pytrace=False
        )

    def kill(self) -> None:
        """Kill the server at once, as a crash would; `start` brings it back on its port."""
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        """Stop the server."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        path = self.folder / "registry.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def get(self, path: str, accept: str = "") -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of `GET http://ADDRESS/PATH`."""
        request = urllib.request.Request(f"http://{self.address}{path}")
        if accept:
            request.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def tags(self, name: str) -> list[str]:
        status, _, body = self.get(f"/v2/{name}/tags/list")
        assert status == 200, body
        return json.loads(body)["tags"] or []

    def manifest(self, name: str, reference: str) -> tuple[str, dict]:
        """(manifest digest, manifest) of a tag or digest in a repository."""
        status, headers, body = self.get(f"/v2/{name}/manifests/{reference}", MANIFEST_TYPES)
        assert status == 200, body
        return headers["Docker-Content-Digest"], json.loads(body)
