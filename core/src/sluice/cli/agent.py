"""``sluice agent start``: claim runs from work queues and run them on their infrastructure."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run an agent that picks flow runs up from work queues.", no_args_is_help=True)


@app.command("start")
def start(
    queues: list[str] = typer.Option([], "-q", "--work-queue", help="A work queue to poll; repeatable."),
    match: str | None = typer.Option(None, "-m", "--match", help="Also poll every queue whose name starts with this."),
    tags: list[str] = typer.Option([], "-t", "--tag", help="Legacy: poll a tag queue matching these tags; repeatable."),
    limit: int | None = typer.Option(None, "-l", "--limit", min=1, help="Most flow runs at once [default: no limit]."),
    prefetch_seconds: float = typer.Option(10.0, "--prefetch-seconds", min=0, help="Claim runs this early."),
    name: str | None = typer.Option(None, "-n", "--name", help="The agent's name [default: agent-HOST-xxxxxx]."),
    grace_seconds: float = typer.Option(30.0, "--grace-seconds", min=0, help="On stop: time runs get to finish."),
    run_once: bool = typer.Option(False, "--run-once", help="Claim once, wait for those runs, exit."),
) -> None:
    """Start an agent: it claims due runs of its queues and starts each on its infrastructure.

    SIGTERM or Ctrl-C stops claiming and waits up to --grace-seconds for running runs; those still
    going are then stopped and handed back to their queue.
    """
    import logging
    import signal

    from sluice.agent import Agent
    from sluice.cli.errors import fail

    if not queues and not match and not tags:
        raise fail("name at least one work queue (-q NAME), a prefix (--match PREFIX) or tags (-t TAG)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(levelname)-7s | %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    agent = Agent(queues, match, tags, limit, prefetch_seconds, name, grace_seconds)

    def _stop(signum: int, _frame: object) -> None:
        typer.echo(f"Received {signal.Signals(signum).name}: stopping the agent.", err=True)
        agent.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    started = agent.start(run_once=run_once)
    typer.echo(f"Agent {agent.name} stopped after starting {started} flow run(s).", err=True)
