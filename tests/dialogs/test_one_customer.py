"""A shopper who gives the same phone in two channels is one customer, with both identities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bots.messages import IncomingMessage, SharedContact
from storage.customers import normalize_phone
from tests.conftest import SettingsFactory
from tests.webchat_client import WebChatShopper, texts_of


@pytest.mark.parametrize(
    ("typed", "phone"),
    [
        ("+7 (912) 345-67-89", "+79123456789"),
        ("89123456789", "+79123456789"),
        ("912 345 67 89", "+79123456789"),
        ("+44 20 7946 0958", "+442079460958"),
        ("12345", None),
        ("позвоните мне 89123456789", None),
    ],
)
def test_phone_numbers_are_normalised(typed: str, phone: str | None) -> None:
    assert normalize_phone(typed) == phone


async def test_contact_in_one_channel_and_typed_phone_in_another_make_one_customer(
    make_settings: SettingsFactory, start_app, tmp_path: Path
) -> None:
    app = await start_app(make_settings())
    services = app.services
    telegram_contact = IncomingMessage(
        channel="telegram",
        chat_id="501",
        user_id="501",
        attachments=(SharedContact("+7 912 345-67-89", "Анна", user_id="501"),),
        source_id="c-1",
    )
    telegram = await services.engine.handle(telegram_contact)
    shopper = WebChatShopper(app.client)

    replies = await shopper.send("8 912 345 67 89")

    assert "+79123456789" in telegram.replies[0].text
    assert "+79123456789" in texts_of(replies)
    async with services.database.uow() as uow:
        from_telegram = await uow.customers.customer_of("telegram", "501")
        from_web = await uow.customers.customer_of("webchat", shopper.visitor_id or "")
        assert from_telegram is not None
        identities = await uow.customers.identities_of(from_telegram)
    assert from_telegram == from_web
    assert identities == [("telegram", "501"), ("webchat", shopper.visitor_id)]


async def test_someone_elses_contact_card_is_not_linked(
    make_settings: SettingsFactory, start_app
) -> None:
    app = await start_app(make_settings())
    forwarded = IncomingMessage(
        channel="telegram",
        chat_id="7",
        user_id="7",
        attachments=(SharedContact("+79990001122", "Друг", user_id="8"),),
    )

    result = await app.services.engine.handle(forwarded)

    assert "сохранён" not in result.replies[0].text
    async with app.services.database.uow() as uow:
        customer = await uow.customers.customer_of("telegram", "7")
        assert customer is not None
        linked: Any = await uow.customers.identities_of(customer)
    assert linked == [("telegram", "7")]
