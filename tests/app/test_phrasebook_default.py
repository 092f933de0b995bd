"""The shipped phrasebook is on in a running bot: shoppers' common wordings get answers (#4)."""

from __future__ import annotations

from tests.conftest import SettingsFactory
from tests.webchat_client import WebChatShopper, buttons_of, texts_of

HOURS = "с 8:00 до 23:00"
"""From the shipped FAQ's store-hours answer."""


async def test_a_wording_only_the_phrasebook_knows_is_answered_unless_it_is_switched_off(
    make_settings: SettingsFactory, start_app, tmp_path
) -> None:
    # «вы щас открыты??» shares no content word with the shipped FAQ's hours questions; the
    # phrasebook's store-hours wordings, lent to that entry, carry it.
    on = await start_app(make_settings(OTKLIK_FAQ__MATCHER__SEMANTIC="true"))
    off = await start_app(
        make_settings(
            OTKLIK_FAQ__MATCHER__SEMANTIC="true",
            OTKLIK_FAQ__MATCHER__PHRASEBOOK="off",
            OTKLIK_DATABASE__SQLITE_PATH=str(tmp_path / "off.db"),
        )
    )

    answered = await WebChatShopper(on.client).send("вы щас открыты??")
    unsure = await WebChatShopper(off.client).send("вы щас открыты??")

    assert HOURS in texts_of(answered)
    assert "👍" in buttons_of(answered)
    assert HOURS not in texts_of(unsure)
    assert "Работаете ли вы в праздники?" in buttons_of(unsure)
