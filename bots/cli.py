"""The ``otklik`` command."""

from __future__ import annotations

import asyncio
import errno
import importlib
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click
from aiohttp import web

from config.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from faq.gaps import GapsData

__all__ = ["main"]

_CONFIG_FILE_KEY = "otklik.config_file"
"""Where ``otklik --config FILE`` leaves the file for the command after it."""
_LISTEN_ERRORS = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES})
"""Errors of binding the server's socket (anything else is not about the port)."""

_config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="YAML settings file (see config/otklik.example.yaml); environment variables override it.",
)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"otklik: {message}", err=True)
    sys.exit(code)


def _settings(config_file: Path | None, **options: object) -> Settings:
    """Settings from the command's ``--config``, else the one given before the command
    (``otklik --config FILE run``), the environment and the command's own options (``--port``),
    which win; a problem ends the command (exit 2) naming where the value came from."""
    if config_file is None:
        context = click.get_current_context(silent=True)
        config_file = context.meta.get(_CONFIG_FILE_KEY) if context is not None else None
    environ = dict(os.environ)
    given = {f"OTKLIK_{key.upper()}": key for key, value in options.items() if value is not None}
    for variable, key in given.items():
        environ[variable] = str(options[key])
    try:
        return load_settings(config_file, environ)
    except ConfigError as exc:
        message = str(exc)
        for variable, key in given.items():
            message = message.replace(f"environment variable {variable}:", f"--{key}:")
        _fail(message, 2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@_config_option
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None) -> None:
    """otklik: one customer-feedback bot for Telegram, VK, Viber and a web chat."""
    ctx.meta[_CONFIG_FILE_KEY] = config_file
    if ctx.invoked_subcommand == "faq":
        _share_faq_settings(ctx, _settings(config_file))


def _share_faq_settings(ctx: click.Context, settings: Settings) -> None:
    """Give the ``faq`` commands the configured FAQ folder, matcher and stored gaps."""
    from faq import cli as faq_cli  # noqa: PLC0415 - loads the matcher's libraries

    ctx.meta[faq_cli.FAQ_PATH_KEY] = settings.faq.path
    ctx.meta[faq_cli.MATCHER_SETTINGS_KEY] = settings.faq.matcher
    ctx.meta[faq_cli.GAPS_SOURCE_KEY] = _gaps_source(settings.database.effective_url)
    ctx.meta[faq_cli.LANGUAGES_KEY] = lambda: _bot_languages(settings)


def _bot_languages(settings: Settings) -> frozenset[str]:
    """The languages the bot speaks: those of its message catalogs."""
    from config.catalog import Catalog  # noqa: PLC0415 - only `faq check` needs it

    return Catalog.load(settings.messages_path, settings.dialogs.default_language).languages


def _gaps_source(url: str) -> Callable[[datetime | None], Awaitable[GapsData]]:
    """Read unanswered questions, suggestion picks and answer ratings from the database."""

    async def source(since: datetime | None) -> GapsData:
        from faq.gaps import (  # noqa: PLC0415
            EntryFeedback,
            GapsData,
            PickedSuggestion,
            UnansweredQuestion,
        )
        from storage.database import (  # noqa: PLC0415
            Database,
            DatabaseUnavailable,
            SchemaOutdated,
        )

        database = Database(url)
        try:
            try:
                await database.check()
                await database.require_current()
            except DatabaseUnavailable as exc:
                raise click.ClickException(str(exc)) from None
            except SchemaOutdated as exc:
                raise click.ClickException(f"no stored questions yet: {exc}") from None
            async with database.uow() as uow:
                questions = await uow.faq.unanswered_since(since)
                ratings = await uow.faq.ratings_since(since)
                picks = await uow.faq.picks_since(since)
        finally:
            await database.dispose()
        return GapsData(
            questions=[
                UnansweredQuestion(q.text, q.channel, q.at, q.outcome, q.suggestions)
                for q in questions
            ],
            feedback=[EntryFeedback(r.entry_id, r.helpful, r.unhelpful) for r in ratings],
            picks=[PickedSuggestion(p.question, p.entry_id) for p in picks],
        )

    return source


@cli.command()
@_config_option
@click.option("--host", default=None, help="Address to listen on (OTKLIK_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (OTKLIK_PORT, 8080).")
def run(config_file: Path | None, host: str | None, port: int | None) -> None:
    """Serve the web chat, the webhooks and /healthz, and poll the platforms."""
    settings = _settings(config_file, host=host, port=port)
    from bots.runner import StartupError, build_app  # noqa: PLC0415 - keeps --help fast

    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _fail_if_taken(settings.host, settings.port)
    try:
        web.run_app(
            build_app(settings),
            host=settings.host,
            port=settings.port,
            print=click.echo,
        )
    except ConfigError as exc:
        _fail(str(exc), 2)
    except StartupError as exc:
        _fail(str(exc), 1)
    except OSError as exc:
        if isinstance(exc, socket.gaierror) or exc.errno in _LISTEN_ERRORS:
            _fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}", 1)
        _fail(f"start-up failed: {exc}", 1)  # e.g. a file it needs could not be read


def _fail_if_taken(host: str, port: int) -> None:
    """End at once when the address is taken, not after the FAQ and the encoder have loaded.

    A probe: the server binds again when it starts (another process may take the port
    meanwhile, and then that bind fails as before). Only the errors of binding end it here;
    anything else is left for the server's own bind to report.
    """
    try:
        addresses = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror}", 1)
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno in _LISTEN_ERRORS:
                    _fail(f"cannot listen on {host}:{port}: {exc.strerror}", 1)


@cli.group()
def db() -> None:
    """Database schema commands."""


@db.command()
@_config_option
def upgrade(config_file: Path | None) -> None:
    """Bring the database schema to the newest version (Alembic upgrade head)."""
    from storage.database import Database, DatabaseUnavailable  # noqa: PLC0415

    settings = _settings(config_file)

    async def _upgrade() -> None:
        database = Database(settings.database.effective_url)
        try:
            await database.check()
            await database.upgrade()
        finally:
            await database.dispose()

    try:
        asyncio.run(_upgrade())
    except DatabaseUnavailable as exc:
        _fail(str(exc), 1)
    click.echo("database schema is up to date")


@cli.group()
def viber() -> None:
    """Viber bot commands."""


@viber.command("set-webhook")
@_config_option
@click.argument("url")
def viber_set_webhook(config_file: Path | None, url: str) -> None:
    """Point the Viber bot's webhook at URL; the bot must already be serving there.

    Viber calls URL at once to check it, so run this against a running `otklik run`.
    """
    from bots.channel import SendError  # noqa: PLC0415 - keeps --help fast
    from bots.viber import set_webhook  # noqa: PLC0415

    settings = _settings(config_file)
    if settings.viber.auth_token is None:
        _fail("VIBER_AUTH_TOKEN is not set", 2)
    try:
        events = asyncio.run(set_webhook(settings.viber, url))
    except SendError as exc:
        _fail(f"Viber did not accept the webhook {url}: {exc}", 1)
    click.echo(f"Viber webhook set to {url} (events: {', '.join(events) or 'default'})")


def _attach_optional_groups() -> None:
    # The FAQ commands ship with the faq package; imported late to keep `otklik --help` fast.
    try:
        module = importlib.import_module("faq.cli")
    except ModuleNotFoundError:
        return
    cli.add_command(module.faq)


def main() -> None:
    """Entry point of the ``otklik`` console script."""
    _attach_optional_groups()
    cli()


if __name__ == "__main__":
    main()
