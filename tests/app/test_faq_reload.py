"""An FAQ edit reaches shoppers in every worker process without a restart (#4)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.conftest import AppHarness, SettingsFactory
from tests.webchat_client import WebChatShopper, texts_of

FAQ = """\
- id: delivery-cost
  questions: [Сколько стоит доставка?]
  answer: Доставка стоит 199 ₽.
"""


async def _reloaded(worker: AppHarness, version: int) -> None:
    # The watcher runs on its own and tells nobody; the worker's FAQ version says when it has
    # swapped, so it is polled (the caller bounds the wait: the 2-second promise).
    while worker.services.faq.version == version:  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def test_an_faq_edit_reaches_shoppers_of_every_worker_within_two_seconds(
    make_settings: SettingsFactory, start_app, tmp_path: Path
) -> None:
    folder = tmp_path / "faq"
    folder.mkdir()
    (folder / "delivery.yaml").write_text(FAQ, encoding="utf-8")
    workers: list[AppHarness] = []
    for name in ("a", "b"):  # two processes' worth of apps, each with its own watcher
        settings = make_settings(
            OTKLIK_FAQ__PATH=str(folder),
            OTKLIK_FAQ__RELOAD_INTERVAL="0.05",
            OTKLIK_DATABASE__SQLITE_PATH=str(tmp_path / f"{name}.db"),
        )
        workers.append(await start_app(settings))
    for worker in workers:
        answer = await WebChatShopper(worker.client).send("сколько стоит доставка")
        assert "199 ₽" in texts_of(answer)
    versions = [worker.services.faq.version for worker in workers]

    (folder / "delivery.yaml").write_text(FAQ.replace("199 ₽", "249 ₽"), encoding="utf-8")
    await asyncio.wait_for(
        asyncio.gather(*(_reloaded(w, v) for w, v in zip(workers, versions, strict=True))),
        timeout=2.0,
    )

    for worker in workers:
        answer = await WebChatShopper(worker.client).send("сколько стоит доставка")
        assert "249 ₽" in texts_of(answer)
        assert "199 ₽" not in texts_of(answer)
