"""The envelope's JSON of a value with long strings: the same text, in pieces."""

from __future__ import annotations

import base64
import json
import os

import pytest

from lockbuild.store import envelope, jsondata
from lockbuild.store.envelope import (
    canonical_json,
    canonical_pieces,
    decode_stored,
    encode_envelope,
    envelope_pieces,
    value_sha256,
)

LONG = 5000
B64 = base64.b64encode(os.urandom(LONG)).decode("ascii")


@pytest.mark.parametrize(
    "value",
    [
        {"rows": {"rows": B64, "ends": B64[:LONG], "others": {"1": [B64]}}, "a": B64[1:]},
        {"z": B64, "a": B64[2:], "m": [B64, {"x": B64}]},
        {"quote": B64 + '"', "backslash": "\\" + B64, "control": B64 + "\x1f", "ok": B64},
        {"unicode": B64 + "é", "astral": "\U0001f600" + B64, "del": B64 + "\x7f"},
        {"one": {"two": {"three": {"four": B64}}}, "short": "ab"},
        [B64, {"in a list": B64}],
        B64,
        {"key " + B64: B64},
        {},
    ],
)
def test_pieces_are_the_canonical_json(value: object) -> None:
    pieces = canonical_pieces(value)
    assert "".join(pieces) == canonical_json(value)
    key = "meta-v2:" + "0" * 64
    stored = "".join(envelope_pieces(key, value, stored=1.0, etag=None, last_modified=None))
    assert stored == encode_envelope(key, value, stored=1.0, etag=None, last_modified=None)
    read = decode_stored(key, stored)
    assert read.value == value and read.sha256 == value_sha256(value)


def test_a_long_string_json_writes_as_it_is_is_a_piece_of_its_own() -> None:
    value = {"b": {"rows": B64}, "a": B64[:LONG], "c": B64 + '"'}
    pieces = canonical_pieces(value)
    assert sum(piece is B64 for piece in pieces) == 1  # copied in whole, not escaped
    assert sum(piece is value["a"] for piece in pieces) == 1
    assert all(piece is not value["c"] for piece in pieces)  # it needs escaping
    assert json.loads("".join(pieces)) == value


def test_a_value_is_never_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    inner = {"rows": B64}
    value = {"rows": inner, "x": B64}
    canonical_pieces(value)
    assert value == {"rows": {"rows": B64}, "x": B64} and value["rows"] is inner


def test_a_string_holding_the_marker_falls_back_to_plain_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jsondata.secrets, "token_hex", lambda size: "t" * 2 * size)
    value = {"a": B64, "b": "\x00" + "t" * 32 + ":0", "c": ["\x00" + "t" * 32 + ":0"]}
    assert canonical_pieces(value) == [canonical_json(value)]


def test_an_envelope_with_a_section_encodes_and_decodes_in_either_form() -> None:
    """As a value file (the section on its own line) and as an archive line (the section a
    member of the JSON), checked either way; an envelope without a section is bound to its
    key as before sections were stored."""
    from lockbuild.store.envelope import Envelope, decode_envelope, decode_stored, text_sha256

    key = "page-v5:https://i/simple:demo"
    written = Envelope(
        key,
        {"a": 1},
        5.0,
        envelope.value_sha256({"a": 1}),
        None,
        None,
        text="the\ntext",
        text_sha256=text_sha256("the\ntext"),
        section=b"QUJD",
        section_sha256=text_sha256("QUJD"),
    )
    stored = written.encode()
    assert stored.endswith("\nQUJD\nthe\ntext")
    assert decode_stored(key, stored) == written
    assert decode_envelope(key, json.loads(written.encode_line())) == written
    line = json.loads(written.encode_line().replace('"QUJD"', '"QUJE"'))
    with pytest.raises(envelope.CorruptEntry, match="section checksum mismatch"):
        decode_envelope(key, line)
    without = written.encode_line().replace(',"section":"QUJD"', "")
    with pytest.raises(envelope.CorruptEntry, match="section missing"):
        decode_envelope(key, json.loads(without))
    plain = Envelope(key, {"a": 1}, 5.0, written.sha256, None, None)
    assert (
        envelope._entry_sha256(key, {"stored": 5.0, "sha256": written.sha256})
        == json.loads(plain.encode())["entry_sha256"]
    )
