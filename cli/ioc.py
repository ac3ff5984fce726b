"""`dichte ioc`: where the outbox's deliveries stand, and replaying dead letters."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from dichte.cli.store import settings_or_exit, store_settings

ioc = typer.Typer(help="Deliveries to the provincial IOC and to unit webhooks.")


async def _targets(settings: Any) -> list[tuple[str, str, str]]:
    """(target, stream, group) of the IOC (when configured) and every webhook."""
    from dichte.services.wiring import ioc_target, webhook_target
    from dichte.store.outbox import OutboxStore

    store = OutboxStore.of(settings)
    try:
        found = [ioc_target(settings)] + [
            webhook_target(settings, h) for h in (await store.webhooks()).values()
        ]
        return [(t.name, t.stream, t.group) for t in found if t is not None]
    finally:
        await store.close()


@ioc.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Backlog, lag, last delivery, retries and dead letters of each target."""
    from dichte.store.outbox import OutboxStore

    with store_settings(settings_or_exit()) as settings:

        async def go() -> list[dict[str, Any]]:
            store = OutboxStore.of(settings)
            try:
                return [await store.status(*t) for t in await _targets(settings)]
            finally:
                await store.close()

        found = asyncio.run(go())
    if as_json:
        print(json.dumps(found))
        return
    if not found:
        print("no target: DICHTE_IOC_URL is unset and no unit has a webhook")
    for st in found:
        last = st["last_delivery_at"]
        when = datetime.fromtimestamp(last, UTC).isoformat() if last else "never"
        print(
            f"{st['target']}: backlog {st['backlog']}, lag {st['lag_s']:.1f} s, "
            f"last delivery {when}, delivered {st['delivered_total']}, "
            f"retries {st['retries_total']}, dead letters {st['dead_letters']}"
            + (f", last error: {st['last_error']}" if st["last_error"] else "")
        )


@ioc.command(name="dead-letters")
def dead_letters(
    target: Annotated[str, typer.Option(help="ioc, or webhook-<id>")] = "ioc",
    limit: Annotated[int, typer.Option(help="At most this many, oldest first")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """The events a target refused until they were set aside, with why."""
    from dichte.domain.events import stream_time
    from dichte.store.outbox import OutboxStore

    with store_settings(settings_or_exit()) as settings:

        async def go() -> list[dict[str, Any]]:
            store = OutboxStore.of(settings)
            try:
                found = await store.dead_letters(target, limit)
            finally:
                await store.close()
            return [
                {
                    "id": f["entry"],
                    "written_at": stream_time(f["entry"]).isoformat(),
                    "type": f["type"],
                    "subject": f["subject"],
                    "attempts": int(f.get("attempts", 0) or 0),
                    "reason": f.get("reason", ""),
                }
                for _, f in found
            ]

        found = asyncio.run(go())
    if as_json:
        print(json.dumps(found))
        return
    if not found:
        print(f"{target}: no dead letters")
    for d in found:
        print(
            f"{d['id']}  {d['written_at']}  {d['type']}  {d['subject']}  "
            f"({d['attempts']} attempts) {d['reason']}"
        )


@ioc.command()
def replay(
    dead_letters: Annotated[
        bool, typer.Option("--dead-letters", help="Send the dead letters again")
    ] = False,
    target: Annotated[str, typer.Option(help="ioc, or webhook-<id>")] = "ioc",
) -> None:
    """Queue a target's dead letters for delivery again (the running forwarder sends
    them first, under their original event ids)."""
    from dichte.store.outbox import OutboxStore

    if not dead_letters:
        raise typer.BadParameter("say what to replay: --dead-letters")
    with store_settings(settings_or_exit()) as settings:

        async def go() -> int:
            store = OutboxStore.of(settings)
            try:
                return await store.replay_dead_letters(target)
            finally:
                await store.close()

        moved = asyncio.run(go())
    print(f"{target}: {moved} dead letters queued for delivery")
