"""URL and settings parsing of the Kafka broker: forms, defaults, precise errors."""

from __future__ import annotations

import pytest
from xqueue_kafka.options import KafkaSettings, known_settings, parse_settings

from xqueue_core.errors import SettingsError
from xqueue_core.sections import redact_url
from xqueue_core.settings import Settings


def parse(url: str, **kafka: object) -> KafkaSettings:
    return parse_settings(url, Settings(extras={"kafka": kafka} if kafka else {}))


def test_defaults_and_servers() -> None:
    o = parse("kafka://broker1")
    assert o.servers == ("broker1:9092",)
    assert o.topics == ("xqueue.high", "xqueue.normal", "xqueue.low")
    assert o.group == "xqueue-workers"
    # the group follows the prefix unless set: apps with their own prefix never share one
    assert parse("kafka://b?prefix=jobs").group == "jobs-workers"
    assert parse("kafka://b", prefix="jobs").group == "jobs-workers"
    assert parse("kafka://b?prefix=jobs&group=old").group == "old"
    assert parse("kafka://b?prefix=jobs", group="old").group == "old"
    assert o.fairness == Settings().priority_fairness
    o = parse("kafka://a:9093,b:9094,[::1]:9095,[::1]")
    assert o.servers == ("a:9093", "b:9094", "[::1]:9095", "[::1]:9092")
    assert o.bootstrap == "a:9093,b:9094,[::1]:9095,[::1]:9092"
    # more servers through an option, e.g. from the settings file's [kafka] table
    o = parse("kafka://a:9093?servers=b:9094,a:9093", client_id="me")
    assert o.servers == ("a:9093", "b:9094") and o.client_id == "me"
    assert parse("kafka://a", servers="c").servers == ("a:9092", "c:9092")
    assert parse("kafka://a", servers=["c:1", "d:2"]).servers == ("a:9092", "c:1", "d:2")


def test_query_overrides_settings_table() -> None:
    o = parse(
        "kafka://h:1?prefix=jobs&partitions=12&replication=3&group=w&compression=NONE",
        prefix="other",
        linger_ms=20,
    )
    assert (o.prefix, o.partitions, o.replication, o.group) == ("jobs", 12, 3, "w")
    assert o.linger_ms == 20
    assert o.compression == "none"
    assert o.topic("low") == "jobs.low"


def test_priority_bands() -> None:
    o = parse("kafka://h?high_priority=10&low_priority=-10")
    assert [o.band(p) for p in (100, 10, 9, 0, -9, -10, -50)] == [
        "high",
        "high",
        "normal",
        "normal",
        "normal",
        "low",
        "low",
    ]
    d = parse("kafka://h")
    assert [d.band(p) for p in (1, 0, -1)] == ["high", "normal", "low"]
    assert d.band_of_topic("xqueue.normal") == "normal"
    assert d.band_of_topic("elsewhere") is None


def test_sasl_from_userinfo_and_masking() -> None:
    url = "kafka://alice:s%40cret@h:9093?security_protocol=sasl_ssl&sasl_mechanism=scram-sha-512"
    o = parse(url)
    assert (o.sasl_username, o.sasl_password) == ("alice", "s@cret")
    assert (o.security_protocol, o.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    assert "s%40cret" not in redact_url(url)
    assert redact_url("kafka://h:1") == "kafka://h:1"


@pytest.mark.parametrize(
    ("url", "extra", "message"),
    [
        ("redis://h", {}, "must start with kafka://"),
        ("kafka://", {}, "names no broker"),
        ("kafka://h:99999", {}, "'h:99999' is not a broker address"),
        ("kafka://h:1,", {}, "'' is not a broker address"),
        ("kafka://h/topic", {}, "unexpected path"),
        ("kafka://h?partitions=0", {}, "'partitions' (from URL query): must be at least 1"),
        ("kafka://h?partitions=six", {}, "expected a whole number, got 'six'"),
        ("kafka://h?colour=red", {}, "unknown kafka setting 'colour' (from URL query)"),
        ("kafka://h", {"linger_ms": -1}, "(from settings file [kafka]): must not be negative"),
        ("kafka://h?compression=brotli", {}, "must be one of none, gzip"),
        ("kafka://h?prefix=a/b", {}, "not a valid topic prefix"),
        ("kafka://h?low_priority=5", {}, "'low_priority' (5) must be below 'high_priority'"),
        ("kafka://h?heartbeat_interval_ms=2000&session_timeout_ms=1000", {}, "must be shorter"),
        ("kafka://h?security_protocol=SASL_PLAINTEXT", {}, "needs sasl_username"),
        ("kafka://h?ssl_check_hostname=maybe", {}, "expected true or false"),
        ("kafka://h?sasl_password=", {}, "got ***"),
        ("kafka://h?servers=b:x", {}, "'servers' (from URL query): 'b:x' is not a broker"),
    ],
)
def test_bad_input_is_one_precise_line(url: str, extra: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        parse(url, **extra)
    text = str(info.value)
    assert message in text
    assert "\n" not in text


def test_every_option_has_a_default() -> None:
    options = known_settings()
    assert options["prefix"] == "xqueue"
    assert "servers" not in options
