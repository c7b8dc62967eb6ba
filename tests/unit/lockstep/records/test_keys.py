import pytest
from lockstep.config import Settings
from lockstep.errors import AttestationError
from lockstep.records import keys


def test_a_key_inside_the_project_is_refused(project, monkeypatch):
    (project / "key.pem").write_text("secret")
    monkeypatch.setenv(keys.VARIABLE, "key.pem")
    with pytest.raises(AttestationError, match="inside the project: a key must never be committed"):
        keys.key_path(Settings(root=project, image="img"))
    with pytest.raises(AttestationError, match="inside the project"):
        keys.keygen(project, str(project / "sub" / "key.pem"))


def test_the_variable_wins_over_the_setting(project, tmp_path, monkeypatch):
    settings = Settings(root=project, image="img", signing_key=str(tmp_path / "setting.pem"))
    monkeypatch.delenv(keys.VARIABLE, raising=False)
    assert keys.key_path(settings) == tmp_path / "setting.pem"
    monkeypatch.setenv(keys.VARIABLE, str(tmp_path / "variable.pem"))
    assert keys.key_path(settings) == tmp_path / "variable.pem"


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(project, key):
    private, public = key
    assert private.stat().st_mode & 0o777 == 0o600
    assert public.parent == project / keys.KEYS and public.read_text().startswith("-----BEGIN")
    with pytest.raises(AttestationError, match="exists: a signing key is never overwritten"):
        keys.keygen(project, str(private))


def test_a_key_that_is_not_ed25519_is_refused(tmp_path):
    path = tmp_path / "key.pem"
    path.write_text("not a key")
    with pytest.raises(AttestationError, match="not an unencrypted ed25519 private key"):
        keys.load_signer(path)
    with pytest.raises(AttestationError, match="no signing key at"):
        keys.load_signer(tmp_path / "none.pem")
