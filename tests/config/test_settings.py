"""Settings: file, environment, precedence, and one clear line for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import CONFIG_DIR
from config.catalog import Catalog
from config.settings import ConfigError, Settings, load_settings


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "otklik.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_run_on_sqlite_in_memory_state_on_localhost() -> None:
    settings = load_settings(None, {})

    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.database.effective_url == "sqlite+aiosqlite:///otklik.db"
    assert settings.redis.url is None
    assert settings.telegram.bot_token is None


def test_environment_overrides_the_file_and_plain_names_override_both(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "port: 9000\nfaq:\n  reload_interval: 5\ndatabase:\n  url: sqlite+aiosqlite:///a.db\n",
    )

    settings = load_settings(
        path,
        {
            "OTKLIK_FAQ__RELOAD_INTERVAL": "2.5",
            "OTKLIK_DATABASE__URL": "sqlite+aiosqlite:///b.db",
            "DATABASE_URL": "postgresql+asyncpg://db/otklik",
            "TELEGRAM_BOT_TOKEN": "123:abc",
            "UNRELATED": "ignored",
        },
    )

    assert settings.port == 9000
    assert settings.faq.reload_interval == 2.5
    assert settings.database.url == "postgresql+asyncpg://db/otklik"
    assert settings.telegram.bot_token is not None
    assert settings.telegram.bot_token.get_secret_value() == "123:abc"
    assert "123:abc" not in repr(settings)


def test_the_shipped_example_config_is_valid_and_documents_every_section() -> None:
    example = CONFIG_DIR / "otklik.example.yaml"

    settings = load_settings(example, {})

    text = example.read_text(encoding="utf-8")
    for section in Settings.model_fields:
        assert f"{section}:" in text, f"{section} is not documented in the example"
    assert settings.port == 8080


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        ("port: [1, 2]\n", {}, "otklik.yaml: port: Input should be a valid integer"),
        ("telegram:\n  polling_timeout: 99\n", {}, "otklik.yaml: telegram.polling_timeout:"),
        ("faq:\n  pth: x\n", {}, "otklik.yaml: faq.pth: unknown key"),
        ("telegram:\n  bot_token: 1:x\n", {}, "secrets are read only from the environment"),
        ("port: [\n", {}, "otklik.yaml:2:"),
        ("- a\n- b\n", {}, "top level must be a mapping"),
        ("", {"OTKLIK_PORT": "eighty"}, "environment variable OTKLIK_PORT: port:"),
        ("", {"DATABASE_URL": "sqlite+aiosqlite://"}, "in-memory SQLite database is not"),
        ("", {"DATABASE_URL": "not-a-url"}, "DATABASE_URL: database.url: Value error, not a"),
        ("", {"DATABASE_URL": "postgresql://db/x"}, "the driver 'postgresql' is not one"),
        ("", {"REDIS_URL": "not-a-url"}, "REDIS_URL: redis.url: Value error, not a Redis URL"),
        ("", {"REDIS_URL": "redis://127.0.0.1:abc/14"}, "not a Redis URL"),
        ("", {"OTKLIK_LOG_LEVEL": "verbose"}, "OTKLIK_LOG_LEVEL: log_level: Input should be"),
        ("", {"OTKLIK_WEBCHAT__TRUSTED_PROXIES": "10.0.0.0/8, nope"}, "TRUSTED_PROXIES: webchat"),
    ],
    ids=[
        "wrong-type",
        "out-of-range",
        "typo",
        "token-in-file",
        "broken-yaml",
        "list",
        "env",
        "sqlite-in-memory",
        "database-url",
        "database-driver",
        "redis-url",
        "redis-port",
        "log-level",
        "proxy-list-item",
    ],
)
def test_mistakes_are_named_in_one_line(
    tmp_path: Path, text: str, environ: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(_write(tmp_path, text), environ)

    message = str(error.value)
    assert expected in message
    assert "\n" not in message


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read"):
        load_settings(tmp_path / "nope.yaml", {})


def test_both_catalogs_have_the_same_keys() -> None:
    catalog = Catalog.load(CONFIG_DIR / "messages")

    assert catalog.languages == {"ru", "en"}
    assert catalog.keys("ru") == catalog.keys("en")


@pytest.mark.parametrize(
    ("code", "language"),
    [("en-US", "en"), ("en", "en"), ("ru", "ru"), ("de", "ru"), (None, "ru"), ("EN_gb", "en")],
)
def test_the_language_comes_from_the_code_with_russian_by_default(
    code: str | None, language: str
) -> None:
    assert Catalog.load(CONFIG_DIR / "messages").pick_language(code) == language


def test_the_shipped_example_config_holds_exactly_the_defaults() -> None:
    # The example says "every key, with its default": a value that drifted from the code's
    # default would change how the bot answers for whoever starts from the example.
    example = load_settings(CONFIG_DIR / "otklik.example.yaml", {})

    assert example.model_dump() == load_settings(None, {}).model_dump()


def test_an_empty_variable_counts_as_unset() -> None:
    # A compose file's ${OTKLIK_HOST} with nothing set gives an empty value: that must not
    # make the bot listen on every interface.
    settings = load_settings(None, {"OTKLIK_HOST": "", "OTKLIK_PORT": "", "DATABASE_URL": ""})

    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.database.url is None


def test_a_config_file_that_is_not_utf8_is_named_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("title: Пятёрочка\n".encode("cp1251"))

    with pytest.raises(ConfigError) as error:
        load_settings(path, {})

    assert str(error.value) == f"{path}: the config file is not UTF-8 text; save it as UTF-8"
