"""Where a webhook may point (core.netguard): https to public addresses only, every
address a name resolves to checked. The resolver is a stand-in (the tests run offline);
deliveries through it are tested with a real receiver in test_notify.py."""

from __future__ import annotations

import socket

import pytest

from core import netguard


def resolver(*addresses: str):
    def resolve(host: str, port: int, **_kw: object) -> list[tuple[object, ...]]:
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port)) for a in addresses]
    return resolve


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"),
    ("192.168.0.10", "private"), ("172.16.5.5", "private"), ("169.254.169.254", "link-local"),
    ("fe80::1%eth0", "link-local"), ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"), ("::ffff:127.0.0.1", "loopback"),
    ("fc00::5", "private"), ("240.0.0.1", "reserved"), ("100.64.0.1", "not global")])
def test_non_public_addresses_are_refused(address: str, kind: str):
    with pytest.raises(netguard.RefusedURL, match=f"resolves to a {kind} address"):
        netguard.check("https://hooks.example.org/x", allow_private=False,
                       resolve=resolver("93.184.215.14", address))
    target = netguard.check("https://hooks.example.org/x", allow_private=True,
                            resolve=resolver(address))
    assert target.host == "hooks.example.org" and target.port == 443


def test_public_https_is_accepted_with_every_address_it_resolves_to():
    target = netguard.check("https://hooks.example.org:8443/x?k=secret", allow_private=False,
                            resolve=resolver("93.184.215.14", "2606:2800:21f:cb07::1"))
    assert [str(a) for a in target.addresses] == ["93.184.215.14", "2606:2800:21f:cb07::1"]
    assert target.port == 8443
    assert netguard.host_of("https://hooks.example.org:8443/x?k=secret") == "hooks.example.org"


def test_http_and_other_schemes_are_refused_unless_private_is_allowed():
    public = resolver("93.184.215.14")
    with pytest.raises(netguard.RefusedURL, match="https"):
        netguard.check("http://hooks.example.org/x", allow_private=False, resolve=public)
    assert netguard.check("http://hooks.example.org/x", allow_private=True,
                          resolve=public).port == 80
    for bad in ("ftp://hooks.example.org/x", "https:///x", "https://h.example.org:99999/"):
        with pytest.raises(netguard.RefusedURL):
            netguard.check(bad, allow_private=True, resolve=public)


def test_a_name_that_does_not_resolve_is_told_apart():
    with pytest.raises(netguard.Unresolvable, match="does not resolve"):
        netguard.check("https://nowhere.invalid/x", allow_private=False, resolve=resolver())
