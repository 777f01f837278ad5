"""LineFramer: joining split lines, line endings, the first partial line and overlong lines."""

from __future__ import annotations

import pytest

from edge_agent.sensor_io.framing import LineFramer


def feed_all(framer: LineFramer, chunks: list[bytes]) -> list[bytes]:
    lines: list[bytes] = []
    for chunk in chunks:
        lines.extend(framer.feed(chunk))
    return lines


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        pytest.param([b"21.5\n22.0\n"], [b"21.5", b"22.0"], id="lf"),
        pytest.param([b"21.5\r\n22.0\r\n"], [b"21.5", b"22.0"], id="crlf"),
        pytest.param([b"21.5\r22.0\r"], [b"21.5", b"22.0"], id="cr-only"),
        pytest.param([b"21.5\r", b"\n22.0\r", b"\n"], [b"21.5", b"22.0"], id="crlf-split-between-reads"),
        pytest.param([b"21", b".5\n2", b"2.0", b"\n"], [b"21.5", b"22.0"], id="line-split-across-reads"),
        pytest.param([b"21.5\n\n\n22.0\n"], [b"21.5", b"22.0"], id="empty-lines-skipped"),
        pytest.param([b"21.5\n22.0"], [b"21.5"], id="incomplete-tail-held"),
        pytest.param([b"21.5\x0022.0\n"], [b"21.5\x0022.0"], id="nul-kept-for-parser"),
    ],
)
def test_framer_splits_lines(chunks, expected):
    framer = LineFramer(discard_first_line=False)
    assert feed_all(framer, chunks) == expected


def test_framer_byte_by_byte():
    framer = LineFramer(discard_first_line=False)
    stream = b"21.5\r\n22.0\n23.5\r"
    assert feed_all(framer, [bytes([byte]) for byte in stream]) == [b"21.5", b"22.0", b"23.5"]


@pytest.mark.parametrize(
    ("chunks", "expected", "partials"),
    [
        pytest.param([b".5\n22.0\n"], [b"22.0"], 1, id="tail-of-line-dropped"),
        pytest.param([b"1", b".5", b"\n22.0\n"], [b"22.0"], 1, id="tail-over-several-reads"),
        pytest.param([b"\n22.0\n"], [b"22.0"], 0, id="starts-on-boundary"),
        pytest.param([b"22.0\n23.0\n"], [b"23.0"], 1, id="whole-first-line-lost"),
    ],
)
def test_framer_discards_first_partial_line(chunks, expected, partials):
    framer = LineFramer()
    assert feed_all(framer, chunks) == expected
    assert framer.partial_discarded == partials


def test_reset_discards_again():
    framer = LineFramer()
    assert framer.feed(b"x\n21.0\n") == [b"21.0"]
    framer.feed(b"22")
    framer.reset()
    assert framer.feed(b".0\n23.0\n") == [b"23.0"]


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([b"x" * 20 + b"\n21.5\n"], id="in-one-read"),
        pytest.param([b"x" * 8, b"x" * 8, b"x" * 8, b"\n21.5\n"], id="across-reads"),
        pytest.param([b"x" * 11, b"x" * 30, b"xx\n21.5\n"], id="long-tail-counted-once"),
    ],
)
def test_overlong_line_dropped_and_counted(chunks):
    framer = LineFramer(max_line_bytes=10, discard_first_line=False)
    assert feed_all(framer, chunks) == [b"21.5"]
    assert framer.overlong == 1


def test_line_at_limit_kept():
    framer = LineFramer(max_line_bytes=4, discard_first_line=False)
    assert framer.feed(b"21.5\n21.55\n") == [b"21.5"]
    assert framer.overlong == 1


def test_invalid_limit_rejected():
    with pytest.raises(ValueError, match="max_line_bytes"):
        LineFramer(max_line_bytes=0)
