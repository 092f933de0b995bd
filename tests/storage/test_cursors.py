"""Channel cursors on real SQLite and PostgreSQL: saved, moved, kept apart, kept only on commit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from storage.database import Database

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


async def test_nothing_saved_reads_as_none(database: Database) -> None:
    async with database.uow() as uow:
        assert await uow.cursors.get("vk:1") is None


async def test_a_position_is_saved_then_moved_in_place(database: Database) -> None:
    async with database.uow() as uow:
        await uow.cursors.set("vk:1", "41", T0)
        await uow.commit()
    async with database.uow() as uow:
        await uow.cursors.set("vk:1", "57", T0 + timedelta(seconds=3))
        await uow.commit()

    async with database.uow() as uow:
        assert await uow.cursors.get("vk:1") == "57"
    async with database.engine.connect() as connection:
        rows = (await connection.execute(text("SELECT name FROM channel_cursors"))).all()
    assert rows == [("vk:1",)]


async def test_names_are_kept_apart(database: Database) -> None:
    async with database.uow() as uow:
        await uow.cursors.set("vk:1", "10", T0)
        await uow.cursors.set("vk:2", "20", T0)
        await uow.commit()

    async with database.uow() as uow:
        assert (await uow.cursors.get("vk:1"), await uow.cursors.get("vk:2")) == ("10", "20")


async def test_a_position_is_kept_only_on_commit(database: Database) -> None:
    async with database.uow() as uow:
        await uow.cursors.set("vk:1", "10", T0)
        await uow.commit()
    async with database.uow() as uow:
        await uow.cursors.set("vk:1", "99", T0)  # no commit: rolled back

    async with database.uow() as uow:
        assert await uow.cursors.get("vk:1") == "10"
