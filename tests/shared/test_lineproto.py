"""The line protocol parser: sections, escapes, value types, precisions, comments and the errors it names."""

from __future__ import annotations

import random

import pytest

from shared.lineproto import PRECISIONS, LineError, LineProblem, parse, parse_line, precision_factor


def one(text: str, precision: str = "ns"):
    [point] = parse(text, precision)
    return point


def test_measurement_tags_fields_and_timestamp():
    point = one("cpu,host=server01,region=eu-west usage_idle=98.5,usage_user=1.25 1767225600000000000")
    assert point.measurement == "cpu"
    assert point.tags == {"host": "server01", "region": "eu-west"}
    assert point.fields == {"usage_idle": 98.5, "usage_user": 1.25}
    assert point.time_ns == 1_767_225_600_000_000_000


def test_no_tags_and_no_timestamp():
    point = one("weather temp=21.5")
    assert (point.measurement, point.tags, point.fields, point.time_ns) == ("weather", {}, {"temp": 21.5}, None)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1.5", 1.5),
        ("-1.5", -1.5),
        ("1", 1.0),
        ("1.", 1.0),
        (".5", 0.5),
        ("-.5", -0.5),
        ("01", 1.0),
        ("1e3", 1000.0),
        ("1E+3", 1000.0),
        ("2.5e-1", 0.25),
        ("3i", 3),
        ("-3i", -3),
        ("9223372036854775807i", 2**63 - 1),
        ("-9223372036854775808i", -(2**63)),
        ("3u", 3),
        ("18446744073709551615u", 2**64 - 1),
        ("t", True),
        ("T", True),
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("f", False),
        ("F", False),
        ("false", False),
        ("False", False),
        ("FALSE", False),
        ('"text"', "text"),
        ('""', ""),
        ('"with space, comma=equals"', "with space, comma=equals"),
    ],
)
def test_field_types(text, value):
    got = one(f"m v={text} 1").fields["v"]
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("+1", "invalid number"),
        ("1_0", "invalid number"),
        ("1.2.3", "invalid number"),
        ("1e500", "invalid number"),
        ("nan", "invalid field value"),
        ("inf", "invalid field value"),
        ("-", "invalid field value"),
        ("1e", "invalid field value"),
        ("tRue", "invalid field value"),
        ("yes", "invalid field value"),
        ("9223372036854775808i", "out of the 64-bit range"),
        ("1.5i", "invalid integer"),
        ("i", "invalid integer"),
        ("-1u", "invalid unsigned"),
        ("18446744073709551616u", "out of range"),
        ('"open', "unbalanced quotes"),
        ("١٢", "invalid field value"),
    ],
)
def test_bad_field_values(text, reason):
    with pytest.raises(LineError, match=reason):
        parse(f"m v={text} 1")


def test_escapes_in_measurement_tags_and_field_keys():
    point = one(r"disk\ io\,x,path\=k=C:\\data\ x,label=a\,b field\ one=1i,f\=2=2i,f\,3=3i 7")
    assert point.measurement == "disk io,x"
    assert point.tags == {"path=k": "C:\\\\data x", "label": "a,b"}
    assert point.fields == {"field one": 1, "f=2": 2, "f,3": 3}
    assert point.time_ns == 7


def test_backslash_before_other_characters_is_kept():
    point = one(r"m\x,t=a\b v=1")
    assert (point.measurement, point.tags) == ("m\\x", {"t": "a\\b"})


def test_string_escapes_and_strings_with_separators():
    point = one(r'm s="say \"hi\", C:\\dir\x",n=1i 5')
    assert point.fields == {"s": 'say "hi", C:\\dir\\x', "n": 1}
    assert point.time_ns == 5


def test_string_may_span_lines_as_in_influxdb_1():
    points = parse('m s="two\nlines" 1\nm s="one" 2')
    assert [p.fields["s"] for p in points] == ["two\nlines", "one"]


def test_quote_in_a_tag_value_is_literal():
    points = parse('m,t="x v=1 1\nm,t=y" v=2 2')
    assert [p.tags["t"] for p in points] == ['"x', 'y"']


@pytest.mark.parametrize(
    ("precision", "factor"),
    [
        ("ns", 1),
        ("n", 1),
        ("us", 1_000),
        ("u", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
    ],
)
def test_precisions(precision, factor):
    assert one("m v=1 1000", precision).time_ns == 1000 * factor
    assert precision_factor(precision) == PRECISIONS[precision] == factor


def test_unknown_precision():
    with pytest.raises(LineProblem, match="unknown precision 'd'"):
        parse("m v=1 1", "d")


def test_negative_timestamp_and_whitespace_tolerance():
    points = parse("  m v=1 -10  \r\nm  w=2   20\r\n\n\t\n")
    assert [(p.fields, p.time_ns) for p in points] == [({"v": 1.0}, -10), ({"w": 2.0}, 20)]


def test_comments_and_blank_lines_are_skipped_but_counted():
    text = "# header\n\nm v=1 1\n   # indented comment\nm v= 2\n"
    with pytest.raises(LineError) as caught:
        parse(text)
    assert caught.value.number == 5
    assert caught.value.line == "m v= 2"
    assert str(caught.value) == "line 5: missing field value for field 'v': 'm v= 2'"


def test_line_numbers_count_lines_inside_multiline_strings():
    with pytest.raises(LineError) as caught:
        parse('m s="a\nb\nc" 1\nm v=x 2')
    assert caught.value.number == 4


def test_last_duplicate_field_wins():
    assert one("m v=1,v=2 1").fields == {"v": 2.0}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("m", "missing fields"),
        ("m ", "missing fields"),
        (",t=a v=1", "missing measurement"),
        ("m, v=1", "missing tag key"),
        ("m,=a v=1", "missing tag key"),
        ("m,t v=1", "missing tag value"),
        ("m,t= v=1", "missing tag value"),
        ("m,t=a=b v=1", "invalid tag format"),
        ("m,t=a,t=b v=1", "duplicate tags"),
        ("m =1", "missing field key"),
        ("m v=", "missing field value"),
        ("m v", "invalid field format"),
        ("m v=1,,w=2", "invalid field format"),
        ("m v=1,w=2,", "invalid field format"),
        ("m v=1=2", "invalid field format"),
        ('m v="a"b', "invalid field format"),
        ("m v=1 10.5", "bad timestamp"),
        ("m v=1 +10", "bad timestamp"),
        ("m v=1 1e3", "bad timestamp"),
        ("m v=1 99999999999999999999", "out of range"),
        ("m v=1 1 x", "point is invalid"),
        (r"m\ v=1", "missing fields"),
        ('m s="x",v=1 1 2', "point is invalid"),
    ],
)
def test_bad_lines(line, reason):
    with pytest.raises(LineError, match=reason) as caught:
        parse(f"ok v=1 1\n{line}\nok v=2 2")
    assert caught.value.number == 2


def test_parse_line_takes_a_factor_and_shares_parsed_keys():
    first = parse_line("cpu,host=a v=1 2", 1_000)
    second = parse_line("cpu,host=a v=3 4", 1_000)
    assert (first.time_ns, second.time_ns) == (2_000, 4_000)
    assert first.key == second.key == "cpu,host=a" and first.tags == second.tags == {"host": "a"}


def test_empty_body_has_no_points():
    assert parse("") == [] and parse("\n# only a comment\n") == []


def test_long_line_is_shortened_in_the_message():
    line = "m v=" + "9" * 300 + "x"
    with pytest.raises(LineError) as caught:
        parse(line)
    assert len(str(caught.value)) < 300 and caught.value.line == line


def test_any_input_parses_or_names_its_line():
    rng = random.Random(20260301)
    alphabet = ["m", "v", "1", "0", ".", "-", "i", "u", "t", "e", " ", ",", "=", '"', "\\", "\n", "\r", "#", "\t"]
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        try:
            points = parse(text)
        except LineError as error:
            assert error.number >= 1 and error.line
        else:
            assert all(p.measurement and p.fields for p in points)


@pytest.mark.parametrize("name", ["plain", "with space", "com,ma", "equals=sign", 'quo"te', "back\\slash", "ünï"])
def test_what_the_official_client_escapes_parses_back(name):
    from influxdb_client import Point as ClientPoint

    line = (
        ClientPoint(f"m {name}")
        .tag(f"t {name}", f"v {name}")
        .field(f"f {name}", f"s {name}")
        .field("n", 3)
        .time(1_772_366_400_000_000_000)
        .to_line_protocol()
    )
    point = one(line)
    assert point.measurement == f"m {name}"
    assert point.tags == {f"t {name}": f"v {name}"}
    assert point.fields == {f"f {name}": f"s {name}", "n": 3}
    assert point.time_ns == 1_772_366_400_000_000_000


def test_quote_in_a_field_key_does_not_open_a_string():
    points = parse('m k"x=1,v="a\nb" 5\nm w=2i 6')
    assert [(p.fields, p.time_ns) for p in points] == [({'k"x': 1.0, "v": "a\nb"}, 5), ({"w": 2}, 6)]
