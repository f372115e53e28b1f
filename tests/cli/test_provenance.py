"""Provenance at ``pack`` and ``register``, through the real CLI in real processes.

Each test makes a real git repository in tmp_path (``git init``, a commit, then a change to a
tracked file for "dirty"), runs ``modelpack`` in it with the environment a CI system sets, and
reads what landed in MLmodel, the version record, the event log and every output. Secrets sit
in the variables CI systems keep them in and in the remote URL; none may appear anywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelpack.provenance.ci import ALLOWLIST
from modelpack.provenance.git import strip_credentials
from tests.conftest import modelpack_cmd
from tests.registry_models import make_model

SECRET = "SEKRIT"  # every secret below contains it; no output or file may
REMOTE = f"https://ci-bot:ghp_{SECRET}1@github.com/acme/churn.git"
SECRETS = {
    "GITHUB_TOKEN": f"ghs_{SECRET}2",
    "CI_JOB_TOKEN": f"glcbt-{SECRET}3",
    "BUILDKITE_AGENT_ACCESS_TOKEN": f"bk{SECRET}4",
    "CIRCLE_TOKEN": f"cc{SECRET}5",
    "SYSTEM_ACCESSTOKEN": f"az{SECRET}6",
    "AWS_SECRET_ACCESS_KEY": f"aws{SECRET}7",
}

# Each CI system's variables as it sets them, and what provenance must record from them.
CI_SYSTEMS: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "github-actions": (
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_REPOSITORY": "acme/churn",
            "GITHUB_RUN_ID": "9876543210",
            "GITHUB_RUN_ATTEMPT": "2",
            "GITHUB_JOB": "train",
            "GITHUB_REF_NAME": "release",
        },
        {
            "run_url": "https://github.com/acme/churn/actions/runs/9876543210/attempts/2",
            "job": "train",
            "run_id": "9876543210",
        },
    ),
    "gitlab-ci": (
        {
            "GITLAB_CI": "true",
            "CI_PIPELINE_URL": "https://gitlab.example.com/acme/churn/-/pipelines/4411",
            "CI_PIPELINE_ID": "4411",
            "CI_JOB_NAME": "train-model",
            "CI_COMMIT_REF_NAME": "release",
        },
        {
            "run_url": "https://gitlab.example.com/acme/churn/-/pipelines/4411",
            "job": "train-model",
            "run_id": "4411",
        },
    ),
    "jenkins": (
        {
            "JENKINS_URL": "https://jenkins.example.com/",
            # Jenkins builds the URL from its configured root, which may carry credentials.
            "BUILD_URL": f"https://admin:{SECRET}8@jenkins.example.com/job/churn/57/",
            "JOB_NAME": "churn",
            "BUILD_NUMBER": "57",
            "GIT_BRANCH": "origin/release",
        },
        {"run_url": "https://jenkins.example.com/job/churn/57/", "job": "churn", "run_id": "57"},
    ),
    "buildkite": (
        {
            "BUILDKITE": "true",
            "BUILDKITE_BUILD_URL": "https://buildkite.com/acme/churn/builds/812",
            "BUILDKITE_LABEL": ":python: train",
            "BUILDKITE_BUILD_NUMBER": "812",
            "BUILDKITE_BRANCH": "release",
        },
        {"run_url": "https://buildkite.com/acme/churn/builds/812", "job": ":python: train", "run_id": "812"},
    ),
    "circleci": (
        {
            "CIRCLECI": "true",
            "CIRCLE_BUILD_URL": "https://circleci.com/gh/acme/churn/3301",
            "CIRCLE_JOB": "train",
            "CIRCLE_BUILD_NUM": "3301",
            "CIRCLE_BRANCH": "release",
        },
        {"run_url": "https://circleci.com/gh/acme/churn/3301", "job": "train", "run_id": "3301"},
    ),
    "azure-pipelines": (
        {
            "TF_BUILD": "True",
            "SYSTEM_COLLECTIONURI": "https://dev.azure.com/acme/",
            "SYSTEM_TEAMPROJECT": "churn",
            "BUILD_BUILDID": "120",
            "SYSTEM_JOBDISPLAYNAME": "Train",
            "BUILD_SOURCEBRANCHNAME": "release",
        },
        {
            "run_url": "https://dev.azure.com/acme/churn/_build/results?buildId=120",
            "job": "Train",
            "run_id": "120",
        },
    ),
}


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any CI, MLflow or git variable (the suite may itself
    run in CI), plus ``extra`` and the secrets a CI job holds."""
    env = {k: v for k, v in os.environ.items() if k not in ALLOWLIST and not k.startswith(("GIT_", "CI"))}
    return {**env, **SECRETS, **extra}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Tester", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
    )
    return done.stdout.strip()


def mp(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(modelpack_cmd(*args), cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def ok(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = mp(*args, cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    return done


def data(*args: str, cwd: Path, env: dict[str, str]) -> Any:
    return json.loads(ok(*args, "--json", cwd=cwd, env=env).stdout)["data"]


def mlmodel(folder: Path) -> dict[str, Any]:
    return yaml.safe_load((folder / "MLmodel").read_text())


def no_secret_under(*roots: Path) -> None:
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                assert SECRET.encode() not in path.read_bytes(), path


@pytest.fixture
def repo(tmp_path: Path, sk_model_file: Path, sample_csv: Path) -> Path:
    """A git repository with a model file, its sample and training data, committed once."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(sk_model_file, root / "model.joblib")
    shutil.copy(sample_csv, root / "sample.csv")
    shutil.copy(sample_csv, root / "train.csv")
    (root / "train.py").write_text("print('training')\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    git(root, "remote", "add", "origin", REMOTE)
    return root


def pack(repo: Path, out: str, env: dict[str, str], *extra: str) -> dict[str, Any]:
    return data("pack", "model.joblib", "-s", "sample.csv", "-o", out, *extra, cwd=repo, env=env)


@pytest.mark.parametrize("system", list(CI_SYSTEMS))
def test_pack_records_the_commit_and_the_ci_run(repo: Path, system: str) -> None:
    variables, expected = CI_SYSTEMS[system]
    commit = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "--detach")  # as CI checks out: the branch comes from CI
    result = pack(repo, "out", clean_env(**variables))

    recorded = mlmodel(repo / "out")["modelpack"]["provenance"]
    assert recorded["ci"] == {"system": system, **expected}
    assert recorded["git"] == {
        "commit": commit,
        "branch": "origin/release" if system == "jenkins" else "release",
        "dirty": False,
        "remote": "https://github.com/acme/churn.git",
    }
    assert result["provenance"] == recorded  # --json says what MLmodel holds
    assert "run_id" not in mlmodel(repo / "out")  # no MLflow run: MLflow's key stays absent
    no_secret_under(repo / "out")


def test_dirty_means_tracked_files_changed_and_untracked_files_do_not(repo: Path) -> None:
    env = clean_env()
    first = pack(repo, "out1", env)  # the output is untracked, inside the repository
    second = pack(repo, "out2", env)
    assert first["provenance"]["git"]["dirty"] is False
    assert second["digest"] == first["digest"]  # same input, same repository state: same digest
    assert "ci" not in first["provenance"]

    with (repo / "train.py").open("a") as handle:
        handle.write("print('changed')\n")
    dirty = pack(repo, "out3", env)
    assert dirty["provenance"]["git"]["dirty"] is True
    assert dirty["digest"] != first["digest"]

    git(repo, "commit", "-q", "-am", "second")
    clean = pack(repo, "out4", env)
    assert clean["provenance"]["git"] == {
        **first["provenance"]["git"],
        "commit": git(repo, "rev-parse", "HEAD"),
    }


def test_no_provenance_gives_the_same_bytes_in_any_repository_and_ci(repo: Path, tmp_path: Path) -> None:
    variables, _ = CI_SYSTEMS["github-actions"]
    inside = pack(repo, "out", clean_env(**variables), "--no-provenance")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("model.joblib", "sample.csv"):
        shutil.copy(repo / name, elsewhere / name)
    outside = pack(elsewhere, "out", clean_env(), "--no-provenance")
    assert inside["digest"] == outside["digest"]
    assert inside["provenance"] == {}
    assert "provenance" not in mlmodel(repo / "out")["modelpack"]
    # Metrics and params are the user's facts: recorded even then.
    with_metric = pack(repo, "out2", clean_env(**variables), "--no-provenance", "--metric", "auc=0.9")
    assert with_metric["provenance"] == {"metrics": {"auc": 0.9}}


def test_no_repository_no_commit_or_no_git_records_no_git_facts(
    tmp_path: Path, sk_model_file: Path, sample_csv: Path
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    shutil.copy(sk_model_file, plain / "model.joblib")
    shutil.copy(sample_csv, plain / "sample.csv")
    assert pack(plain, "out", clean_env())["provenance"] == {}

    git(plain, "init", "-q")  # a repository with no commit yet
    assert pack(plain, "out2", clean_env())["provenance"] == {}

    # No git on PATH at all (only the directory of the Python running the tests).
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "python").symlink_to(Path(sys.executable))
    git(plain, "add", ".")
    git(plain, "commit", "-q", "-m", "now a commit")
    assert pack(plain, "out3", clean_env())["provenance"]["git"]["dirty"] is False
    env = clean_env(PATH=str(bare))
    done = mp("pack", "model.joblib", "-s", "sample.csv", "-o", "out4", "--json", cwd=plain, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["data"]["provenance"] == {}


def test_the_model_files_repository_is_recorded_not_the_working_directorys(
    repo: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    result = data(
        "pack",
        str(repo / "model.joblib"),
        "-s",
        str(repo / "sample.csv"),
        "-o",
        str(tmp_path / "out"),
        cwd=elsewhere,
        env=clean_env(),
    )
    assert result["provenance"]["git"]["commit"] == git(repo, "rev-parse", "HEAD")


def test_metrics_params_and_training_data(repo: Path) -> None:
    result = pack(
        repo,
        "out",
        clean_env(),
        "--metric",
        "auc=0.91",
        "--metric",
        "rows=20",
        "--param",
        "C=1.0",
        "--param",
        "solver=lbfgs",
        "--training-data",
        "train.csv",
    )
    prov = result["provenance"]
    assert prov["metrics"] == {"auc": 0.91, "rows": 20.0}
    assert prov["params"] == {"C": "1.0", "solver": "lbfgs"}
    import hashlib

    train = (repo / "train.csv").read_bytes()
    assert prov["training_data"]["name"] == "train.csv"  # a name, never a machine path
    assert prov["training_data"]["sha256"] == hashlib.sha256(train).hexdigest()
    assert prov["training_data"]["size"] == len(train)
    assert prov["training_data"]["format"] == "csv"
    assert [c["name"] for c in prov["training_data"]["schema"]] == ["count", "ratio", "color", "flag"]
    assert [c["type"] for c in prov["training_data"]["schema"]] == ["long", "double", "string", "boolean"]

    # A format modelpack cannot read is still identified by its hash.
    (repo / "train.bin").write_bytes(b"\x00\x01opaque")
    opaque = pack(repo, "out2", clean_env(), "--training-data", "train.bin")["provenance"]["training_data"]
    assert opaque["format"] is None and opaque["schema"] is None and opaque["size"] == 8


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--metric", "auc=high", "the value must be a number"),
        ("--metric", "auc=nan", "finite number"),
        ("--metric", "bad*key=1", "a key is 1 to 250"),
        ("--metric", "novalue", "expected KEY=VALUE"),
    ],
)
def test_bad_metric_is_a_usage_error(repo: Path, option: str, value: str, message: str) -> None:
    done = mp(
        "pack", "model.joblib", "-s", "sample.csv", "-o", "out", option, value, cwd=repo, env=clean_env()
    )
    assert done.returncode == 2
    assert message in " ".join(done.stderr.split())
    assert not (repo / "out").exists()


def test_missing_training_data_is_not_found(repo: Path) -> None:
    done = mp(
        "pack",
        "model.joblib",
        "-s",
        "sample.csv",
        "-o",
        "out",
        "--training-data",
        "nope.csv",
        cwd=repo,
        env=clean_env(),
    )
    assert done.returncode == 4
    assert "training data file not found" in done.stderr


def test_register_records_the_version_and_inspect_list_history_show_it(repo: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    gh, _ = CI_SYSTEMS["github-actions"]
    gl, _ = CI_SYSTEMS["gitlab-ci"]
    pack(repo, "out", clean_env(**gh), "--metric", "auc=0.91", "--param", "C=1.0")
    with (repo / "train.py").open("a") as handle:
        handle.write("# edited after the pack\n")
    env = clean_env(MODELPACK_HOME=str(home), **gl)
    registered = data(
        "register",
        "out",
        "--name",
        "wifi_scoring_model",
        "--metric",
        "f1=0.8",
        "--metric",
        "auc=0.93",  # register's word wins over the package's
        "--training-data",
        "train.csv",
        cwd=repo,
        env=env,
    )
    ok("promote", "wifi_scoring_model", "1", "--stage", "Production", cwd=repo, env=env)

    record = json.loads((home / "models/wifi_scoring_model/versions/1/version.json").read_text())
    prov = record["provenance"]
    assert registered["provenance"] == prov
    assert set(prov) == {"git", "ci", "metrics", "params", "training_data", "registered_from"}
    assert prov["ci"]["system"] == "github-actions"  # built by the pack's CI run
    assert prov["git"]["dirty"] is False
    assert prov["metrics"] == {"auc": 0.93, "f1": 0.8}
    assert prov["params"] == {"C": "1.0"}
    assert prov["registered_from"]["ci"]["system"] == "gitlab-ci"
    assert prov["registered_from"]["git"]["dirty"] is True
    assert prov["registered_from"]["git"]["commit"] == prov["git"]["commit"]

    # "which commit, which CI run, which data, which metrics"
    shown = ok("inspect", "models:/wifi_scoring_model/Production", cwd=repo, env=env).stdout
    for text in (
        prov["git"]["commit"],
        "https://github.com/acme/churn/actions/runs/9876543210/attempts/2",
        "train.csv sha256:" + prov["training_data"]["sha256"][:12],
        "metric auc",
        "0.93",
        "registered from ci",
    ):
        assert text in shown, text
    inspected = data("inspect", "models:/wifi_scoring_model/Production", cwd=repo, env=env)
    assert inspected["provenance"] == prov
    # The folder itself holds what pack recorded (register's additions live in the record).
    folder = data("inspect", "out", cwd=repo, env=env)["provenance"]
    assert folder["metrics"] == {"auc": 0.91} and "registered_from" not in folder

    listing = ok("list", "wifi_scoring_model", cwd=repo, env=env).stdout
    assert "PROVENANCE" in listing and f"{prov['git']['commit'][:12]} github-actions 9876543210" in listing
    versions = data("list", "wifi_scoring_model", cwd=repo, env=env)["versions"]
    assert versions[0]["provenance"] == prov
    assert ok("list", "wifi_scoring_model", "--field", "provenance", cwd=repo, env=env).stdout.strip() == (
        json.dumps(prov, sort_keys=True)
    )
    history = ok("history", "wifi_scoring_model", cwd=repo, env=env).stdout
    assert f"built from {prov['git']['commit'][:12]} github-actions 9876543210" in history
    event = data("history", "wifi_scoring_model", cwd=repo, env=env)["events"][0]
    assert event["provenance"] == {"git": prov["git"], "ci": prov["ci"]}

    doctor = mp("doctor", cwd=repo, env=env)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    no_secret_under(home, repo / "out")


def test_register_no_provenance_and_an_mlflow_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    folder = make_model(tmp_path / "mlflow_model")
    doc = yaml.safe_load((folder / "MLmodel").read_text())
    doc["run_id"] = "0123456789abcdef0123456789abcdef"  # MLflow writes it for a model logged in a run
    (folder / "MLmodel").write_text(yaml.safe_dump(doc))
    (folder / "modelpack.manifest.json").unlink()
    env = clean_env(MODELPACK_HOME=str(home), **CI_SYSTEMS["circleci"][0])
    quiet = data("register", str(folder), "--name", "m", "--no-provenance", cwd=tmp_path, env=env)
    assert quiet["provenance"] == {"mlflow": {"run_id": "0123456789abcdef0123456789abcdef"}}
    loud = data("register", str(folder), "--name", "n", cwd=tmp_path, env=env)
    assert loud["provenance"]["registered_from"] == {
        "ci": {"system": "circleci", **CI_SYSTEMS["circleci"][1]}
    }
    listing = ok("list", "n", cwd=tmp_path, env=env).stdout
    assert "mlflow run 0123456789ab" in listing  # what the package records comes first


def test_an_mlflow_run_in_progress_writes_mlflows_run_id(repo: Path) -> None:
    env = clean_env(
        MLFLOW_RUN_ID="fedcba9876543210fedcba9876543210",
        MLFLOW_EXPERIMENT_ID="7",
        MLFLOW_TRACKING_URI=f"postgresql://mlflow:{SECRET}9@db.example.com/mlflow",
    )
    pack(repo, "out", env)
    doc = mlmodel(repo / "out")
    assert doc["run_id"] == "fedcba9876543210fedcba9876543210"
    assert doc["modelpack"]["provenance"]["mlflow"] == {
        "run_id": "fedcba9876543210fedcba9876543210",
        "experiment_id": "7",
        "tracking_uri": "postgresql://db.example.com/mlflow",
    }
    no_secret_under(repo / "out")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:token@github.com/o/r.git", "https://github.com/o/r.git"),
        ("https://ghp_abc@github.com/o/r.git", "https://github.com/o/r.git"),
        ("https://github.com/o/r.git?private_token=abc#x", "https://github.com/o/r.git"),
        ("ssh://git:pw@host:2222/o/r.git", "ssh://host:2222/o/r.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("deploy:pw@host:o/r.git", "host:o/r.git"),
        ("/srv/git/r.git", "/srv/git/r.git"),
    ],
)
def test_strip_credentials(url: str, shown: str) -> None:
    assert strip_credentials(url) == shown


def test_the_python_api_records_the_same(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelpack import Registry, api

    monkeypatch.delenv("GIT_DIR")  # the suite's isolation hides every repository (tests/conftest.py)
    monkeypatch.setenv("BUILDKITE", "true")
    monkeypatch.setenv("BUILDKITE_BUILD_NUMBER", "5")
    monkeypatch.setenv("BUILDKITE_AGENT_ACCESS_TOKEN", SECRETS["BUILDKITE_AGENT_ACCESS_TOKEN"])
    monkeypatch.chdir(repo)
    result = api.pack(
        repo / "model.joblib", sample=repo / "sample.csv", output=tmp_path / "out", metrics={"auc": 0.9}
    )
    assert result.provenance["ci"] == {"system": "buildkite", "run_url": None, "job": None, "run_id": "5"}
    assert result.provenance["metrics"] == {"auc": 0.9}
    version = Registry(tmp_path / "home").register(result, "api", params={"depth": 3})
    assert version.provenance["params"] == {"depth": "3"}
    assert version.provenance["registered_from"]["git"]["commit"] == result.provenance["git"]["commit"]
    plain = api.pack(
        repo / "model.joblib", sample=repo / "sample.csv", output=tmp_path / "plain", provenance=False
    )
    assert plain.provenance == {}
    no_secret_under(tmp_path / "out", tmp_path / "home")
