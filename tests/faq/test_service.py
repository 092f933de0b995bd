from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from faq.matcher import Outcome
from faq.model import Faq
from faq.normalizer import Normalizer
from faq.semantic import EmbeddingCache, UniversalSentenceEncoder
from faq.service import FaqService
from tests.faq.conftest import write

HOURS = """\
- id: store-hours
  questions: [Во сколько открываются магазины?, Режим работы магазина]
  answer: С 8:00 до 23:00.
- id: delivery-cost
  questions: [Сколько стоит доставка?]
  answer: 199 ₽.
"""


@pytest.fixture
def service(
    tmp_path: Path, normalizer: Normalizer, encoder: UniversalSentenceEncoder
) -> FaqService:
    write(tmp_path, "faq.yaml", HOURS)
    cache = EmbeddingCache(encoder, encoder.name)
    service = FaqService(tmp_path, normalizer=normalizer, embeddings=cache)
    service.load()
    return service


def test_an_edit_takes_effect_on_the_next_check(service: FaqService, tmp_path: Path) -> None:
    assert service.entry("store-hours") is not None
    assert service.entry("store-hours").answer_for("ru") == "С 8:00 до 23:00."  # type: ignore[union-attr]

    write(tmp_path, "faq.yaml", HOURS.replace("С 8:00 до 23:00.", "Круглосуточно."))

    assert service.reload_if_changed() is True
    assert service.entry("store-hours").answer_for("ru") == "Круглосуточно."  # type: ignore[union-attr]
    assert service.reload_if_changed() is False  # nothing new


def test_a_new_file_adds_entries_and_encodes_only_new_phrasings(
    service: FaqService, tmp_path: Path
) -> None:
    cache = service.matcher.embeddings
    assert cache is not None
    before = cache.encoded

    write(
        tmp_path, "more.yaml", "- id: pickup\n  questions: [Есть ли самовывоз?]\n  answer: Да.\n"
    )
    service.reload_if_changed()

    assert cache.encoded - before == 2  # its one question and its one-sentence answer
    result = service.match("есть самовывоз?")
    assert result.outcome is Outcome.ANSWER
    assert result.matches[0].entry_id == "pickup"


def test_a_broken_edit_keeps_the_last_good_faq_and_logs_file_and_line(
    service: FaqService, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "faq.yaml", HOURS + "- id: broken\n  questions: [x\n")

    with caplog.at_level(logging.ERROR, logger="faq.service"):
        assert service.reload_if_changed() is False

    assert f"{path}:9:" in caplog.text
    assert service.match("режим работы").matches[0].entry_id == "store-hours"
    assert service.entry("broken") is None


def test_an_edit_saved_beside_an_unreadable_file_applies_once_the_file_is_fixed(
    service: FaqService, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A link to a file that is gone sits in the folder while an edit is saved: the edit
    # cannot load then, but must not be forgotten once the link is removed.
    broken = tmp_path / "stale.yaml"
    broken.symlink_to(tmp_path / "gone.yaml")
    write(tmp_path, "faq.yaml", HOURS.replace("С 8:00 до 23:00.", "Круглосуточно."))

    with caplog.at_level(logging.ERROR, logger="faq.service"):
        assert service.reload_if_changed() is False
    assert f"{broken}:1: cannot read the file" in caplog.text
    served_meanwhile = service.entry("store-hours").answer_for("ru")  # type: ignore[union-attr]

    broken.unlink()

    assert service.reload_if_changed() is True
    assert served_meanwhile == "С 8:00 до 23:00."
    assert service.entry("store-hours").answer_for("ru") == "Круглосуточно."  # type: ignore[union-attr]


async def test_watch_reloads_in_the_background_until_stopped(
    tmp_path: Path, normalizer: Normalizer, encoder: UniversalSentenceEncoder
) -> None:
    loop = asyncio.get_running_loop()
    reloaded = asyncio.Event()
    write(tmp_path, "faq.yaml", HOURS)
    service = FaqService(
        tmp_path,
        normalizer=normalizer,
        embeddings=EmbeddingCache(encoder, encoder.name),
        on_reload=lambda _faq: loop.call_soon_threadsafe(reloaded.set),
    )
    service.load()
    stop = asyncio.Event()
    watcher = asyncio.create_task(service.watch(stop, interval=0.05))

    write(tmp_path, "faq.yaml", HOURS.replace("199 ₽.", "Бесплатно."))
    await asyncio.wait_for(reloaded.wait(), timeout=2.0)  # the 2-second promise
    stop.set()
    await asyncio.wait_for(watcher, timeout=2.0)

    assert service.entry("delivery-cost").answer_for("ru") == "Бесплатно."  # type: ignore[union-attr]


def test_the_disk_cache_spares_a_restart_from_encoding(
    tmp_path: Path, encoder: UniversalSentenceEncoder
) -> None:
    texts = ["сколько стоит доставка", "режим работы"]
    first = EmbeddingCache(encoder, encoder.name, tmp_path / "cache")
    vectors = first.embed(texts)

    restarted = EmbeddingCache(encoder, encoder.name, tmp_path / "cache")
    again = restarted.embed(texts)

    assert restarted.encoded == 0
    assert (vectors == again).all()


def test_construction_does_no_work(tmp_path: Path) -> None:
    service = FaqService(tmp_path / "not-yet")

    with pytest.raises(RuntimeError, match="load"):
        _ = service.faq


def test_service_faq_is_a_faq(service: FaqService) -> None:
    assert isinstance(service.faq, Faq)
    assert len(service.faq) == 2
