"""The client's address behind trusted reverse proxies (the trusted_proxies setting)."""

from __future__ import annotations

import pytest

from ioc.auth.proxies import client_address, parse


@pytest.mark.parametrize(
    ("setting", "peer", "header", "expected"),
    [
        ("", "10.0.0.5", "203.0.113.9", "10.0.0.5"),  # no proxy trusted: the header is anyone's
        ("1", "10.0.0.5", "203.0.113.9", "203.0.113.9"),
        ("1", "10.0.0.5", "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # the client's own entry is ignored
        ("2", "10.0.0.5", "6.6.6.6, 203.0.113.9, 10.0.0.4", "203.0.113.9"),
        ("2", "10.0.0.5", "203.0.113.9", "10.0.0.5"),  # fewer hops than proxies: none is read
        ("1", "10.0.0.5", None, "10.0.0.5"),
        ("1", "10.0.0.5", "not-an-address", "10.0.0.5"),
        ("10.0.0.0/24", "10.0.0.5", "6.6.6.6, 203.0.113.9", "203.0.113.9"),
        ("10.0.0.0/24", "10.0.0.5", "6.6.6.6, 203.0.113.9, 10.0.0.4", "203.0.113.9"),  # two proxies
        ("10.0.0.0/24", "192.0.2.1", "203.0.113.9", "192.0.2.1"),  # from an untrusted peer
        ("10.0.0.5, 2001:db8::/32", "2001:db8::1", "2001:db8::2, 198.51.100.4", "198.51.100.4"),
        ("10.0.0.0/24", "10.0.0.5", "10.0.0.3", "10.0.0.3"),  # only proxies: the farthest one
    ],
)
def test_client_address(setting: str, peer: str, header: str | None, expected: str) -> None:
    assert client_address(peer, header, parse(setting)) == expected


def test_a_bad_setting_names_itself_and_the_entry() -> None:
    with pytest.raises(ValueError, match=r"IOC_TRUSTED_PROXIES: 'proxy\.local' is neither"):
        parse("10.0.0.1, proxy.local")
