"""Images: content-addressed rebuilds, a cached dependency layer, no CA bundle in any layer,
and a fingerprint that depends on what is installed, not on the image id."""

from __future__ import annotations

import re
import tarfile
import uuid
from pathlib import Path

import pytest
from lockstep import config
from lockstep.images import builder
from testcontainers.core.container import DockerContainer

pytestmark = pytest.mark.docker

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
_STEP = re.compile(r"^#(\d+) \[([^\]]+)\] (.*)$", re.MULTILINE)
_CACHED = re.compile(r"^#(\d+) CACHED$", re.MULTILINE)


def build_steps(log: str) -> list[tuple[str, str, bool]]:
    """(stage, instruction, cached) for each Dockerfile step in a BuildKit plain-progress log."""
    headers: dict[str, tuple[str, str]] = {}
    for number, stage, instruction in _STEP.findall(log):
        headers.setdefault(number, (stage, instruction))
    cached = set(_CACHED.findall(log))
    return [(stage, text, number in cached) for number, (stage, text) in headers.items()]


def test_unchanged_inputs_reuse_the_image(kit, settings, runtime_image) -> None:
    again = builder.build(settings, kit.engine)
    assert again == runtime_image
    assert again.log == ""  # nothing was built
    assert kit.image_id(again.tag) == runtime_image.id
    assert again.label("content-key").startswith(again.tag.rsplit(":", 1)[1])


def test_a_source_change_rebuilds_without_reinstalling_dependencies(kit, runtime_image) -> None:
    project = kit.copy("source-change")
    kit.change_source(project, uuid.uuid4().hex)

    image = builder.build(config.load(project), kit.engine)
    try:
        assert image.log, "the image was reused instead of built"
        assert image.id != runtime_image.id
        assert image.tag != runtime_image.tag
        steps = build_steps(image.log)
        installs = [step for step in steps if step[0].startswith("deps ") and "install" in step[1]]
        assert len(installs) == 1, steps
        assert installs[0][2], f"the dependency install ran again: {installs[0]}"
        copies = [step for step in steps if step[1].startswith("COPY") and "src/" in step[1]]
        assert copies and not any(cached for *_, cached in copies), copies
        # Same dependencies, so the same environment.
        assert image.fingerprint == runtime_image.fingerprint
    finally:
        kit.remove_images(image.tag, image.commit_tag)


def test_no_layer_holds_the_ca_bundle(kit, tmp_path, monkeypatch, capsys) -> None:
    token = uuid.uuid4().hex
    marker = f"# lockstep integration test marker {token}\n".encode()
    bundle = tmp_path / "marked-ca-bundle.pem"
    marked = HOST_CA_BUNDLE.read_bytes() + marker
    bundle.write_bytes(marked)
    monkeypatch.setenv("PIP_CERT", str(bundle))
    project = kit.copy("ca-bundle")
    kit.change_source(project, token)  # so that a build really happens
    settings = config.load(project)
    assert settings.ca_bundle_path() == bundle

    image = builder.build(settings, kit.engine)
    archive = tmp_path / "image.tar"
    try:
        assert image.log, "the image was reused instead of built"
        assert f"--secret id=ca,src={bundle}" in capsys.readouterr().err
        kit.docker("save", "--output", str(archive), image.tag)
        layers, files = 0, 0
        with tarfile.open(archive) as saved:
            for member in saved:
                if not member.isfile():
                    continue
                if member.name.endswith("layer.tar"):
                    layers += 1
                    stream = saved.extractfile(member)
                    with tarfile.open(fileobj=stream, mode="r:*") as layer:
                        for entry in layer:
                            if entry.isfile():
                                files += 1
                                data = layer.extractfile(entry).read()
                                where = f"{entry.name} in {member.name}"
                                assert marker.strip() not in data, f"marker found: {where}"
                                assert data != marked, f"the bundle is in a layer: {where}"
                else:
                    assert marker.strip() not in saved.extractfile(member).read(), member.name
        assert layers >= 3 and files > 1000, (layers, files)
    finally:
        archive.unlink(missing_ok=True)
        kit.remove_images(image.tag, image.commit_tag)


def fingerprint_in(ref: str) -> tuple[str, str]:
    """(uid, fingerprint) as a container of the image reports them, without a network."""
    with (
        DockerContainer(ref)
        .with_command("sleep infinity")
        .with_kwargs(network_mode="none") as container
    ):
        code, uid = container.exec(["id", "-u"])
        assert code == 0, uid
        code, printed = container.exec(["python", "-m", "lockstep.runtime.fingerprint"])
        assert code == 0, printed
        return uid.decode().strip(), printed.decode().strip()


def test_the_runtime_image_runs_as_non_root_and_knows_its_fingerprint(runtime_image) -> None:
    uid, printed = fingerprint_in(runtime_image.tag)
    assert uid == "1000"
    assert printed == runtime_image.fingerprint == runtime_image.label("fingerprint")


def test_the_fingerprint_does_not_depend_on_the_image_id(kit, runtime_image) -> None:
    tag = f"lockstep-it-relabelled:{uuid.uuid4().hex[:12]}"
    kit.docker(
        "build", "--quiet", "--label", "io.lockstep.test=relabelled", "-t", tag, "-",
        input=f"FROM {runtime_image.tag}\n",
    )  # fmt: skip
    try:
        assert kit.image_id(tag) != runtime_image.id
        assert fingerprint_in(tag) == ("1000", runtime_image.fingerprint)
    finally:
        kit.remove_images(tag)


def test_the_bytecode_step_fails_on_a_full_disk_and_skips_what_python_cannot_compile(
    settings, runtime_image
) -> None:
    """The build's compile step, in the image it built, on a 1 MB disk filled up and on a
    roomy one holding a Python 2 file."""
    script = settings.root / "docker" / "toolchain" / "compile-bytecode.sh"
    steps = {
        "full": "mkdir /full/pkg && echo 'x = 1' > /full/pkg/a.py "
        "&& { cat /dev/zero > /full/filler 2>/dev/null; sh /opt/step /full/pkg; }",
        "roomy": "mkdir /tmp/pkg && echo 'x = 1' > /tmp/pkg/a.py "
        "&& echo 'print \"python 2\"' > /tmp/pkg/old.py "
        "&& sh /opt/step /tmp/pkg && ls /tmp/pkg/__pycache__",
    }
    with (
        DockerContainer(runtime_image.tag)
        .with_command("sleep infinity")
        .with_volume_mapping(str(script), "/opt/step", "ro")
        .with_tmpfs_mount("/full", "size=1m,mode=1777")
        .with_kwargs(network_mode="none") as container
    ):
        code, printed = container.exec(["sh", "-c", steps["full"]])
        assert code != 0, printed
        assert b"No space left on device" in printed
        code, printed = container.exec(["sh", "-c", steps["roomy"]])
        assert code == 0, printed
        assert printed.decode().split() == ["a.cpython-311.pyc"]
