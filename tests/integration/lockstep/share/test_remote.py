"""Results travel to a teammate's machine through a real SSH remote (OpenSSH's sshd, DVC's SSH
plugin).

Machine A publishes two versions of the project that differ only in source code (one image: the
image holds no source), then a third whose committed metrics were edited by hand (tampered).
Each version has a raw input tracked by DVC, as most projects' data is, and a run record signed
with the author's key. Machine B is a fresh clone on a second, empty Docker engine with an empty
DVC cache and no Debian mirror: everything it needs comes from the SSH remote. Two validators,
one on each machine with a key of their own, rerun a release and send their signed statements
through the same remote; a third clone collects them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from lockstep import dvcconfig, paths
from lockstep.records import keys, lineage, signing

from tests.support import commands, faults, machines, projects
from tests.support.sshd import SSHServer

pytestmark = pytest.mark.docker

REMOTE = "origin"
RAW = "data/raw/bureau.csv"
# A stage reading the raw input: a replay that lacks it fails.
RAW_STAGE = {
    "cmd": f"python -c \"import shutil; shutil.copyfile('{RAW}', 'outputs/bureau.csv')\"",
    "deps": [RAW],
    "params": [{"environment.yaml": ["fingerprint"]}],
    "outs": ["outputs/bureau.csv"],
}
UNREACHABLE = "http://127.0.0.1:9/debian"


@dataclass
class Published:
    root: Path
    server: SSHServer
    url: str
    sizes: dict[str, int]  # bytes in the remote after each version's publish
    author_key: Path  # the public key its runs are signed with, committed in keys/


@dataclass
class Validator:
    """A validator's clone after a signed rerun of model/v1: its key, and the statement."""

    root: Path
    env: dict[str, str]
    public_key: Path  # in the clone's keys/, uncommitted: a validator pushes nothing to git
    statement: bytes  # reports/reruns/COMMIT.json as the rerun wrote it


def keygen(kit, root: Path, private: Path) -> dict[str, str]:
    """`invoke keygen --output PRIVATE`; the variable that signs with it."""
    kit.invoke(root, "keygen", "--output", str(private))
    return {keys.VARIABLE: str(private)}


def public_key(root: Path, before: set[Path]) -> Path:
    """The public key keygen just wrote in the project's keys/."""
    (made,) = set((root / keys.KEYS).glob("*.pub.pem")) - before
    return made


def share_cache(kit, clone: Path, published: Published) -> None:
    """A clone on machine A uses the publisher's DVC cache: one machine's cache, as DVC allows
    (`dvc cache dir`), so that nothing is fetched twice from the remote."""
    cache = dvcconfig.cache_dir(published.root)
    kit.dvc(clone, "cache", "dir", "--local", str(cache))


def remote_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def use_remote(kit, root: Path, server: SSHServer, *, key: Path | None = None) -> None:
    """This machine's key for the committed SSH remote (config.local: never committed)."""
    kit.dvc(root, "remote", "modify", "--local", REMOTE, "keyfile", str(key or server.key))


def publish(kit, root: Path, server: SSHServer, **kwargs) -> subprocess.CompletedProcess[str]:
    return kit.invoke(root, "publish", env=server.env(), **kwargs)


def remote_copy(kit, published, dest: Path, name: str) -> tuple[Path, Path]:
    """A copy whose lineage names machine A's images, with a new, empty remote; its storage."""
    root = kit.copy(name, dest=dest)
    shutil.copy(published.root / lineage.PATH, root / lineage.PATH)
    storage_name = f"{name}-{uuid.uuid4().hex[:8]}"
    kit.dvc(root, "remote", "add", "--default", REMOTE, published.server.url(storage_name))
    use_remote(kit, root, published.server)
    return root, published.server.storage(storage_name)


@pytest.fixture(scope="module")
def published(kit, ssh_server: SSHServer, tmp_path_factory):
    root = kit.copy("publisher")
    kit.change_source(root, uuid.uuid4().hex)  # an image of its own, removed at the end
    kit.archive_debs(root)
    projects.set_param(root, "max_iter", "40")
    raw = root / RAW
    raw.parent.mkdir(parents=True)
    raw.write_text("month,score\n2024-01,612\n2024-02,640\n")
    kit.dvc(root, "add", RAW)
    pipeline = yaml.safe_load((root / "dvc.yaml").read_text())
    pipeline["stages"]["bureau"] = RAW_STAGE
    (root / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    name = f"publisher-{uuid.uuid4().hex[:8]}"
    url = ssh_server.url(name)
    kit.dvc(root, "remote", "add", "--default", REMOTE, url)
    use_remote(kit, root, ssh_server)
    signer = keygen(kit, root, tmp_path_factory.mktemp("author") / "author.pem")
    (author_key,) = (root / keys.KEYS).glob("*.pub.pem")
    commands.commit_all(root, "an SSH remote, a raw input tracked by DVC, quick params, a key")
    built_at = kit.git(root, "rev-parse", "HEAD").strip()
    storage = ssh_server.storage(name)
    sizes = {}
    try:
        for version in ("v1", "v2"):
            if version == "v2":
                # A source change the model's stages depend on: they rerun, in the same image.
                io_module = root / "src/credit_model/io.py"
                io_module.write_text(io_module.read_text() + "# v2: a source change only\n")
            kit.invoke(root, "repro", env=signer)
            proc = publish(kit, root, ssh_server)
            assert "published; commit" in proc.stdout, proc.stdout
            commands.commit_all(root, f"{version}: results, published", tag=f"model/{version}")
            sizes[version] = remote_bytes(storage)
        metrics = root / "reports/metrics.json"
        values = json.loads(metrics.read_text())
        values["auc"] = round(values["auc"] + 0.05, 6)  # a better model, by hand
        metrics.write_text(json.dumps(values, indent=2) + "\n")
        commands.commit_all(root, "v3: tampered metrics", tag="model/v3")
        yield Published(root, ssh_server, url, sizes, author_key)
    finally:
        projects.remove_images_built_at(kit, built_at)
        for commit in kit.git(root, "rev-list", f"{built_at}..HEAD").split():
            projects.remove_images_built_at(kit, commit)


@pytest.fixture(scope="module")
def machine_b(kit, published: Published, second_engine, tmp_path_factory):
    """A fresh clone on an empty engine, with the key to the remote and nothing else."""
    root = tmp_path_factory.mktemp("machine-b") / "clone"
    commands.run(["git", "clone", "--quiet", published.root, root])
    use_remote(kit, root, published.server)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            "[tool.lockstep.base]\n", f'[tool.lockstep.base]\nmirrors = ["{UNREACHABLE}"]\n'
        )
    )
    assert not (root / ".dvc/cache").exists()
    env = {**published.server.env(), "DOCKER_HOST": second_engine.host}
    return root, env


def test_versions_that_differ_in_source_only_share_one_image_in_the_remote(published):
    v1, v2 = (set(lineage.read_at(published.root, f"model/{v}").images()) for v in ("v1", "v2"))
    assert v1 == v2 and len(v1) == 1, (v1, v2)  # the image holds no source
    # v2 sends its outputs only: not one more layer.
    assert published.sizes["v2"] / published.sizes["v1"] <= 1.01, published.sizes
    assert published.sizes["v1"] > 200_000_000  # the images are there, not only data


@pytest.fixture(scope="module")
def reran_on_b(kit, machine_b, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Validator]:
    """Machine B reruns model/v1, signed with a validator's key of their own."""
    root, env = machine_b
    before = set((root / keys.KEYS).glob("*.pub.pem"))
    env = {**env, **keygen(kit, root, tmp_path_factory.mktemp("validator-b") / "b.pem")}
    proc = kit.invoke(root, "rerun", "model/v1", env=env, timeout=900)
    commit = kit.git(root, "rev-parse", "model/v1^{commit}").strip()
    statement = (root / signing.RERUNS / f"{commit}.json").read_bytes()
    return proc, Validator(root, env, public_key(root, before), statement)


def test_a_fresh_machine_reruns_a_release_with_everything_from_the_ssh_remote(
    kit, published, machine_b, reran_on_b
) -> None:
    env = machine_b[1]
    image_id = next(iter(lineage.read_at(published.root, "model/v1").images()))

    proc, _ = reran_on_b

    assert "reproduced: model/v1" in proc.stdout, proc.stdout + proc.stderr
    assert f"loading {image_id[:19]} from its layout in the DVC remote" in proc.stderr
    assert f"1 DVC-tracked input(s) of model/v1: {RAW}.dvc" in proc.stderr
    assert re.search(r"bureau\s+outputs/bureau.csv\s+identical", proc.stdout), proc.stdout
    on_b = commands.run(
        ["/usr/bin/docker", "--host", env["DOCKER_HOST"], "image", "inspect", image_id], check=False
    )
    assert on_b.returncode == 0, f"{image_id} is not in the second engine"


@pytest.fixture(scope="module")
def validators(kit, published, reran_on_b, tmp_path_factory) -> list[Validator]:
    """Two validators who reran model/v1, on machine A's engine and on B's, each with a key of
    their own, then sent their signed statements with `publish --reruns`: no git push."""
    root = tmp_path_factory.mktemp("validator-a") / "clone"
    commands.run(["git", "clone", "--quiet", published.root, root])
    use_remote(kit, root, published.server)
    share_cache(kit, root, published)
    before = set((root / keys.KEYS).glob("*.pub.pem"))  # the author's, committed
    env = {**published.server.env(), **keygen(kit, root, root.parent / "a.pem")}
    kit.invoke(root, "rerun", "model/v1", env=env, timeout=900)
    (statement,) = (root / signing.RERUNS).glob("*.json")
    found = [
        Validator(root, env, public_key(root, before), statement.read_bytes()),
        reran_on_b[1],
    ]
    for validator in found:
        proc = kit.invoke(validator.root, "publish", "--reruns", env=validator.env)
        assert "published 1 signed rerun statement(s); commit nothing" in proc.stdout, proc.stderr
        assert f"sent {signing.RERUNS}/" in proc.stderr, proc.stderr
    return found


@pytest.fixture(scope="module")
def collected(kit, published, validators, tmp_path_factory) -> tuple[Path, str]:
    """A third clone, the author's, after `invoke pull model/v1`: the clone and pull's stderr."""
    clone = tmp_path_factory.mktemp("author") / "clone"
    commands.run(["git", "clone", "--quiet", published.root, clone])
    use_remote(kit, clone, published.server)
    share_cache(kit, clone, published)
    proc = kit.invoke(clone, "pull", "model/v1", env=published.server.env())
    return clone, proc.stderr


def test_two_validators_statements_reach_a_third_clone_through_the_remote(
    kit, published, validators, collected
) -> None:
    clone, said = collected
    commit = kit.git(clone, "rev-parse", "model/v1^{commit}").strip()

    folder = clone / paths.RERUNS_COLLECTED / commit
    got = {path.name: path.read_bytes() for path in folder.iterdir()}
    wanted = {hashlib.sha256(v.statement).hexdigest() + ".json": v.statement for v in validators}
    assert got == wanted, said  # exactly the two, byte for byte, named by their sha256
    assert "pull: collected 2 rerun statement(s) for model/v1" in said, said
    # Through the remote only: the publisher's git holds none.
    assert not kit.git(published.root, "ls-tree", "-r", "--name-only", "HEAD", signing.RERUNS)

    proc = kit.invoke(clone, "pull", "model/v2", env=published.server.env())

    assert "pull: no rerun statements for model/v2 in the remote" in proc.stderr, proc.stderr


def test_the_author_verifies_a_quorum_of_the_two_validators(
    kit, published, validators, collected, tmp_path
) -> None:
    clone, _ = collected
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    for key in [published.author_key, *(v.public_key for v in validators)]:
        shutil.copy(key, trusted / key.name)

    proc = kit.invoke(
        clone, "verify", "model/v1", "--quorum", "2", "--keys", str(trusted), check=False
    )

    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any(line.startswith("quorum: 2 of 2") for line in proc.stdout.splitlines())
    for validator in validators:
        assert validator.public_key.name.removesuffix(".pub.pem")[:12] in proc.stdout


def test_the_gate_requires_the_validators_quorum_its_settings_ask_for(
    kit, published, validators, collected
) -> None:
    quorum = 3  # two validators reran: the gate runs, prints the count, and refuses
    clone, _ = collected
    trusted = clone / "validators"  # committed in a real project, and protected as its code
    trusted.mkdir(exist_ok=True)
    for key in [published.author_key, *(v.public_key for v in validators)]:
        shutil.copy(key, trusted / key.name)
    text = (clone / "pyproject.toml").read_text().split("\n[tool.lockstep.validation]")[0]
    validation = f'\n[tool.lockstep.validation]\nquorum = {quorum}\nkeys = "validators"\n'
    (clone / "pyproject.toml").write_text(text + validation)

    proc = kit.invoke(
        clone, "gate", "--tags", "model/v1", env=published.server.env(), check=False, timeout=900
    )

    assert "reproduced: model/v1" in proc.stdout, proc.stdout + proc.stderr
    assert f"gate: each release needs {quorum} validators' signed reruns" in proc.stdout
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "error: 2 of 3 needed: signed reruns of commit" in proc.stderr, proc.stderr
    assert proc.stderr.rstrip().endswith("no quorum: model/v1"), proc.stderr


def test_the_gate_reruns_every_release_and_fails_on_the_tampered_one(kit, machine_b) -> None:
    root, env = machine_b

    proc = kit.invoke(root, "gate", env=env, check=False, timeout=1800)

    assert proc.returncode == 1, proc.stdout + proc.stderr
    summary = proc.stdout[proc.stdout.index("revision ") :]
    assert re.search(r"model/v1\s+sha256:\S+\s+identical", summary), summary
    assert re.search(r"model/v2\s+sha256:\S+\s+identical", summary), summary
    assert re.search(r"model/v3\s+sha256:\S+\s+DIFFERS\s+.*reports/metrics.json", summary)
    assert "not reproduced: model/v3" in proc.stderr


def test_pull_restores_a_revision_so_that_repro_has_nothing_to_do(
    kit, published, machine_b
) -> None:
    root, env = machine_b
    clone = root.parent / "pull"
    commands.run(["git", "clone", "--quiet", "--branch", "model/v2", published.root, clone])
    use_remote(kit, clone, published.server)

    proc = kit.invoke(clone, "pull", "model/v2", env=env)

    assert proc.stdout.split() == list(lineage.read(clone / lineage.PATH).images())
    status = kit.dvc(clone, "status", "--json")
    assert json.loads(status.stdout) == {}, status.stdout  # everything checked out, unchanged
    assert (clone / RAW).read_text().startswith("month,score")

    # Nothing to rebuild or regenerate: the image has its content tag, the extract is pulled.
    proc = kit.invoke(clone, "repro", env=env)

    assert "docker build" not in proc.stderr, proc.stderr
    assert "Running stage" not in proc.stdout + proc.stderr
    assert "outputs identical to the committed dvc.lock" in proc.stderr


def test_a_fresh_clone_reproduces_then_publishes_only_what_the_remote_lacks(
    kit, published, machine_b
) -> None:
    """docs/sharing.md's walk-through on a new machine (an engine without the image): clone,
    repro, publish. The remote holds every result and the image the lineage names, so nothing
    is sent and nothing is missing."""
    root, env = machine_b
    clone = root.parent / "fresh-clone"
    commands.run(["git", "clone", "--quiet", "--branch", "model/v2", published.root, clone])
    use_remote(kit, clone, published.server)
    # Package downloads are not what this tests: the machine's distribution trees serve them.
    env = {**env, "XDG_CACHE_HOME": str(Path.home() / ".cache")}
    recorded = lineage.read(clone / lineage.PATH)
    pull = [kit.dvc_cli, "pull", "--quiet", "dvc.yaml", f"{RAW}.dvc"]
    commands.run(pull, clone, env=kit.env(clone, **env), timeout=600)

    proc = kit.invoke(clone, "repro", env=env, timeout=1800)

    assert "Running stage" not in proc.stdout + proc.stderr
    assert "outputs identical to the committed dvc.lock" in proc.stderr
    # No stage ran: the record is the one committed, though the run checked outputs out.
    assert lineage.read(clone / lineage.PATH) == recorded, proc.stderr[-4000:]

    proc = kit.invoke(clone, "publish", env=env)

    assert "published; commit nothing" in proc.stdout, proc.stdout + proc.stderr
    assert "docker save" not in proc.stderr  # no layout written: the remote has the image
    assert "missing" not in (proc.stdout + proc.stderr).lower()
    assert re.search(r"Everything is up to date", proc.stderr), proc.stderr


def test_a_replay_whose_data_is_out_of_reach_says_so_in_one_line(kit, published, tmp_path):
    clone = tmp_path / "clone"
    commands.run(["git", "clone", "--quiet", published.root, clone])
    closed = published.url.replace(f":{published.server.port}/", f":{commands.free_port()}/")
    kit.dvc(clone, "remote", "modify", "--local", REMOTE, "url", closed)
    use_remote(kit, clone, published.server)
    before = projects.checkout_state(clone)

    proc = kit.invoke(clone, "rerun", "model/v1", env=published.server.env(), check=False)

    error = commands.one_error(proc)
    assert error.startswith(f"error: missing data at model/v1: {RAW}"), error
    assert "not in the DVC cache, and cannot fetch from the DVC remote 'origin'" in error, error
    assert "check that the remote is reachable" in error, error
    assert projects.checkout_state(clone) == before


def test_publish_again_sends_nothing(kit, published) -> None:
    proc = publish(kit, published.root, published.server)
    assert "published; commit nothing" in proc.stdout
    assert "docker save" not in proc.stderr
    assert re.search(r"Everything is up to date", proc.stderr), proc.stderr


@pytest.mark.parametrize("problem", ["wrong key", "unreachable"])
def test_a_remote_that_refuses_gives_one_line(kit, published, tmp_path, problem) -> None:
    server = published.server
    root, _ = remote_copy(kit, published, tmp_path / "copy", problem.replace(" ", "-"))
    (root / "data.csv").write_text("a,b\n1,2\n")
    kit.dvc(root, "add", "data.csv")  # something to send: the first push meets the remote
    if problem == "unreachable":
        url = published.url.replace(f":{server.port}/", f":{commands.free_port()}/")
        kit.dvc(root, "remote", "modify", REMOTE, "url", url)
    else:
        use_remote(kit, root, server, key=server.folder / "host_key")

    proc = publish(kit, root, server, check=False)

    error = commands.one_error(proc)
    assert f"cannot push to the DVC remote '{REMOTE}'" in error, error
    expected = "check the remote's key" if problem == "wrong key" else "is reachable"
    assert expected in error, error
    assert "docker save" not in proc.stderr  # refused before any image was written


def workflow_steps(workflow: Path, job: str) -> dict[str, str]:
    """The `run:` scripts of a GitHub Actions job, by step name."""
    steps = yaml.safe_load(workflow.read_text())["jobs"][job]["steps"]
    return {step["name"]: step["run"] for step in steps if "run" in step}


def test_the_refresh_workflow_goes_from_no_champion_to_a_release_decision(
    kit, published, tmp_path
) -> None:
    """The workflow's own commands, on a fresh runner: an empty engine, a clone with no tag."""
    origin = tmp_path / "origin.git"
    commands.run(["git", "init", "--quiet", "--bare", "--initial-branch", "main", origin])
    kit.git(published.root, "push", "--quiet", str(origin), "model/v2^{commit}:refs/heads/main")
    runner = tmp_path / "runner"
    commands.run(["git", "clone", "--quiet", origin, runner])
    server = published.server
    real_home = Path.home()
    outputs, summary = tmp_path / "github-output", tmp_path / "step-summary"
    env = {
        "HOME": str(tmp_path / "home"),  # a runner's own: the secrets make its ssh setup
        "DVC_SSH_KEY": server.key.read_text(),
        "DVC_SSH_KNOWN_HOSTS": (server.home / ".ssh/known_hosts").read_text(),
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
        # Package downloads are not what this tests: the machine's caches serve them.
        "UV_CACHE_DIR": str(real_home / ".cache/uv"),
        "PIP_CACHE_DIR": str(real_home / ".cache/pip"),
    }
    steps = workflow_steps(kit.repo / ".github/workflows/refresh.yml", "refresh")
    engine = machines.SecondEngine().start()
    ran = {}
    try:
        for name in ("Connect the remotes", "First champion", "Refresh"):
            # As GitHub runs a step: bash --noprofile --norc -eo pipefail {0}
            ran[name] = commands.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", steps[name]],
                runner,
                env={**env, "DOCKER_HOST": engine.host},
                timeout=1800,
            )
    finally:
        engine.stop()

    assert kit.git(origin, "tag", "--list") == "model/v1\n"  # the first champion, pushed
    assert kit.git(origin, "rev-parse", "model/v1") == kit.git(origin, "rev-parse", "main")
    code = re.search(r"code=(\d+)", outputs.read_text()).group(1)
    assert code in ("0", "3"), ran["Refresh"].stderr
    report = summary.read_text()
    decision = "release recommended" if code == "3" else "no action"
    assert decision in report.lower(), report
    assert "from its layout in the DVC remote" in ran["First champion"].stderr


def test_an_interrupted_publish_tracks_nothing_half_written_and_resumes(
    kit, published, tmp_path
) -> None:
    root, storage = remote_copy(kit, published, tmp_path / "copy", "interrupted")
    process = subprocess.Popen(
        [kit.invoke_cli, "-r", root, "publish"],
        env=kit.env(root, **published.server.env()),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stderr:
        if "archive: writing images/" in line:
            break
    time.sleep(1)  # inside `docker save`
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(60) == 130, rest
    assert "interrupted: nothing was left running" in rest
    assert not list((root / "images").glob("*.dvc"))  # nothing tracked as published
    assert not [p for p in (root / "images").iterdir() if not p.name.startswith(".")]

    proc = publish(kit, root, published.server)

    assert "published; commit images/" in proc.stdout
    layouts = [str(path.relative_to(root)) for path in (root / "images").glob("*.dvc")]
    status = kit.dvc(root, "status", "--cloud", "--json", *layouts)
    assert json.loads(status.stdout or "{}") == {}, status.stdout  # the remote has every blob
    assert remote_bytes(storage) > 200_000_000


def test_a_full_remote_disk_gives_one_line(kit, published, tmp_path) -> None:
    machines.require_root("mounts a small filesystem as the remote's disk")
    root, storage = remote_copy(kit, published, tmp_path / "copy", "full-disk")
    (root / "data.bin").write_bytes(os.urandom(3_000_000))
    kit.dvc(root, "add", "data.bin")
    commands.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0777", "tmpfs", storage])
    try:
        proc = publish(kit, root, published.server, check=False)
    finally:
        commands.run(["umount", storage])

    error = commands.one_error(proc)
    assert f"cannot push to the DVC remote '{REMOTE}'" in error, error
    assert "failed to upload; the remote refused them: check its free space" in error, error
    assert "docker save" not in proc.stderr


@dataclass
class Outage:
    """A clone of the publisher whose remote, a copy of its own, is on a server to kill."""

    root: Path
    server: SSHServer
    storage: Path

    def env(self) -> dict[str, str]:
        return self.server.env()


@pytest.fixture
def outage(kit, published, tmp_path):
    server = SSHServer().start()
    try:
        storage = server.storage("outage")
        # Hard links: the publisher's remote, at no cost; DVC replaces files, never edits them.
        source = urllib.parse.urlparse(published.url).path
        commands.run(["cp", "--archive", "--link", f"{source}/.", storage])
        commands.run(["chown", "-R", f"{server.user.pw_uid}:{server.user.pw_gid}", storage])
        root = tmp_path / "clone"
        commands.run(["git", "clone", "--quiet", published.root, root])
        kit.dvc(root, "remote", "modify", "--local", REMOTE, "url", server.url("outage"))
        use_remote(kit, root, server)
        yield Outage(root, server, storage)
    finally:
        server.stop()


def add_big_input(kit, outage: Outage) -> int:
    """A DVC-tracked folder of random files, committed: long enough to send to be cut midway.

    Returns the number of objects it makes (its files and its listing).
    """
    folder = outage.root / "data/big"
    folder.mkdir(parents=True)
    for number in range(48):
        (folder / f"{number}.bin").write_bytes(os.urandom(2_000_000))
    kit.dvc(outage.root, "add", "data/big")
    commands.commit_all(outage.root, "a big input")
    return 48 + 1


def test_the_remote_going_away_midway_through_a_publish_keeps_nothing_half_sent(kit, outage):
    root, server = outage.root, outage.server
    objects = add_big_input(kit, outage)
    before = projects.checkout_state(root)
    had = len(faults.dvc_objects(outage.storage))

    # DVC's objects only: the remote also holds the validators' statements (lockstep/reruns/).
    landed = lambda: len(faults.whole_files(outage.storage / "files" / "md5")) > had  # noqa: E731
    with faults.kill_when(landed, server.kill) as killed:
        proc = publish(kit, root, server, check=False)

    assert killed.is_set(), proc.stderr
    error = commands.one_error(proc)
    assert f"error: the DVC remote '{REMOTE}' went away during the push: " in error, error
    assert "only what is missing is sent" in error, error
    sent = len(faults.dvc_objects(outage.storage)) - had  # every one whole
    assert 0 < sent < objects, sent  # the kill landed midway
    assert projects.checkout_state(root) == before

    server.start()
    proc = publish(kit, root, server)

    assert "published; commit nothing" in proc.stdout, proc.stdout + proc.stderr
    status = kit.dvc(root, "status", "--cloud", "--json", "data/big.dvc")
    assert json.loads(status.stdout or "{}") == {}, status.stdout
    assert len(faults.dvc_objects(outage.storage)) == had + objects


def fetch_cut_midway(kit, outage: Outage, *task: str) -> str:
    """`invoke TASK`, the remote killed once objects land whole in the DVC cache: its one line.

    Checked here: the line says the remote went away during the fetch, every object that
    arrived is whole, and the checkout is as it was.
    """
    root = outage.root
    cache = root / ".dvc/cache"
    before = projects.checkout_state(root)

    landed = lambda: len(faults.whole_files(cache)) > 1  # noqa: E731
    with faults.kill_when(landed, outage.server.kill) as killed:
        proc = kit.invoke(root, *task, env=outage.env(), check=False)

    assert killed.is_set(), proc.stderr
    error = commands.one_error(proc)
    assert f"the DVC remote '{REMOTE}' went away during the fetch: " in error, error
    assert faults.dvc_objects(cache)  # every one whole
    assert projects.checkout_state(root) == before
    return error


def test_the_remote_going_away_midway_through_a_pull_keeps_nothing_half_fetched(kit, outage):
    root, server = outage.root, outage.server

    error = fetch_cut_midway(kit, outage, "pull", "model/v1")

    assert error.startswith(f"error: the DVC remote '{REMOTE}' went away"), error
    assert "only what is missing is fetched" in error, error

    server.start()
    proc = kit.invoke(root, "pull", "model/v1", env=outage.env())

    assert proc.stdout.split() == list(lineage.read_at(root, "model/v1").images())


def test_the_remote_going_away_midway_through_a_reruns_fetch_says_so(kit, outage):
    root, server = outage.root, outage.server
    kit.git(root, "checkout", "--quiet", "-b", "big", "model/v1")
    add_big_input(kit, outage)
    push = [kit.dvc_cli, "push", "--quiet", "data/big.dvc"]
    commands.run(push, root, env=kit.env(root, **outage.env()))
    shutil.rmtree(root / ".dvc/cache")  # the rerun fetches its inputs from the remote

    error = fetch_cut_midway(kit, outage, "rerun", "big")

    assert error.startswith("error: missing data at big: "), error
    missing = error.removeprefix("error: missing data at big: ").partition(" is not in")[0]
    assert "data/big" in missing.split(", "), error  # with what else the rerun needs

    server.start()
    proc = kit.invoke(root, "rerun", "big", env=outage.env(), timeout=900)

    assert "reproduced: big" in proc.stdout, proc.stdout + proc.stderr
