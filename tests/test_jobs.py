"""Jobs file parsing: valid files, and errors that name file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from incontainer.errors import JobsFileError
from incontainer.jobs import load_jobs

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "jobs.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(text)
    return path


def test_bundled_examples_parse() -> None:
    jobs = load_jobs(EXAMPLES)
    assert jobs.errors == ()
    assert len(jobs.workloads) >= 5
    names = [w.name for w in jobs.workloads]
    assert len(set(names)) == len(names)
    first = jobs.workloads[0]
    assert first.files["wordfreq.py"].startswith(b'"""')
    assert first.config.mounts[0].read_only is True


def test_missing_field_names_line_and_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "jobs:\n"
        "  - name: good\n"
        "    command: echo\n"
        "  - name: no-command\n"
        "    args: [x]\n",
    )
    jobs = load_jobs(path)
    assert [w.name for w in jobs.workloads] == ["good"]
    (error,) = jobs.errors
    assert error.line == 4
    assert error.field == "command"
    assert str(path) in str(error)
    assert ":4:" in str(error)


def test_unknown_command_is_reported(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "jobs:\n  - name: a\n    command: echo\n  - name: b\n    command: frobnicate\n",
    )
    jobs = load_jobs(path)
    (error,) = jobs.errors
    assert error.field == "command"
    assert error.line == 5
    assert "frobnicate" in str(error)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("    command: echo\n    timeout: -3\n", "timeout"),
        ("    command: echo\n    args: notalist\n", "args"),
        ("    command: echo\n    environment: cloud\n", "environment"),
        ("    command: echo\n    isolation: extreme\n", "isolation"),
        ("    command: echo\n    colour: red\n", "colour"),
        (
            "    command: echo\n    mounts: [{host: /nonexistent-dir, guest: /d}]\n",
            "mounts",
        ),
        ("    command: echo\n    files: {a.py: missing.py}\n", "files"),
        ("    command: echo\n    resources: {fuel: 0}\n", "resources"),
    ],
)
def test_invalid_field_reported(tmp_path: Path, body: str, field: str) -> None:
    path = _write(tmp_path, "jobs:\n  - name: j\n" + body)
    jobs = load_jobs(path)
    assert jobs.workloads == ()
    (error,) = jobs.errors
    assert error.field == field
    assert error.path == str(path)


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "jobs:\n  - name: a\n    command: [unclosed\n")
    with pytest.raises(JobsFileError) as caught:
        load_jobs(path)
    assert caught.value.line >= 3
    assert "invalid YAML" in str(caught.value)


def test_missing_jobs_list(tmp_path: Path) -> None:
    with pytest.raises(JobsFileError) as caught:
        load_jobs(_write(tmp_path, "defaults: {}\n"))
    assert caught.value.field == "jobs"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(JobsFileError, match="cannot read"):
        load_jobs(tmp_path / "absent.yaml")


def test_duplicate_names(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "jobs:\n  - {name: a, command: echo}\n  - {name: a, command: cat}\n",
    )
    jobs = load_jobs(path)
    assert len(jobs.workloads) == 1
    assert jobs.errors[0].field == "name"
    assert jobs.errors[0].line == 3


def test_package_mount(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "jobs:\n  - name: a\n    command: echo\n"
        "    mounts: [{host: 'pkg:fakeredis', guest: /d}]\n"
        "  - name: b\n    command: echo\n"
        "    mounts: [{host: 'pkg:no_such_package_xyz', guest: /d}]\n",
    )
    jobs = load_jobs(path)
    assert jobs.workloads[0].config.mounts[0].host_path.endswith("fakeredis")
    assert "no_such_package_xyz" in str(jobs.errors[0])


@pytest.mark.parametrize(
    "text",
    [
        "defaults: [1, 2]\njobs:\n  - {name: a, command: echo}\n",
        "defaults: 5\njobs:\n  - {name: a, command: echo}\n",
    ],
)
def test_invalid_defaults_is_a_file_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(JobsFileError) as caught:
        load_jobs(_write(tmp_path, text))
    assert caught.value.field == "defaults"
    assert caught.value.line == 1


def test_repeated_jobs_key_uses_the_last(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "jobs:\n  - {name: a, command: echo}\n"
        "jobs:\n  - {name: b, command: echo}\n  - {name: c}\n",
    )
    jobs = load_jobs(path)
    assert [w.name for w in jobs.workloads] == ["b"]
    assert jobs.errors[0].line == 5


def test_non_string_keys_are_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, "jobs:\n  - {name: a, command: echo, 1: x, zz: 1}\n")
    (error,) = load_jobs(path).errors
    assert error.field in ("1", "zz")


@pytest.mark.parametrize(
    "host", ["pkg:this.x", "pkg:..", "pkg:nonexist.sub", "pkg:fakeredis/../../.."]
)
def test_package_mounts_are_checked_without_imports(
    tmp_path: Path, host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(
        tmp_path,
        "jobs:\n  - name: a\n    command: echo\n"
        f"    mounts: [{{host: '{host}', guest: /d}}]\n",
    )
    (error,) = load_jobs(path).errors
    assert error.field == "mounts"
    assert "Beautiful is better" not in capsys.readouterr().out


def test_huge_values_give_short_messages(tmp_path: Path) -> None:
    aliases = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for level in range(1, 6):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        aliases += f"a{level}: &a{level} [{refs}]\n"
    path = _write(
        tmp_path,
        aliases + "jobs:\n  - name: a\n    command: echo\n    args: {k: *a5}\n",
    )
    (error,) = load_jobs(path).errors
    assert error.field == "args"
    assert len(str(error)) < 1000


@pytest.mark.parametrize("timeout", [".nan", ".inf", "1.0e+308", "700000"])
def test_unbounded_timeouts_rejected(tmp_path: Path, timeout: str) -> None:
    path = _write(
        tmp_path, f"jobs:\n  - {{name: a, command: echo, timeout: {timeout}}}\n"
    )
    (error,) = load_jobs(path).errors
    assert error.field == "timeout"
