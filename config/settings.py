"""Settings: one typed tree, read from an optional YAML file and overridden by the environment.

Precedence, lowest first: defaults → the YAML file (``otklik run --config FILE``) →
``OTKLIK_<SECTION>__<KEY>`` variables → the plain platform variables (``TELEGRAM_BOT_TOKEN``,
``DATABASE_URL``...). Tokens and secrets are accepted only from the environment, so a config file
can be committed without leaking them. Every problem becomes one :class:`ConfigError` line that
names the file or variable, the key and what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
)
from redis.connection import parse_url
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from config import CONFIG_DIR
from faq.settings import MatcherSettings

__all__ = [
    "ConfigError",
    "DatabaseSettings",
    "DialogSettings",
    "FaqSettings",
    "OutboxSettings",
    "RedisSettings",
    "Settings",
    "TelegramSettings",
    "ViberSettings",
    "VkSettings",
    "WebChatSettings",
    "load_settings",
    "sqlite_in_memory",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
"""The async drivers otklik is built and tested with."""


def sqlite_in_memory(url: str) -> bool:
    """Whether ``url`` names an in-memory SQLite database, which otklik cannot use.

    The bot opens two connections to SQLite (``storage/sqlite.py``), and in memory each would
    get a database of its own.
    """
    parsed = make_url(url)
    database = parsed.database or ""
    return parsed.get_backend_name() == "sqlite" and (
        database in ("", ":memory:") or "mode=memory" in url
    )


class DatabaseSettings(_Section):
    """Where conversations are kept. ``url`` unset means an SQLite file at ``sqlite_path``."""

    url: str | None = None
    sqlite_path: Path = Path("otklik.db")
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _usable(cls, url: str | None) -> str | None:
        if not url:
            return url
        try:
            parsed = make_url(url)
        except ArgumentError:
            msg = "not a database URL; e.g. postgresql+asyncpg://user@host:5432/name"
            raise ValueError(msg) from None
        if parsed.drivername not in _DRIVERS:
            msg = (
                f"the driver '{parsed.drivername}' is not one otklik uses; "
                f"use {' or '.join(_DRIVERS)}"
            )
            raise ValueError(msg)
        if sqlite_in_memory(url):
            msg = "an in-memory SQLite database is not supported: give a file"
            raise ValueError(msg)
        return url

    @property
    def effective_url(self) -> str:
        """The SQLAlchemy URL in use: ``DATABASE_URL`` or the SQLite file."""
        return self.url or f"sqlite+aiosqlite:///{self.sqlite_path}"


class RedisSettings(_Section):
    """Shared state for several worker processes; unset ``url`` keeps state in memory."""

    url: str | None = None
    state_ttl: int = Field(default=30 * 24 * 3600, gt=0, description="seconds")

    @field_validator("url")
    @classmethod
    def _redis_url(cls, url: str | None) -> str | None:
        if not url:
            return url
        try:
            parse_url(url)  # type: ignore[no-untyped-call]  # redis-py reads it so in from_url
        except ValueError as exc:
            msg = f"not a Redis URL ({exc}); e.g. redis://127.0.0.1:6379/0"
            raise ValueError(msg) from None
        return url


class TelegramSettings(_Section):
    """A Telegram bot: polling when only the token is set, a webhook when ``webhook_url`` is."""

    bot_token: SecretStr | None = None
    webhook_url: str | None = None
    api_url: str = "https://api.telegram.org"
    webhook_secret: SecretStr | None = None
    polling_timeout: int = Field(default=25, ge=0, le=50)


class VkSettings(_Section):
    """A VK community bot: Bots Long Poll by default, the Callback API when its secret is set."""

    group_token: SecretStr | None = None
    group_id: int | None = None
    confirmation_code: SecretStr | None = None
    secret: SecretStr | None = None
    api_url: str = "https://api.vk.com/method"
    api_version: str = "5.199"


class ViberSettings(_Section):
    """A Viber bot: always a webhook; ``webhook_url`` set means register it at start."""

    auth_token: SecretStr | None = None
    webhook_url: str | None = None
    api_url: str = "https://chatapi.viber.com/pa"
    bot_name: str = "otklik"
    bot_avatar: str | None = None


class WebChatSettings(_Section):
    """The chat page at ``/`` and the widget script a chain embeds on its site.

    Limits count per visitor and per client address: a visitor id is free to make, so a flood
    that makes a new one for every message is stopped by its address. Behind a reverse proxy
    every request comes from the proxy, so the client's address is read from
    ``X-Forwarded-For`` when (and only when) the request comes from a ``trusted_proxies``
    address; anyone else could write any address there.
    """

    enabled: bool = True
    title: str = "otklik"
    messages_per_minute: int = Field(default=30, gt=0, description="per visitor")
    messages_per_minute_per_address: int = Field(default=120, gt=0)
    new_visitors_per_minute_per_address: int = Field(default=30, gt=0)
    trusted_proxies: tuple[IPvAnyNetwork, ...] = (
        IPv4Network("127.0.0.1/32"),
        IPv6Network("::1/128"),
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """``10.0.0.0/8, 192.168.1.5`` from an environment variable (a YAML list works too);
        ``none`` trusts no proxy."""
        if isinstance(value, str):
            if value.strip().lower() == "none":
                return ()
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


class FaqSettings(_Section):
    """The FAQ folder content staff edit."""

    path: Path = CONFIG_DIR / "faq"
    reload_interval: float = Field(default=1.0, gt=0)
    matcher: MatcherSettings = MatcherSettings()


class DialogSettings(_Section):
    """How the engine treats messages."""

    max_question_length: int = Field(default=1000, gt=0)
    default_language: str = "ru"


class OutboxSettings(_Section):
    """Resending replies a platform refused for a passing reason (a 5xx, a timeout, a long 429).

    The retry job looks every ``retry_interval`` seconds. A refused reply is resent at the next
    look, then after ``backoff`` seconds, doubling up to ``max_backoff``, until it was tried
    ``max_attempts`` times in all (the first send included).
    """

    retry_interval: float = Field(default=30.0, gt=0, description="seconds")
    max_attempts: int = Field(default=5, ge=1)
    backoff: float = Field(default=30.0, gt=0, description="seconds")
    max_backoff: float = Field(default=3600.0, gt=0, description="seconds")


class Settings(_Section):
    """Everything ``otklik run`` needs; built once by :func:`load_settings`."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    messages_path: Path = CONFIG_DIR / "messages"
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    telegram: TelegramSettings = TelegramSettings()
    vk: VkSettings = VkSettings()
    viber: ViberSettings = ViberSettings()
    webchat: WebChatSettings = WebChatSettings()
    faq: FaqSettings = FaqSettings()
    dialogs: DialogSettings = DialogSettings()
    outbox: OutboxSettings = OutboxSettings()


class ConfigError(Exception):
    """A settings problem, as one line fit for a terminal."""


PLAIN_VARIABLES: Mapping[str, tuple[str, ...]] = {
    "DATABASE_URL": ("database", "url"),
    "REDIS_URL": ("redis", "url"),
    "TELEGRAM_BOT_TOKEN": ("telegram", "bot_token"),
    "TELEGRAM_WEBHOOK_URL": ("telegram", "webhook_url"),
    "TELEGRAM_API_URL": ("telegram", "api_url"),
    "TELEGRAM_WEBHOOK_SECRET": ("telegram", "webhook_secret"),
    "VK_GROUP_TOKEN": ("vk", "group_token"),
    "VK_GROUP_ID": ("vk", "group_id"),
    "VK_CONFIRMATION_CODE": ("vk", "confirmation_code"),
    "VK_SECRET": ("vk", "secret"),
    "VK_API_URL": ("vk", "api_url"),
    "VIBER_AUTH_TOKEN": ("viber", "auth_token"),
    "VIBER_WEBHOOK_URL": ("viber", "webhook_url"),
    "VIBER_API_URL": ("viber", "api_url"),
    "VIBER_BOT_NAME": ("viber", "bot_name"),
    "VIBER_BOT_AVATAR": ("viber", "bot_avatar"),
}
"""Platform variables known by their usual names rather than ``OTKLIK_...``."""

SECRET_KEYS: frozenset[tuple[str, ...]] = frozenset(
    {
        ("telegram", "bot_token"),
        ("telegram", "webhook_secret"),
        ("vk", "group_token"),
        ("vk", "confirmation_code"),
        ("vk", "secret"),
        ("viber", "auth_token"),
    }
)
"""Keys that may only come from the environment."""

_PREFIX = "OTKLIK_"


def load_settings(config_file: Path | None, environ: Mapping[str, str]) -> Settings:
    """Build settings from ``config_file`` (if any) and ``environ``; raise :class:`ConfigError`."""
    data: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    if config_file is not None:
        data = _read_yaml(config_file)
        for path in _leaf_paths(data):
            origin[path] = str(config_file)
            if path in SECRET_KEYS:
                dotted = ".".join(path)
                msg = (
                    f"{config_file}: {dotted}: secrets are read only from the environment; "
                    f"remove it from the file and set {_variable_for(path)}"
                )
                raise ConfigError(msg)
    for name, value in _environment_overrides(environ):
        path = PLAIN_VARIABLES.get(name) or tuple(
            part.lower() for part in name[len(_PREFIX) :].split("__")
        )
        _set_path(data, path, value)
        origin[path] = f"environment variable {name}"
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin, config_file)) from None


def _environment_overrides(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """``OTKLIK_*`` variables, then the plain platform names, which win.

    An empty variable counts as unset, as a compose file's ``${VAR}`` gives one: an empty
    ``OTKLIK_HOST`` must not mean "every interface".
    """
    prefixed = sorted(
        (name, value)
        for name, value in environ.items()
        if name.startswith(_PREFIX) and len(name) > len(_PREFIX) and value
    )
    plain = [(name, environ[name]) for name in PLAIN_VARIABLES if environ.get(name)]
    return prefixed + plain


def _read_yaml(config_file: Path) -> dict[str, Any]:
    try:
        text = config_file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        msg = f"{config_file}: the config file is not UTF-8 text; save it as UTF-8"
        raise ConfigError(msg) from None
    except OSError as exc:
        msg = f"{config_file}: cannot read the config file: {exc.strerror}"
        raise ConfigError(msg) from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        msg = f"{config_file}{where}: {problem}"
        raise ConfigError(msg) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        kind = type(loaded).__name__
        msg = f"{config_file}: the top level must be a mapping of sections, not {kind}"
        raise ConfigError(msg)
    return loaded


def _leaf_paths(data: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for key, value in data.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping):
            paths.extend(_leaf_paths(value, path))
        else:
            paths.append(path)
    return paths


def _set_path(data: dict[str, Any], path: tuple[str, ...], value: str) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def _variable_for(path: tuple[str, ...]) -> str:
    for name, target in PLAIN_VARIABLES.items():
        if target == path:
            return name
    return _PREFIX + "__".join(part.upper() for part in path)


def _describe(
    exc: ValidationError, origin: Mapping[tuple[str, ...], str], config_file: Path | None
) -> str:
    error = exc.errors()[0]
    path = tuple(str(part) for part in error["loc"])
    source = origin.get(path)
    if source is None:  # an error on a section, or on one item of a list given as one value
        source = next(
            (
                where
                for key, where in origin.items()
                if key[: len(path)] == path or path[: len(key)] == key
            ),
            str(config_file) if config_file else "settings",
        )
    dotted = ".".join(path) or "(top level)"
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key (see config/otklik.example.yaml for every key)"
    elif "input" in error and not isinstance(error["input"], dict):
        message = f"{message} (got {error['input']!r})"
    return f"{source}: {dotted}: {message}"
