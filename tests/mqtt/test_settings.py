"""URL forms and the [mqtt] table: what is accepted, and the one-line errors for what is not."""

from __future__ import annotations

import os
import socket

import pytest
import xqueue_mqtt
from xqueue_mqtt import MqttNotifier, parse_settings

from xqueue_core import XQueue
from xqueue_core.errors import SettingsError
from xqueue_core.settings import load_settings


def test_defaults_per_scheme():
    tcp = parse_settings("mqtt://broker")
    assert (tcp.host, tcp.port, tcp.transport, tcp.tls) == ("broker", 1883, "tcp", False)
    assert (tcp.prefix, tcp.qos, tcp.retain, tcp.protocol, tcp.presence) == (
        "xqueue",
        1,
        True,
        5,
        True,
    )
    assert tcp.client_id.startswith(f"xqueue-{socket.gethostname()}-{os.getpid()}-")
    assert parse_settings("mqtts://broker").port == 8883
    assert parse_settings("mqtts://broker").tls
    ws = parse_settings("ws://broker:9001")
    assert (ws.transport, ws.port, ws.ws_path, ws.tls) == ("websockets", 9001, "/mqtt", False)
    wss = parse_settings("wss://broker/ws")
    assert (wss.port, wss.ws_path, wss.tls) == (443, "/ws", True)


def test_query_credentials_and_table():
    cfg = parse_settings(
        "mqtt://us%40er:p%3Ass@[::1]:1884/?prefix=app/jobs&qos=2&retain=false"
        "&client_id=w-{pid}&protocol=3.1.1&keepalive=10&buffer=50",
        {"qos": 0, "reconnect_max": 2, "presence": "off"},
    )
    assert (cfg.host, cfg.port, cfg.username, cfg.password) == ("::1", 1884, "us@er", "p:ss")
    assert (cfg.prefix, cfg.qos, cfg.retain, cfg.protocol) == ("app/jobs", 2, False, 4)
    assert cfg.client_id == f"w-{os.getpid()}"
    assert (cfg.keepalive, cfg.buffer, cfg.reconnect_max, cfg.presence) == (10, 50, 2.0, False)
    assert "p:ss" not in repr(cfg)
    assert parse_settings("mqtt://h", {"username": "u", "password": "s"}).password == "s"
    assert parse_settings("mqtt://h", {"protocol": 5}).protocol == 5


def test_url_is_redacted():
    notifier = MqttNotifier("mqtt://user:secret@127.0.0.1:1?prefix=t")
    assert notifier.url == "mqtt://user:***@127.0.0.1:1?prefix=t"


@pytest.mark.parametrize(
    ("url", "table", "message"),
    [
        (
            "mqtt://h?qos=3",
            {},
            "mqtt setting 'qos' (from URL mqtt://h?qos=3): must be one of 0, 1 or 2",
        ),
        (
            "mqtt://h?qos=one",
            {},
            "mqtt setting 'qos' (from URL mqtt://h?qos=one): expected a whole number, got 'one'",
        ),
        (
            "mqtt://h",
            {"qos": 5},
            "mqtt setting 'qos' (from settings file [mqtt]): must be one of 0, 1 or 2, got 5",
        ),
        ("mqtt://h?retain=maybe", {}, "expected true or false, got 'maybe'"),
        ("mqtt://h?protocol=4.0", {}, "must be 5 (MQTT 5.0) or 311 (MQTT 3.1.1), got '4.0'"),
        ("mqtt://h?prefix=a/%23", {}, "'a/#' contains a wildcard"),
        ("mqtt://h?prefix=/a", {}, "'/a' has an empty topic level"),
        ("mqtt://h?prefix=", {}, "'' is empty"),
        ("mqtt://h?prefix=$SYS", {}, "starts with '$'"),
        (
            "mqtt://h?keepalive=1",
            {},
            "'keepalive' (from URL mqtt://h?keepalive=1): must be at least 5, got 1",
        ),
        (
            "mqtt://h?timeout=0",
            {},
            "'timeout' (from URL mqtt://h?timeout=0): must be greater than 0, got 0.0",
        ),
        ("mqtt://h?buffer=0", {}, "must be at least 1, got 0"),
        ("mqtt://h?qos=1&qos=2", {}, "repeats the parameter 'qos'"),
        (
            "mqtt://h?colour=red",
            {},
            "unknown mqtt setting 'colour' (from URL mqtt://h?colour=red);"
            " known settings: buffer, ca_certs",
        ),
        ("mqtt://h", {"colour": 1}, "unknown mqtt setting 'colour' (from settings file [mqtt])"),
        ("mqtt://h?password=x", {}, "put password in the URL as mqtt://user:password@host"),
        ("mqtt://h?client_id={who}", {}, "unknown placeholder {who}"),
        ("mqtt://h?client_id=a/b", {}, "must be non-empty text without '/', '+' or '#'"),
        ("mqtt://h/path", {}, "mqtt:// takes no path (got '/path')"),
        ("mqtt://:1883", {}, "has no host"),
        ("mqtt://h:port", {}, "has an invalid port"),
        (
            "mqtt://h?ca_certs=/x.pem",
            {},
            "'ca_certs' (from URL mqtt://h?ca_certs=/x.pem) needs a TLS URL (mqtts:// or wss://)",
        ),
        ("mqtt://h?reconnect_min=3&reconnect_max=1", {}, "'reconnect_min' (3.0) must not exceed"),
        ("http://h", {}, "scheme must be one of mqtt://, mqtts://, ws://, wss://"),
    ],
)
def test_bad_settings_name_the_value(url, table, message):
    with pytest.raises(SettingsError) as info:
        parse_settings(url, table)
    text = str(info.value)
    assert message in text
    assert "\n" not in text


def test_missing_tls_files_are_a_settings_error(tmp_path):
    missing = tmp_path / "ca.pem"
    with pytest.raises(SettingsError) as info:
        MqttNotifier(f"mqtts://h?ca_certs={missing}")
    assert f"cannot load '{missing}': No such file or directory" in str(info.value)
    assert str(info.value).startswith("mqtt setting 'ca_certs' for mqtts://h?ca_certs=")


def test_password_never_appears_in_errors():
    with pytest.raises(SettingsError) as info:
        parse_settings("mqtt://u:topsecret@h?qos=9")
    assert "topsecret" not in str(info.value) and "u:***@h" in str(info.value)


async def test_bad_table_is_refused_when_the_app_opens(tmp_path, monkeypatch):
    monkeypatch.setenv("XQUEUE_LOAD_PLUGINS", "")
    config = tmp_path / "xqueue.toml"
    config.write_text('notify = ["mqtt://127.0.0.1:1"]\n[mqtt]\nqos = "high"\n')
    url = f"sqlite:///{tmp_path / 'x.db'}"
    settings = load_settings(config_file=config, env={}, overrides={"store": url, "broker": url})
    app = XQueue(settings=settings, plugins=[xqueue_mqtt.plugin], autoload_plugins=False)
    with pytest.raises(SettingsError, match=r"mqtt setting .qos. \(from settings file \[mqtt\]\)"):
        await app.open()


@pytest.mark.autoload_plugins
def test_entry_point_offers_the_four_schemes(monkeypatch):
    monkeypatch.delenv("XQUEUE_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("XQUEUE_DISABLE_PLUGINS", raising=False)
    app = XQueue()
    offered = app.plugins.schemes("notifier")
    assert {s: offered.get(s) for s in ("mqtt", "mqtts", "ws", "wss")} == dict.fromkeys(
        ("mqtt", "mqtts", "ws", "wss"), "mqtt"
    )
