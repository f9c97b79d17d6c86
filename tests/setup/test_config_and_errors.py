"""Every verb reads the service's configuration file, never the working folder; what cannot
be used is one line saying what to do (no traceback); a closed pipe ends quietly."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from district import config
from tests.helpers import BIN, REPO, clean_env, free_port


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(("error: ", "lỗi: "))
    return done.stderr


def test_provisioning_from_any_folder_reaches_the_services_database(installed, tmp_path):
    """The issue: provisioning run from a temporary folder wrote a district.db there."""
    out = tmp_path / "out"
    for folder in (tmp_path, installed.elsewhere):
        folder.mkdir(exist_ok=True)
    done = installed.run("fleet", "provision", str(REPO / "config" / "fleet.toml"),
                         "--server-url", installed.url, "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    listed = installed.run("terminals", "list", cwd=installed.elsewhere)
    assert listed.stdout.count("\tactive\t") == 21
    assert not list(tmp_path.glob("district.db*")) and not list(
        installed.elsewhere.glob("district.db*"))
    served_db = installed.root / "var" / "district.db"
    assert served_db.exists()


def test_db_flag_and_environment_come_before_the_configuration_file(installed, tmp_path):
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert installed.run("--db", other, "terminals", "add", "t-flag", "--unit", "u"
                         ).returncode == 0
    assert installed.run("terminals", "add", "t-env", "--unit", "u",
                         DISTRICT_DB=other).returncode == 0
    assert installed.run("--db", other, "terminals", "list").stdout.count("\t") >= 6
    assert "t-flag" not in installed.run("terminals", "list").stdout


def test_without_a_configuration_the_database_is_in_the_users_data_folder(monkeypatch,
                                                                           tmp_path):
    monkeypatch.delenv("DISTRICT_DB", raising=False)
    monkeypatch.delenv("DISTRICT_CONFIG", raising=False)
    monkeypatch.setattr(config, "DEFAULT_CONFIG", tmp_path / "absent" / "district.toml")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert config.resolve_db_url() == f"sqlite:///{tmp_path / 'data' / 'district' / 'district.db'}"
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert config.resolve_db_url() == "sqlite:////var/lib/district/district.db"


def test_a_missing_configuration_file_says_run_setup(district_root):
    error = one_line_error(district_root.run("stats", DISTRICT_DB=""))
    assert "district.toml does not exist" in error and "district setup" in error


@pytest.mark.parametrize(("text", "named"), [
    ('[listen]\nport = "eight"\n', "key listen.port: must be a whole number"),
    ('[listen]\nprot = 8000\n', "key listen.prot: unknown key"),
    ('[database\nurl = "x"\n', "is not valid TOML"),
])
def test_a_bad_configuration_file_names_the_key(district_root, text, named):
    district_root.config.parent.mkdir()
    district_root.config.write_text(text, encoding="utf-8")
    env = {k: v for k, v in district_root.env.items() if k != "DISTRICT_DB"}
    done = subprocess.run([str(BIN / "district"), "--lang", "en", "stats"], env=env,
                          capture_output=True, text=True, timeout=60, check=False,
                          cwd=district_root.elsewhere)
    assert named in one_line_error(done)
    vietnamese = subprocess.run([str(BIN / "district"), "--lang", "vi", "stats"], env=env,
                                capture_output=True, text=True, timeout=60, check=False,
                                cwd=district_root.elsewhere)
    assert "tệp cấu hình" in one_line_error(vietnamese)


def test_database_errors_are_one_line_with_the_fix(tmp_path):
    (tmp_path / "a-folder.db").mkdir()
    cases = {
        f"sqlite:///{tmp_path}/missing/district.db": ("folder", "does not exist",
                                                      "run `district setup`"),
        f"sqlite:///{tmp_path}/a-folder.db": ("unable to open database file", "Fix:"),
        f"postgresql://nobody@127.0.0.1:{free_port()}/none": ("cannot be reached", "Fix:"),
        "mysql+nodriver://x/y": ("is not a database URL", "sqlite:///PATH"),
    }
    for url, words in cases.items():
        done = subprocess.run([str(BIN / "district"), "--lang", "en", "--db", url, "stats"],
                              env=clean_env(), capture_output=True, text=True, timeout=60,
                              check=False, cwd=tmp_path)
        error = one_line_error(done)
        assert all(w in error for w in words), (url, error)
    assert not list(tmp_path.glob("*.db-*"))


def test_a_closed_pipe_ends_quietly(installed):
    """``district stats | head``: the reader is gone before the verb writes."""
    for args in (["stats"], ["stats", "--json"], ["terminals", "list"], ["--help"]):
        proc = subprocess.Popen([str(BIN / "district"), "--lang", "en", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=installed.env, cwd=installed.elsewhere)
        proc.stdout.close()  # what `head` does once it has its lines
        err = proc.stderr.read().decode()
        code = proc.wait(60)
        assert "Traceback" not in err and "BrokenPipe" not in err, (args, err)
        assert code in (0, 141), (args, code)


def test_the_shell_pipeline_too(installed):
    done = subprocess.run(f"{BIN / 'district'} --lang en stats --json | head -c 1",
                          shell=True, capture_output=True, text=True, env=installed.env,
                          cwd=installed.elsewhere, timeout=60, check=False)
    assert done.stdout == "{" and done.stderr == ""
    json.loads(installed.run("stats", "--json").stdout)


def test_the_example_file_validates_and_explains_every_key():
    example = REPO / "config" / "district.toml"
    settings = config.load_settings(str(example))
    text = example.read_text(encoding="utf-8")
    for section, field in config.Settings.model_fields.items():
        assert f"[{section}]" in text
        for key in field.annotation.model_fields:
            assert f"\n{key} = " in text, f"{section}.{key} is not in {example}"
    assert settings.https and settings.listen.port == 8443
