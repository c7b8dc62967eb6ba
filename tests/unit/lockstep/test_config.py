from pathlib import Path

import pytest
from lockstep import config
from lockstep.errors import ConfigError
from lockstep.runtime import params


def write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(body)
    return tmp_path


def test_a_projects_settings_load_with_the_kits_defaults(tmp_path):
    settings = config.load(write(tmp_path, '[tool.lockstep]\nimage = "x"\n'))
    assert settings.image == "x"
    assert settings.base.bootstrap
    assert settings.refresh.tag_prefix == "model/v"
    assert settings.refresh.missing() == list(config.REFRESH_NEEDS)


def test_this_projects_settings_load_and_its_params_pass_its_own_check():
    settings = config.load(Path(__file__).resolve().parents[3])
    assert settings.image
    params.check_with(settings.params, settings.path("params.yaml"))


def test_a_snapshot_needs_a_mirror_to_take_it_from(tmp_path):
    body = '[tool.lockstep]\nimage = "x"\n[tool.lockstep.base]\nsnapshot = "20261128T000000Z"\n'
    with pytest.raises(ConfigError, match=r"no snapshot_mirrors entry has \{snapshot\}"):
        config.load(write(tmp_path, body))
    body += 'snapshot_mirrors = ["http://127.0.0.1:9/{snapshot}"]\n'
    assert config.load(write(tmp_path, body)).base.snapshot == "20261128T000000Z"


def test_unknown_key_is_refused(tmp_path):
    root = write(tmp_path, '[tool.lockstep]\nimage = "x"\nimgae = "y"\n')
    with pytest.raises(ConfigError, match=r"imgae: unknown setting"):
        config.load(root)


def test_wrong_type_is_refused(tmp_path):
    root = write(tmp_path, '[tool.lockstep]\nimage = "x"\n[tool.lockstep.base]\nepoch = "soon"\n')
    with pytest.raises(ConfigError, match=r"epoch: expected int"):
        config.load(root)


def test_missing_image_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"image: missing"):
        config.load(write(tmp_path, "[tool.lockstep]\n"))


def test_unpinned_base_is_refused_unless_allowed(tmp_path):
    body = '[tool.lockstep]\nimage = "x"\n[tool.lockstep.base]\nimage = "python:3.11"\n'
    with pytest.raises(ConfigError, match="not pinned by digest"):
        config.load(write(tmp_path, body))
    allowed = config.load(write(tmp_path, body + "allow_unpinned = true\n"))
    assert not allowed.base.bootstrap


def test_malformed_toml_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"pyproject\.toml"):
        config.load(write(tmp_path, "[tool.lockstep\n"))


def test_ca_bundle_prefers_the_setting_then_the_environment_then_the_system(tmp_path, monkeypatch):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    system = tmp_path / "system-ca.crt"
    monkeypatch.setattr(config, "SYSTEM_CA_BUNDLES", (str(tmp_path / "none.crt"), str(system)))
    for name in config.CA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    root = write(tmp_path, '[tool.lockstep]\nimage = "x"\n')
    assert config.load(root).ca_bundle_path() is None
    system.write_text("y")
    assert config.load(root).ca_bundle_path() == system
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert config.load(root).ca_bundle_path() == bundle
    root = write(tmp_path, '[tool.lockstep]\nimage = "x"\nca_bundle = "ca.pem"\n')
    monkeypatch.delenv("SSL_CERT_FILE")
    assert config.load(root).ca_bundle_path() == bundle


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '[tool.lockstep]\nimage = "x"\nbase = "x"\n',
            r"\[tool.lockstep.base\] is 'x', not a table",
        ),
        ("[tool]\nlockstep = 3\n", r"\[tool.lockstep\] is 3, not a table"),
        ('[tool.lockstep]\nimage = "x"\nrefresh = []\n', r"\[tool.lockstep.refresh\] is \[\]"),
    ],
)
def test_a_setting_that_should_be_a_table_says_so(tmp_path, body, message):
    with pytest.raises(ConfigError, match=message):
        config.load(write(tmp_path, body))


def test_lint_paths_default_to_the_whole_project_and_an_adopted_one_opts_in(tmp_path):
    assert config.load(write(tmp_path, '[tool.lockstep]\nimage = "x"\n')).lint == (".",)
    adopted = write(tmp_path, '[tool.lockstep]\nimage = "x"\nlint = []\n')
    assert config.load(adopted).lint == ()


@pytest.mark.parametrize(
    ("body", "configured"),
    [
        ('[tool.lockstep]\nimage = "x"\n', False),
        ('[tool.lockstep]\nimage = "x"\n[tool.lockstep.refresh]\nwindow = "a.b"\n', True),
        ("[tool.lockstep\n", True),  # unreadable: offered, and the task says what is wrong
    ],
)
def test_refresh_is_offered_only_to_a_project_that_configures_it(tmp_path, body, configured):
    assert config.refresh_configured(write(tmp_path, body)) is configured


def test_the_executor_is_local_unless_set(tmp_path):
    assert config.load(write(tmp_path, '[tool.lockstep]\nimage = "x"\n')).executor.kind == "local"


def test_a_slurm_executor_takes_what_each_job_asks_for(tmp_path):
    body = (
        '[tool.lockstep]\nimage = "x"\n[tool.lockstep.executor]\nkind = "slurm"\n'
        'partition = "cpu"\ntime = "1-02:30"\ncpus = 4\nmemory = "16G"\n'
    )
    executor = config.load(write(tmp_path, body)).executor
    assert executor == config.ExecutorSettings("slurm", "cpu", "1-02:30", 4, "16G")


def test_the_gate_asks_no_quorum_unless_set(tmp_path):
    validation = config.load(write(tmp_path, '[tool.lockstep]\nimage = "x"\n')).validation
    assert validation == config.ValidationSettings(0, "")
    body = '[tool.lockstep]\nimage = "x"\n[tool.lockstep.validation]\nquorum = 2\nkeys = "v"\n'
    assert config.load(write(tmp_path, body)).validation == config.ValidationSettings(2, "v")


@pytest.mark.parametrize(
    ("table", "lines", "message"),
    [
        ("executor", 'kind = "kubernetes"', "kind: expected one of local, slurm, got 'kubernetes'"),
        (
            "executor",
            'kind = "slurm"\ntime = "2h"',
            "time: expected a Slurm time limit (90, 2:00:00, 1-12)",
        ),
        ("executor", 'kind = "slurm"\ntime = 90', "time: expected str, got 90"),
        (
            "executor",
            'kind = "slurm"\ncpus = -1',
            "cpus: expected a number of CPUs per job, got -1",
        ),
        (
            "executor",
            'kind = "slurm"\ncpus = true',
            "cpus: expected a number of CPUs per job, got True",
        ),
        (
            "executor",
            'kind = "slurm"\nmemory = "16GB"',
            "memory: expected a Slurm size such as 16G",
        ),
        ("executor", 'partition = "cpu"', 'apply to kind = "slurm" only'),
        ("executor", 'kind = "slurm"\nnodes = 2', "nodes: unknown setting"),
        (
            "validation",
            "quorum = 2",
            "quorum needs keys: the folder of the validators' public keys",
        ),
        (
            "validation",
            'quorum = -1\nkeys = "v"',
            "quorum: expected a number of validators, got -1",
        ),
        (
            "validation",
            'quorum = true\nkeys = "v"',
            "quorum: expected a number of validators, got True",
        ),
        ("validation", 'quorum = "2"', "quorum: expected int, got '2'"),
    ],
)
def test_a_malformed_table_is_one_line_naming_the_key(tmp_path, table, lines, message):
    body = f'[tool.lockstep]\nimage = "x"\n[tool.lockstep.{table}]\n{lines}\n'
    with pytest.raises(ConfigError) as caught:
        config.load(write(tmp_path, body))
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"[tool.lockstep.{table}] ")
    assert "\n" not in str(caught.value)
