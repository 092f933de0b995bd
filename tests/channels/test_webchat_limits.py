"""Web chat limits per client address: a flood cannot hide behind fresh visitor ids.

A visitor id costs nothing to make, so a per-visitor limit alone lets a script that takes a new
id for every message write without end, each message opening a new conversation. Limits per
address stop it. Behind the chain's reverse proxy every request comes from the proxy, so the
client's address is read from ``X-Forwarded-For``, but only from a proxy the settings trust.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import SettingsFactory

PROXY_HEADER = "X-Forwarded-For"


async def _new_visitor(client: Any, forwarded_for: str | None = None) -> Any:
    headers = {PROXY_HEADER: forwarded_for} if forwarded_for else {}
    return await client.post("/api/webchat/visitors", headers=headers)


async def _send_as_new_visitor(client: Any, forwarded_for: str | None = None) -> int:
    """A new visitor id, then one message with it; the message's HTTP status."""
    visitor = await _new_visitor(client, forwarded_for)
    assert visitor.status == 200
    visitor_id = (await visitor.json())["visitor_id"]
    headers = {PROXY_HEADER: forwarded_for} if forwarded_for else {}
    response = await client.post(
        "/api/webchat/messages",
        json={"visitor_id": visitor_id, "text": "/start"},
        headers=headers,
    )
    status: int = response.status
    return status


async def test_fresh_visitor_ids_do_not_get_a_flood_past_its_address(
    make_settings: SettingsFactory, start_app, clock: Any
) -> None:
    app = await start_app(
        make_settings(OTKLIK_WEBCHAT__MESSAGES_PER_MINUTE_PER_ADDRESS="3"), clock
    )

    allowed = [await _send_as_new_visitor(app.client) for _ in range(3)]
    visitor = await _new_visitor(app.client)
    flood = await app.client.post(
        "/api/webchat/messages",
        json={"visitor_id": (await visitor.json())["visitor_id"], "text": "ещё"},
    )
    clock.advance(int(flood.headers["Retry-After"]))
    later = await _send_as_new_visitor(app.client)

    assert allowed == [200, 200, 200]
    assert flood.status == 429
    assert "try again" in (await flood.json())["error"]
    assert later == 200


async def test_making_visitor_ids_is_limited_per_address(
    make_settings: SettingsFactory, start_app, clock: Any
) -> None:
    app = await start_app(
        make_settings(OTKLIK_WEBCHAT__NEW_VISITORS_PER_MINUTE_PER_ADDRESS="2"), clock
    )

    statuses = [(await _new_visitor(app.client)).status for _ in range(3)]
    refused = await _new_visitor(app.client)

    assert statuses == [200, 200, 429]
    assert 0 < int(refused.headers["Retry-After"]) <= 60


async def test_behind_a_trusted_proxy_each_shopper_counts_by_their_own_address(
    make_settings: SettingsFactory, start_app, clock: Any
) -> None:
    # The test client connects from 127.0.0.1, trusted by default, as a proxy on the same host.
    app = await start_app(
        make_settings(OTKLIK_WEBCHAT__MESSAGES_PER_MINUTE_PER_ADDRESS="1"), clock
    )

    first = await _send_as_new_visitor(app.client, "203.0.113.5")
    other_shopper = await _send_as_new_visitor(app.client, "198.51.100.7")
    # The client wrote 10.9.9.9 itself; the proxy appended the address it saw.
    same_shopper_again = await _send_as_new_visitor(app.client, "10.9.9.9, 203.0.113.5")

    assert (first, other_shopper, same_shopper_again) == (200, 200, 429)


async def test_an_untrusted_client_cannot_choose_its_address(
    make_settings: SettingsFactory, start_app, clock: Any
) -> None:
    app = await start_app(
        make_settings(
            OTKLIK_WEBCHAT__MESSAGES_PER_MINUTE_PER_ADDRESS="1",
            OTKLIK_WEBCHAT__TRUSTED_PROXIES="none",  # the header is the client's own word
        ),
        clock,
    )

    first = await _send_as_new_visitor(app.client, "203.0.113.5")
    pretending = await _send_as_new_visitor(app.client, "198.51.100.7")

    assert (first, pretending) == (200, 429)


async def test_an_ipv6_client_counts_by_its_network(
    make_settings: SettingsFactory, start_app, clock: Any
) -> None:
    # One host usually holds a whole /64 and can write from any address in it.
    app = await start_app(
        make_settings(OTKLIK_WEBCHAT__MESSAGES_PER_MINUTE_PER_ADDRESS="1"), clock
    )

    first = await _send_as_new_visitor(app.client, "2001:db8:1:2::1")
    same_network = await _send_as_new_visitor(app.client, "2001:db8:1:2:ffff::7")
    next_network = await _send_as_new_visitor(app.client, "2001:db8:1:3::1")

    assert (first, same_network, next_network) == (200, 429, 200)
