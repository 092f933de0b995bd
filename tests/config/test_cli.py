"""The ``otklik`` command as a person runs it."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

from config.settings import load_settings
from tests.webchat_client import WebChatShopper

OTKLIK = [sys.executable, "-m", "bots.cli"]


def _run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    ours = ("OTKLIK_", "DATABASE_URL", "REDIS_URL", "TELEGRAM_", "VK_", "VIBER_")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return subprocess.run(
        [*OTKLIK, *args],
        cwd=cwd,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_lists_the_subcommands(tmp_path: Path) -> None:
    result = _run("--help", cwd=tmp_path)

    assert result.returncode == 0
    for command in ("run", "db", "faq"):
        assert f"  {command} " in result.stdout


def test_a_bad_config_file_ends_run_with_code_2_and_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("port: lots\n", encoding="utf-8")

    result = _run("run", "--config", str(config), cwd=tmp_path)

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "bad.yaml: port:" in lines[0]


def test_an_unreachable_database_ends_run_with_a_clear_line(tmp_path: Path) -> None:
    result = _run(
        "run", "--port", "0", cwd=tmp_path, DATABASE_URL="postgresql+asyncpg://u@127.0.0.1:1/x"
    )

    assert result.returncode == 1
    assert "otklik: database postgresql+asyncpg://u@127.0.0.1:1/x is unreachable" in result.stderr


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    result = _run("db", "upgrade", cwd=tmp_path, OTKLIK_DATABASE__SQLITE_PATH="data/otklik.db")

    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "data" / "otklik.db") as connection:
        tables = {row[0] for row in connection.execute("select name from sqlite_master")}
    assert {"customers", "identities", "conversations", "messages", "handoff_requests"} <= tables


async def test_faq_gaps_reports_what_shoppers_asked_in_vain(tmp_path: Path, start_app) -> None:
    env = {
        "OTKLIK_DATABASE__SQLITE_PATH": str(tmp_path / "bot.db"),
        "OTKLIK_FAQ__PATH": str(Path(__file__).parents[1] / "fixtures" / "faq"),
        "OTKLIK_FAQ__MATCHER__SEMANTIC": "false",
    }
    app = await start_app(load_settings(None, env))
    shopper = WebChatShopper(app.client)
    for question in ("как оформить ипотеку", "ипотека оформить как", "где купить слона"):
        await shopper.send(question)
    await shopper.press("👎", await shopper.send("Сколько стоит доставка?"))
    await shopper.press("вернуть деньги", await shopper.send("возврат денег"))  # a suggestion

    result = _run("faq", "gaps", "--json", cwd=tmp_path, **env)

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    counts = sorted((c["count"] for c in report["clusters"]), reverse=True)
    assert counts[0] == 2  # the two mortgage phrasings are one gap
    assert sum(counts) == 4
    assert report["feedback"] == [{"id": "delivery-cost", "helpful": 0, "unhelpful": 1}]
    picked = {c["label"]: c["picked"] for c in report["clusters"] if c["picked"]}
    assert picked == {"возврат денег": {"refund-card": 1}}


def test_a_vk_token_without_its_group_id_ends_run_with_code_2(tmp_path: Path) -> None:
    result = _run("run", "--port", "0", cwd=tmp_path, VK_GROUP_TOKEN="vk1.a.token")

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("otklik: vk settings:")
    assert "VK_GROUP_ID" in lines[0]


def test_a_vk_secret_without_its_confirmation_code_ends_run_with_code_2(tmp_path: Path) -> None:
    # Alone it would quietly mean Long Poll, not the Callback API the operator set up.
    result = _run(
        "run",
        "--port",
        "0",
        cwd=tmp_path,
        VK_GROUP_TOKEN="vk1.a.token",
        VK_GROUP_ID="123456",
        VK_SECRET="s3cret",
    )

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "VK_CONFIRMATION_CODE and VK_SECRET" in lines[0]


def test_a_config_given_before_the_command_is_the_one_used(tmp_path: Path) -> None:
    # `otklik --config FILE db upgrade`, as `otklik --help` offers it for every command.
    config = tmp_path / "otklik.yaml"
    config.write_text("database:\n  sqlite_path: elsewhere.db\n", encoding="utf-8")

    result = _run("--config", str(config), "db", "upgrade", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "elsewhere.db").exists()
    assert not (tmp_path / "otklik.db").exists()


def test_settings_the_bot_cannot_start_with_end_run_with_one_line(tmp_path: Path) -> None:
    catalog = _run("run", "--port", "0", cwd=tmp_path, OTKLIK_DIALOGS__DEFAULT_LANGUAGE="de")
    encoder = _run("run", "--port", "0", cwd=tmp_path, OTKLIK_FAQ__MATCHER__ENCODER="nosuch:make")

    assert catalog.returncode == 2
    assert catalog.stderr.strip().splitlines() == [
        "otklik: settings: no catalog for the default language 'de'"
    ]
    assert encoder.returncode == 1
    assert encoder.stderr.strip().splitlines()[-1] == (
        "otklik: faq.matcher.encoder 'nosuch:make': cannot import nosuch: No module named 'nosuch'"
    )


def test_a_refused_database_login_is_one_line(tmp_path: Path, postgres_url: str) -> None:
    # The server answers but refuses the user: the driver's reason, without SQLAlchemy's
    # "Background on this error" line.
    url = postgres_url.replace("postgres@", "nobody-here@", 1)

    result = _run("db", "upgrade", cwd=tmp_path, DATABASE_URL=url)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert 'role "nobody-here" does not exist' in lines[0]


def test_faq_gaps_with_an_unreachable_database_says_so_in_one_line(tmp_path: Path) -> None:
    result = _run("faq", "gaps", cwd=tmp_path, DATABASE_URL="postgresql+asyncpg://u@127.0.0.1:1/x")

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: database postgresql+asyncpg://u@127.0.0.1:1/x is unreachable: "
        "ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 1)"
    ]


def test_a_bad_option_is_named_as_the_option(tmp_path: Path) -> None:
    result = _run("run", "--port", "70000", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.strip() == (
        "otklik: --port: port: Input should be less than or equal to 65535 (got '70000')"
    )


def test_a_port_in_use_ends_run_at_once_with_one_line(tmp_path: Path) -> None:
    # Said before the FAQ and its encoder load, not after the start-up they take.
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = _run("run", "--port", str(port), cwd=tmp_path)

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"otklik: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert not (tmp_path / "otklik.db").exists()  # nothing was started
