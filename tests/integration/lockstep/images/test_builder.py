"""Images: content-addressed rebuilds, a cached dependency layer, no CA bundle in any layer,
and a fingerprint that depends on what is installed, not on the image id."""

from __future__ import annotations

import json
import tarfile
import uuid
from pathlib import Path

import pytest
from lockstep import config
from lockstep.images import builder, layers
from testcontainers.core.container import DockerContainer

pytestmark = pytest.mark.docker

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def test_unchanged_inputs_reuse_the_image(kit, settings, runtime_image) -> None:
    again = builder.build(settings, kit.engine)
    # Not the commit tag: a base that Debian updated since packages.lock was written leaves the
    # copy's tree dirty (its new manifest), which the commit tag says.
    assert (again.id, again.tag, again.labels) == (
        runtime_image.id,
        runtime_image.tag,
        runtime_image.labels,
    )
    assert again.log == ""  # nothing was built
    assert kit.image_id(again.tag) == runtime_image.id
    base_id = again.label("base").rsplit("@", 1)[1]
    key = builder.content_key(settings, "runtime", base_id)
    assert again.tag == f"{settings.image}:{key[:12]}"


def test_a_source_change_builds_nothing(kit, runtime_image, capsys) -> None:
    """The image holds no source: an edit under src/ gives the same content tag and image."""
    project = kit.copy("source-change")
    module = project / "src" / "credit_model" / "__init__.py"
    module.write_text(module.read_text() + f"# a source change only {uuid.uuid4().hex}\n")

    image = builder.build(config.load(project), kit.engine)
    try:
        assert (image.id, image.tag) == (runtime_image.id, runtime_image.tag)
        assert image.log == "" and image.installed == (), "something was built"
        assert f"{image.tag} is up to date" in capsys.readouterr().err
    finally:
        kit.remove_images(image.commit_tag)


def layers_of(kit, ref: str) -> list[str]:
    return json.loads(kit.docker("image", "inspect", ref).stdout)[0]["RootFS"]["Layers"]


def test_each_heavy_distribution_has_a_layer_of_its_own_and_the_plan_names_them(
    runtime_image, kit
) -> None:
    rows = json.loads(runtime_image.label("layers"))
    names = [row["layer"] for row in rows]
    for heavy in ("numpy", "pandas", "pyarrow", "scikit-learn", "scipy"):
        assert heavy in names, names
    groups = [row for row in rows if row["layer"].startswith("group ")]
    assert 1 < len(groups) <= layers.GROUPS
    assert all(row["bytes"] < 64 * 1024 * 1024 for row in groups), groups
    # The runtime image: the environment's layers and nothing else (the source is mounted).
    assert len(layers_of(kit, runtime_image.id)) == len(rows) and names[-1] == "requirements"
    history = kit.docker("history", "--format", "{{.CreatedBy}}", runtime_image.id).stdout
    assert "packages: scipy " in history and "source" not in history
    listed = kit.docker("run", "--rm", "--network", "none", runtime_image.id, "ls", "/opt")
    assert sorted(listed.stdout.split()) == ["lockstep", "venv"]


def test_no_layer_holds_the_ca_bundle(kit, tmp_path, monkeypatch, capsys) -> None:
    token = uuid.uuid4().hex
    marker = f"# lockstep integration test marker {token}\n".encode()
    bundle = tmp_path / "marked-ca-bundle.pem"
    marked = HOST_CA_BUNDLE.read_bytes() + marker
    bundle.write_bytes(marked)
    monkeypatch.setenv("PIP_CERT", str(bundle))
    project = kit.copy("ca-bundle")
    kit.change_source(project, token)  # so that a build really happens
    # ... and the environment is assembled again, its Dockerfile stages built with the bundle.
    with (project / "pyproject.toml").open("a") as pyproject:
        pyproject.write(f"# {token}\n")
    settings = config.load(project)
    assert settings.ca_bundle_path() == bundle

    image = builder.build(settings, kit.engine)
    archive = tmp_path / "image.tar"
    try:
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


def fingerprint_in(ref: str, source: Path) -> tuple[str, str]:
    """(uid, fingerprint) as a container of the image reports them, without a network.

    The image holds no source: the project's `source` (src/) is mounted where the Dockerfile's
    PYTHONPATH expects the workspace's, and the kit its src/lockstep links to beside it. (Not
    the whole workspace: a test's temporary folder is its owner's alone, and the image runs as
    another user.)
    """
    with (
        DockerContainer(ref)
        .with_command("sleep infinity")
        .with_volume_mapping(str(source), "/workspace/src", "ro")
        .with_volume_mapping(str(source.parent / "kit" / "src"), "/workspace/kit/src", "ro")
        .with_kwargs(network_mode="none") as container
    ):
        code, uid = container.exec(["id", "-u"])
        assert code == 0, uid
        code, printed = container.exec(["python", "-m", "lockstep.runtime.fingerprint"])
        assert code == 0, printed
        return uid.decode().strip(), printed.decode().strip()


def test_the_runtime_image_runs_as_non_root_and_knows_its_fingerprint(
    settings, runtime_image
) -> None:
    uid, printed = fingerprint_in(runtime_image.tag, settings.path("src"))
    assert uid == "1000"
    assert printed == runtime_image.fingerprint == runtime_image.label("fingerprint")


def test_the_fingerprint_does_not_depend_on_the_image_id(kit, settings, runtime_image) -> None:
    tag = f"lockstep-it-relabelled:{uuid.uuid4().hex[:12]}"
    kit.docker(
        "build", "--quiet", "--label", "io.lockstep.test=relabelled", "-t", tag, "-",
        input=f"FROM {runtime_image.tag}\n",
    )  # fmt: skip
    try:
        assert kit.image_id(tag) != runtime_image.id
        assert fingerprint_in(tag, settings.path("src")) == ("1000", runtime_image.fingerprint)
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


def test_a_plain_docker_build_of_the_dockerfile_gives_the_same_environment(
    kit, settings, runtime_image
) -> None:
    """docker/Dockerfile stays a working recipe on its own: its `runtime` target, built by
    BuildKit alone, has the files (the fingerprint) and the settings of the kit's image."""
    tag = f"lockstep-it-plain:{uuid.uuid4().hex[:12]}"
    base_ref = runtime_image.label("base").split("@", 1)[0]
    kit.docker(
        "build", "--quiet", "-f", str(settings.path(settings.dockerfile)),
        "--target", "runtime", "--build-arg", f"BASE_IMAGE={base_ref}",
        "--secret", f"id=ca,src={HOST_CA_BUNDLE}", "-t", tag, str(settings.root),
    )  # fmt: skip
    try:
        assert fingerprint_in(tag, settings.path("src")) == ("1000", runtime_image.fingerprint)
        plain, ours = (
            json.loads(kit.docker("image", "inspect", ref).stdout)[0]["Config"]
            for ref in (tag, runtime_image.id)
        )
        for setting in ("Env", "User", "WorkingDir", "Cmd"):
            assert plain[setting] == ours[setting], setting
    finally:
        kit.remove_images(tag)
