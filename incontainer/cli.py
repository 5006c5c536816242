"""The ``incontainer`` command line: run, exec, ps, doctor."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from incontainer.errors import IncontainerError, JobsFileError

app = typer.Typer(
    help="Run isolated workloads as WASM or gVisor containers on Ray.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

AddressOpt = Annotated[
    str | None,
    typer.Option(help="Ray address to join; default: start a local Ray on 127.0.0.1"),
]
RedisOpt = Annotated[
    str | None,
    typer.Option(help="Redis URL of the state store; default: a private redis-server"),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(help="Directory for the embedded store and workspaces"),
]


def _manager(address: str | None, redis_url: str | None, data_dir: Path | None) -> Any:
    from incontainer.manager import create_container_manager

    return create_container_manager(address, redis_url=redis_url, data_dir=data_dir)


def _first_line(data: bytes, width: int = 60) -> str:
    text = data.decode("utf-8", "replace").strip().splitlines()
    line = text[0] if text else ""
    return line if len(line) <= width else line[: width - 1] + "…"


@app.command()
def run(
    jobs_file: Annotated[Path, typer.Argument(help="YAML file with a 'jobs' list")],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print results as JSON")
    ] = False,
    explain: Annotated[
        bool, typer.Option(help="Show why each workload went where it went")
    ] = False,
    address: AddressOpt = None,
    redis_url: RedisOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Run every job in JOBS_FILE and print a results table.

    Exit code 0 when all jobs succeed, 1 when some failed or were invalid,
    2 when the file itself cannot be read.
    """
    from incontainer.jobs import load_jobs

    try:
        jobs = load_jobs(jobs_file)
    except JobsFileError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    for error in jobs.errors:
        err_console.print(f"[red]invalid job:[/red] {error}")
    order = {w.name: i for i, w in enumerate(jobs.workloads)}
    results: list[Any] = []
    explanations: dict[str, dict[str, Any]] = {}
    with _manager(address, redis_url, data_dir) as manager, _progress() as progress:
        task = progress.add_task("jobs", total=len(jobs.workloads))
        for handle, outcome in manager.map(jobs.workloads):
            results.append(outcome)
            if explain:
                explanations[outcome.workload.name] = handle.explain()
            progress.update(task, description=outcome.workload.name)
            progress.advance(task)
    results.sort(key=lambda r: order[r.workload.name])
    if json_output:
        _print_json(results, jobs.errors, explanations)
    else:
        _print_table(results)
        if explain:
            _print_explanations(results, explanations)
    failed = sum(not r.ok for r in results) + len(jobs.errors)
    if failed:
        err_console.print(f"{failed} of {len(results) + len(jobs.errors)} jobs failed")
        raise typer.Exit(1)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err_console,
        transient=True,
    )


def _status(result: Any) -> str:
    if result.error is not None:
        return f"error: {type(result.error).__name__}"
    return "ok" if result.result.exit_code == 0 else f"exit {result.result.exit_code}"


def _print_table(results: list[Any]) -> None:
    table = Table(title="incontainer run")
    for column in ("job", "placement", "status", "s", "output"):
        table.add_column(column, overflow="fold")
    for item in results:
        output = _first_line(item.result.stdout, 40) if item.result else str(item.error)
        backend = item.placement.get("backend", "") or "-"
        node = item.placement.get("node_id", "")
        table.add_row(
            item.workload.name,
            f"{backend}@{node[:6]}" if node else backend,
            _status(item),
            f"{item.duration_s:.2f}",
            output,
        )
    console.print(table)
    console.print("[bold]why each job went where it went[/bold]")
    for item in results:
        console.print(f"  {item.workload.name}: {item.placement.get('reason', '')}")


def _print_explanations(
    results: list[Any], explanations: dict[str, dict[str, Any]]
) -> None:
    for item in results:
        info = explanations.get(item.workload.name)
        if info is None:
            continue
        table = Table(title=f"{item.workload.name} ({info['kind']})")
        for column in ("placement", "total ms", "start", "run", "queue", "learned"):
            table.add_column(column)
        for cost in info["costs"]:
            mark = " (chosen)" if cost["placement"] == info["chosen"] else ""
            table.add_row(
                cost["placement"] + mark,
                f"{cost['total_s'] * 1000:.1f}",
                f"{cost['start_s'] * 1000:.1f}",
                f"{cost['run_s'] * 1000:.1f}",
                f"{cost['queue_s'] * 1000:.1f}",
                "yes" if cost["learned"] else "no",
            )
        for excluded in info["excluded"]:
            table.add_row(
                excluded["placement"], "excluded", "; ".join(excluded["reasons"])
            )
        console.print(table)


def _print_json(
    results: list[Any],
    errors: tuple[JobsFileError, ...],
    explanations: dict[str, dict[str, Any]],
) -> None:
    payload = {
        "results": [
            {
                "job": item.workload.name,
                "container_id": item.container_id,
                "ok": item.ok,
                "placement": dict(item.placement),
                "exit_code": item.result.exit_code if item.result else None,
                "stdout": item.result.stdout.decode("utf-8", "replace")
                if item.result
                else "",
                "stderr": item.result.stderr.decode("utf-8", "replace")
                if item.result
                else "",
                "truncated": item.result.truncated if item.result else False,
                "duration_s": round(item.duration_s, 4),
                "error": None
                if item.error is None
                else {"type": type(item.error).__name__, "message": str(item.error)},
                "explain": explanations.get(item.workload.name),
            }
            for item in results
        ],
        "invalid_jobs": [
            {"line": e.line, "field": e.field, "message": str(e)} for e in errors
        ],
    }
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")


@app.command(
    "exec",
    # Everything after COMMAND belongs to the command, options included.
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
def exec_command(
    command: Annotated[
        str, typer.Argument(help="Command name, 'python' or a .wasm path")
    ],
    args: Annotated[list[str] | None, typer.Argument(help="Arguments")] = None,
    environment: Annotated[
        str, typer.Option(help="client (WASM), server (gVisor) or auto")
    ] = "client",
    timeout: Annotated[float | None, typer.Option(help="Deadline in seconds")] = None,
    mount: Annotated[
        list[str] | None,
        typer.Option(help="HOST:GUEST[:rw] directory to mount (read-only unless :rw)"),
    ] = None,
    address: AddressOpt = None,
    redis_url: RedisOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Run one command in a fresh container and exit with its exit code."""
    from incontainer.config import ContainerConfig, check_timeout
    from incontainer.workload import Workload, run_workload

    try:
        check_timeout(timeout)
        mounts = [_parse_mount(m) for m in mount or []]
        config = ContainerConfig.from_dict(
            {"name": "exec", "environment": environment, "mounts": mounts}
        )
        stdin = (
            None if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read()
        )
        workload = Workload(
            "exec",
            command,
            tuple(args or ()),
            config,
            stdin=stdin or None,
            timeout_s=timeout,
        )
    except IncontainerError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    with _manager(address, redis_url, data_dir) as manager:
        outcome = run_workload(manager, workload)
    if outcome.error is not None or outcome.result is None:
        err_console.print(f"[red]error:[/red] {outcome.error}")
        raise typer.Exit(125)
    sys.stdout.buffer.write(outcome.result.stdout)
    sys.stderr.buffer.write(outcome.result.stderr)
    sys.stdout.flush()
    if outcome.result.truncated:
        err_console.print("[yellow]output truncated[/yellow]")
    raise typer.Exit(outcome.result.exit_code)


def _parse_mount(spec: str) -> dict[str, Any]:
    parts = spec.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        from incontainer.errors import InvalidInputError

        raise InvalidInputError(
            f"invalid mount {spec!r}: expected HOST:GUEST or HOST:GUEST:rw",
            field="mount",
            value=spec,
        )
    host = Path(parts[0]).resolve()
    if not host.is_dir():
        from incontainer.errors import InvalidInputError

        raise InvalidInputError(
            f"invalid mount {spec!r}: host directory {host} not found",
            field="mount",
            value=spec,
        )
    return {
        "host_path": str(host),
        "guest_path": parts[1],
        "read_only": len(parts) == 2 or parts[2] == "ro",
    }


@app.command()
def ps(
    redis_url: RedisOpt = None,
    data_dir: DataDirOpt = None,
    all_states: Annotated[
        bool, typer.Option("--all", "-a", help="Include terminated containers")
    ] = False,
) -> None:
    """List containers recorded in the state store."""
    from incontainer.actors.records import RecordStore
    from incontainer.config import ContainerState
    from incontainer.runtime import EmbeddedRuntime

    runtime = EmbeddedRuntime(redis_url=redis_url, data_dir=data_dir, with_ray=False)
    with runtime.open() as opened:
        store = RecordStore(opened.redis_url)
        records = store.all()
        store.close()
    table = Table(title="containers")
    for column in ("id", "name", "state", "backend", "user", "execs"):
        table.add_column(column)
    for record in records:
        if record.state is ContainerState.TERMINATED and not all_states:
            continue
        table.add_row(
            record.container_id,
            record.config.name,
            record.state.value,
            record.backend,
            record.security.user_id,
            str(record.exec_count),
        )
    console.print(table)


@app.command()
def doctor() -> None:
    """Check Ray, wasmtime, the CPython WASI runtime, redis-server and runsc."""
    from incontainer.doctor import run_checks

    checks = run_checks()
    table = Table(title="incontainer doctor")
    for column in ("component", "status", "detail", "how to fix"):
        table.add_column(column)
    for check in checks:
        status = (
            "[green]ok[/green]"
            if check.ok
            else (
                "[red]missing[/red]" if check.required else "[yellow]missing[/yellow]"
            )
        )
        table.add_row(check.name, status, check.detail, "" if check.ok else check.hint)
    console.print(table)
    if any(c.required and not c.ok for c in checks):
        raise typer.Exit(1)


def main() -> None:
    app()
