"""Several workers on Redis and PostgreSQL behave as one bot; misconfiguration fails loudly."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine
from threadpoolctl import threadpool_info

from bots.runner import StartupError, build_app
from storage.database import Database
from storage.models import Feedback
from tests.conftest import SettingsFactory
from tests.webchat_client import WebChatShopper, texts_of


async def test_a_conversation_moves_between_workers_mid_flow(
    make_settings: SettingsFactory, start_app, redis_url: str, redis_prefix: str, postgres_url: str
) -> None:
    await _migrate(postgres_url)
    settings = make_settings(DATABASE_URL=postgres_url, REDIS_URL=redis_url)
    worker_a = await start_app(settings)
    worker_b = await start_app(settings)
    shopper = WebChatShopper(worker_a.client)
    await shopper.press("отзыв", await shopper.send("/start"))

    shopper.client = worker_b.client  # the load balancer sends the next message elsewhere
    thanks = await shopper.send("Очередь на кассе 20 минут")

    assert "Спасибо" in texts_of(thanks)
    async with worker_b.services.database.engine.connect() as connection:
        rows = (await connection.execute(select(Feedback.text))).scalars().all()
    assert rows == ["Очередь на кассе 20 минут"]
    assert len(await shopper.history()) == 6


async def test_health_reports_database_redis_and_channels(
    make_settings: SettingsFactory, start_app, redis_url: str
) -> None:
    app = await start_app(make_settings(REDIS_URL=redis_url))

    response = await app.client.get("/healthz")

    assert response.status == 200
    assert await response.json() == {
        "database": "ok",
        "redis": "ok",
        "channels": {"webchat": "ok"},
        "status": "ok",
    }


async def test_a_running_bot_keeps_blas_to_one_thread(
    make_settings: SettingsFactory, start_app
) -> None:
    # Spinning OpenBLAS threads (one per core) cost the FAQ path 13x its throughput.
    await start_app(make_settings())

    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]

    assert blas, "numpy's BLAS is loaded"
    assert {pool["num_threads"] for pool in blas} == {1}


async def test_health_is_503_when_the_database_goes_away(
    make_settings: SettingsFactory, start_app, postgres_url: str
) -> None:
    await _migrate(postgres_url)
    app = await start_app(make_settings(DATABASE_URL=postgres_url))
    assert (await app.client.get("/healthz")).status == 200

    await app.services.database.dispose()
    await _drop(postgres_url)
    response = await app.client.get("/healthz")

    assert response.status == 503
    body = await response.json()
    assert body["status"] == "down"
    assert "unreachable" in body["database"]


async def test_an_unreachable_redis_fails_start_up(make_settings: SettingsFactory) -> None:
    runner = web.AppRunner(build_app(make_settings(REDIS_URL="redis://127.0.0.1:1/0")))

    with pytest.raises(StartupError, match="Redis at REDIS_URL is unreachable"):
        await runner.setup()
    await runner.cleanup()


async def test_a_postgres_schema_behind_the_code_fails_start_up(
    make_settings: SettingsFactory, postgres_url: str
) -> None:
    runner = web.AppRunner(build_app(make_settings(DATABASE_URL=postgres_url)))

    with pytest.raises(StartupError, match="run 'otklik db upgrade'"):
        await runner.setup()
    await runner.cleanup()


async def _migrate(url: str) -> None:
    database = Database(url)
    await database.upgrade()
    await database.dispose()


async def _drop(url: str) -> None:
    base, name = url.rsplit("/", 1)
    admin = create_async_engine(f"{base}/test", isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    await admin.dispose()


async def test_many_shoppers_at_once_on_sqlite_are_all_answered_and_kept(
    make_settings: SettingsFactory, start_app
) -> None:
    app = await start_app(make_settings())
    shoppers = [WebChatShopper(app.client, address=f"198.51.100.{n}") for n in range(40)]

    answers = await asyncio.gather(*(s.send("/start") for s in shoppers))

    assert all("Здравствуйте" in texts_of(replies) for replies in answers)
    async with app.services.database.uow() as uow:
        assert await uow.messages.count(channel="webchat") == 80
