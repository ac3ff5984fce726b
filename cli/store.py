"""The settings and the store for commands that run beside the system: the configured
Redis, else the embedded one of DICHTE_DATA_DIR (started here if the system is down)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from pydantic import ValidationError
from rich.console import Console

from dichte.domain.settings import Settings

console = Console(stderr=True)


def settings_or_exit() -> Settings:
    try:
        return Settings()
    except ValidationError as e:
        console.print(f"[red]Settings refused:[/red] {e}")
        raise typer.Exit(2) from None


@contextlib.contextmanager
def store_settings(settings: Settings) -> Iterator[Settings]:
    """The settings with a Redis URL that answers while the block runs."""
    from dichte.serving.embedded_redis import EmbeddedRedis, running_url

    with contextlib.ExitStack() as stack:
        url = settings.redis_url or running_url(settings.data_dir)
        if url is None:  # the system is stopped: open its store ourselves
            url = stack.enter_context(
                EmbeddedRedis(settings.data_dir, strict_durability=settings.strict_durability)
            ).url
        yield settings.model_copy(update={"redis_url": url})
