"""`invoke verify`: a real run signed with a key from `invoke keygen` verifies; a byte changed in
the metrics, dvc.lock or the image fails it in one line naming what differs, and one changed in
the model's copy in the DVC cache is named as damaged there."""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lockstep import paths
from lockstep.records import keys, lineage, signing

from tests.support import commands

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def signed(kit, tmp_path_factory):
    """A copy with its own image (retagging it disturbs no other test), a key made by
    `invoke keygen`, and a run signed with it, committed."""
    project = kit.copy("attest")
    kit.change_source(project, "attest")
    key = tmp_path_factory.mktemp("key") / "signing-key.pem"
    made = kit.invoke(project, "keygen", "--output", str(key))
    commands.commit_all(project, "this copy's own image, and the project's public key")
    built: list[str] = []
    try:
        kit.invoke(project, "repro", env={keys.VARIABLE: str(key)})
        built += lineage.read(project / lineage.PATH).images()
        commands.commit_all(project, "signed results")
        yield project, key, made.stdout
    finally:
        for image_id in built:
            kit.docker("image", "rm", "--force", image_id, check=False)


def failure(kit, project: Path, rev: str) -> str:
    """`invoke verify REV`, which must fail with one line; that line."""
    proc = kit.invoke(project, "verify", rev, check=False)
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)  # 2: cannot check
    # Progress lines aside (which docker CLI the kit uses), the error is one line.
    (line,) = [line for line in proc.stderr.splitlines() if not line.startswith("lockstep: ")]
    print(f"$ ./inv verify {rev}\n{line}")
    assert line.startswith("error: ")
    return line


def committed_variant(kit, project: Path, tag: str, path: str) -> str:
    """A commit on top of HEAD with one byte of `path` changed, tagged; the checkout untouched."""
    tree = Path(tempfile.mkdtemp(prefix="lockstep-it-attest-")) / "tree"
    kit.git(project, "worktree", "add", "--detach", "--quiet", str(tree), "HEAD")
    try:
        flip_last_byte(tree / path)
        kit.git(tree, "commit", "--quiet", "--all", "-m", f"{path}: one byte changed")
        kit.git(tree, "tag", tag)
    finally:
        kit.git(project, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(tree.parent, ignore_errors=True)
    return tag


def flip_last_byte(path: Path) -> Callable[[], None]:
    """Change the last byte of a file (a new file, never one a cache links to); the undo."""
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))

    def restore() -> None:
        path.unlink(missing_ok=True)  # a damaged DVC cache file is removed by the kit
        path.write_bytes(data)

    return restore


def test_keygen_and_a_signed_run_verify(kit, signed):
    project, key, made = signed
    assert key.stat().st_mode & 0o777 == 0o600
    (public,) = kit.git(project, "ls-files", keys.KEYS).split()
    assert public in made and f"{keys.VARIABLE}={key}" in made
    assert signing.PATH in kit.git(project, "ls-files", "reports")

    proc = kit.invoke(project, "verify", "HEAD")
    print(f"$ ./inv verify HEAD\n{proc.stdout}")
    keyid = Path(public).name.removesuffix(".pub.pem")
    assert proc.stdout.startswith(f"verified {signing.PATH} at HEAD: signed by key {keyid[:12]}")
    subjects = 1 + len(kit.outputs)  # dvc.lock and every output, each one file here
    assert f"{subjects} subjects" in proc.stdout


def test_verify_trusts_a_folder_of_keys_the_validator_keeps(kit, signed, tmp_path):
    project, _, _ = signed
    (public,) = kit.git(project, "ls-files", keys.KEYS).split()
    kept = tmp_path / "team-keys"
    kept.mkdir()
    shutil.copy(project / public, kept)
    proc = kit.invoke(project, "verify", "HEAD", "--keys", str(kept))
    assert f"of {kept}/" in proc.stdout.splitlines()[0]

    # The validator holds another key only: the one committed in keys/ does not count.
    (kept / Path(public).name).unlink()
    other = Ed25519PrivateKey.generate().public_key()
    pem = other.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    (kept / "other.pub.pem").write_bytes(pem)
    proc = kit.invoke(project, "verify", "HEAD", "--keys", str(kept), check=False)
    print(f"$ ./inv verify HEAD --keys {kept}\n{proc.stderr}")
    assert proc.returncode == 1, proc.stderr
    assert f"does not verify with any key in {kept}/" in proc.stderr


def test_a_model_damaged_in_the_dvc_cache_is_named_and_removed_not_taken_for_another(kit, signed):
    project, _, _ = signed
    md5 = lineage.output_hashes(lineage.read_dvc_lock(project))["outputs/train/model.pkl"]
    cached = project / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    restore = flip_last_byte(cached)
    try:
        proc = kit.invoke(project, "verify", "HEAD", check=False)
        assert not cached.exists()  # what DVC would check out, or push, is no longer there
    finally:
        restore()
    print(f"$ ./inv verify HEAD\n{proc.stderr}")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)  # the model could not be checked
    assert commands.one_error(proc) == (
        f"error: the DVC cache's copy of outputs/train/model.pkl is damaged: {cached} no longer "
        "hashes to its name; removed it from the cache; `invoke pull HEAD` fetches it again, then "
        "verify again"
    )
    kit.invoke(project, "verify", "HEAD")  # with a good copy back


@pytest.mark.parametrize("path", ["reports/metrics.json", "dvc.lock"])
def test_a_committed_change_of_metrics_or_dvc_lock_fails(kit, signed, path):
    project, _, _ = signed
    tag = committed_variant(kit, project, f"tampered-{Path(path).stem}", path)
    line = failure(kit, project, tag)
    assert line.startswith(f"error: {path} at {tag} does not match the signed record (sha256 ")


def test_another_image_under_the_recorded_tag_fails(kit, signed):
    project, _, _ = signed
    (run,) = lineage.read(project / lineage.PATH).images().values()
    tag, image_id = run.environment.image_tag, run.environment.image_id
    dockerfile = f"FROM {tag}\nUSER root\nRUN echo x >> /etc/issue\n"
    kit.docker("build", "--quiet", "--tag", tag, "-", input=dockerfile)
    derived = kit.image_id(tag)
    try:
        assert derived != image_id
        line = failure(kit, project, "HEAD")
    finally:
        kit.docker("tag", image_id, tag)
        kit.docker("image", "rm", derived, check=False)
    assert line.startswith(f"error: image {tag} in the engine does not match the signed record")
    kit.invoke(project, "verify", "HEAD")  # the tag restored, it verifies again


def test_a_rerun_signs_its_verdict_and_verify_checks_it(kit, signed):
    project, key, _ = signed
    commit = kit.git(project, "rev-parse", "HEAD").strip()

    proc = kit.invoke(project, "rerun", "HEAD", env={keys.VARIABLE: str(key)})

    written = f"{signing.RERUNS}/{commit}.json"
    assert f"signed this verdict: {written} (`invoke publish --reruns` sends" in proc.stdout
    commands.commit_all(project, "the rerun's signed verdict")
    verified = kit.invoke(project, "verify", "HEAD").stdout
    print(f"$ ./inv verify HEAD\n{verified}")
    assert f"  1 signed rerun verdicts ({signing.RERUNS}/): as signed\n" in verified + "\n"

    # It names this machine: the engine's ID, and what the probe found in the rerun.
    statement = json.loads(base64.b64decode(json.loads((project / written).read_text())["payload"]))
    machine = statement["predicate"]["machine"]
    assert machine["engine"] == kit.docker("info", "--format", "{{.ID}}").stdout.strip()
    assert machine["facts"]["cpu"]["cpus"] >= 1 and "thread_pools" in machine["facts"]
    check_quorum(kit, project, commit, statement)


def check_quorum(kit, project: Path, commit: str, statement: dict) -> None:
    """`verify --quorum` on the author's signed rerun and a validator's from another engine
    (the same verdict, signed with another key): the table, and one statement short."""
    kept = Path(tempfile.mkdtemp(prefix="lockstep-it-validators-"))
    try:
        validator = kept / "validator.pem"
        _, public = keys.keygen(kept / "clone", str(validator))
        shutil.copy(public, kept)
        (public,) = kit.git(project, "ls-files", keys.KEYS).split()
        shutil.copy(project / public, kept)
        statement["predicate"]["machine"]["engine"] = "ANOTHER:ENGINE"
        data = signing.sign(statement, keys.load_signer(validator))
        collected = project / paths.RERUNS_COLLECTED / commit / "validator.json"
        collected.parent.mkdir(parents=True)
        collected.write_bytes(data)

        proc = kit.invoke(project, "verify", commit, "--quorum", "1", "--keys", str(kept))
        print(f"$ ./inv verify {commit} --quorum 1 --keys {kept}\n{proc.stdout}")
        assert "(the author's key: not counted)" in proc.stdout
        assert proc.stdout.splitlines()[-1].startswith("quorum: 1 of 1 needed: keys ")
        short = kit.invoke(
            project, "verify", commit, "--quorum", "2", "--keys", str(kept), check=False
        )
        assert short.returncode == 2, (short.stdout, short.stderr)
        assert commands.one_error(short).startswith("error: 1 of 2 needed: signed reruns of")
    finally:
        shutil.rmtree(kept)
        shutil.rmtree(project / paths.RERUNS_COLLECTED, ignore_errors=True)


def test_a_sweep_point_run_here_is_signed_and_verifies_at_its_experiment(kit, signed):
    project, key, _ = signed
    sweep = ["sweep", "--on", "local", "--name", "signed", "--", "-S", "train.max_iter=30"]

    kit.invoke(project, *sweep, env={keys.VARIABLE: str(key)})

    listed = kit.git(project, "for-each-ref", "--format=%(refname)", "refs/exps/*/*/signed-1")
    (ref,) = listed.split()
    assert "max_iter: 30" in kit.git(project, "show", f"{ref}:params.yaml")
    proc = kit.invoke(project, "verify", ref)
    assert proc.stdout.startswith(f"verified {signing.PATH} at {ref}: signed by key"), proc.stdout
    record = json.loads(kit.git(project, "show", f"{ref}:{lineage.PATH}"))
    assert "job" not in record["stages"]["train"]  # run here: no cluster job
    assert record["stages"]["train"]["machine"]
