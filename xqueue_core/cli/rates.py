"""``xqueue rate get`` and ``xqueue rate set``: rate limits per type and per key."""

from __future__ import annotations

from typing import Any

import click

from .common import backend_options, dump_json, json_option, load_app, run
from .display import table


@click.group()
def rate() -> None:
    """Read or set rate limits: at most N starts per period, per type or per key."""


@rate.command(name="get")
@backend_options
@json_option
def rate_get(as_json: bool, **options: Any) -> None:
    """The rates of every type: its own, the default of its keys, single keys."""
    app = load_app(None, options)

    async def go() -> dict[str, dict[str, Any]]:
        async with app:
            return await app.get_rates()

    data = run(go())
    if as_json:
        dump_json(data)
        return
    table(
        ["type", "rate", "per_key", "keys"],
        [
            [
                t,
                v["rate"] or "unlimited",
                v["per_key"] or "unlimited",
                ", ".join(f"{k}={r}" for k, r in sorted(v["keys"].items())) or "-",
            ]
            for t, v in data.items()
        ],
    )


@rate.command(name="set")
@click.argument("task_type", metavar="TYPE")
@click.argument("rate_text", metavar="N/PERIOD")
@click.option("--key", metavar="K", help="Set the rate of one flow key of TYPE.")
@click.option("--per-key", is_flag=True, help="Set the default rate of every key of TYPE.")
@backend_options
@json_option
def rate_set(
    task_type: str, rate_text: str, key: str | None, per_key: bool, as_json: bool, **options: Any
) -> None:
    """At most N tasks of TYPE start in any PERIOD (50/s, 10/m, 1/200ms, 5/10s; 'none'
    removes the rate), over every worker; with --key or --per-key, the rate of one
    flow key or of every key of TYPE."""
    value = None if rate_text.strip().lower() in ("none", "unlimited") else rate_text
    app = load_app(None, options)

    async def go() -> dict[str, Any]:
        async with app:
            await app.set_rate(task_type, value, key=key, per_key=per_key)
            return dict((await app.get_rates())[task_type])

    data = run(go())
    if as_json:
        dump_json({"task_type": task_type, **data})
        return
    if key is not None:
        click.echo(f"{task_type} key {key}: rate={data['keys'].get(key) or 'unlimited'}")
    elif per_key:
        click.echo(f"{task_type}: per-key rate={data['per_key'] or 'unlimited'}")
    else:
        click.echo(f"{task_type}: rate={data['rate'] or 'unlimited'}")
