"""The ``otklik`` command."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

import click
from aiohttp import web

from config.settings import ConfigError, Settings, load_settings

__all__ = ["main"]

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


def _settings(config_file: Path | None, **overrides: object) -> Settings:
    environ = dict(os.environ)
    for key, value in overrides.items():
        if value is not None:
            environ[f"OTKLIK_{key.upper()}"] = str(value)
    try:
        return load_settings(config_file, environ)
    except ConfigError as exc:
        _fail(str(exc), 2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """otklik: one customer-feedback bot for Telegram, VK, Viber and a web chat."""


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
    try:
        web.run_app(
            build_app(settings),
            host=settings.host,
            port=settings.port,
            print=click.echo,
        )
    except StartupError as exc:
        _fail(str(exc), 1)
    except OSError as exc:
        _fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}", 1)


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
