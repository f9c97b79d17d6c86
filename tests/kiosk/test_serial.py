"""The serial button box: a real pty pair (and pyserial's loop://) carrying the line protocol."""

from __future__ import annotations

import os
import queue
import time

import serial
from hypothesis import given
from hypothesis import strategies as st

from kiosk.hardware.serial_box import MAX_LINE, LineParser, SerialButtonBox
from kiosk.rules import Edge
from kiosk.vote import Source


def open_pty():
    master, slave = os.openpty()
    return master, slave, os.ttyname(slave)


def collect(events: queue.Queue, count: int, timeout: float = 30.0) -> list[int]:
    """Up to ``count`` events; the timeout is a hang guard (a test asking for none sets it)."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        try:
            got.append(events.get(timeout=0.05))
        except queue.Empty:
            pass
    return got


def test_presses_over_a_pty_arrive_as_click_events():
    master, slave, path = open_pty()
    events: queue.Queue = queue.Queue()
    with SerialButtonBox(path, 9600, 3, events.put) as box:
        assert box.connected.wait(30)
        os.write(master, b"B1\nB3\r\n")
        got = collect(events, 2)
    os.close(master)
    os.close(slave)
    assert [(e.level, e.edge, e.source) for e in got] == [
        (1, Edge.CLICK, Source.SERIAL), (3, Edge.CLICK, Source.SERIAL)]


def test_garbage_partial_lines_and_unknown_levels_invent_no_vote():
    master, slave, path = open_pty()
    events: queue.Queue = queue.Queue()
    with SerialButtonBox(path, 9600, 3, events.put) as box:
        assert box.connected.wait(30)
        os.write(master, b"\x00\xff\xfeB\n")            # noise
        os.write(master, b"B9\nB4\nB0\nBB1\nb1\n")       # no such button, wrong case
        os.write(master, b"#hello from box v2\n")       # a comment
        os.write(master, b"X" * (MAX_LINE * 3) + b"B2\n")  # an endless line, then a valid tail
        os.write(master, b"B")                          # half a line...
        time.sleep(0.3)
        assert collect(events, 1, timeout=0.3) == []
        os.write(master, b"2\n")                        # ...completed later: one press
        got = collect(events, 1)
    os.close(master)
    os.close(slave)
    assert [e.level for e in got] == [2]
    assert events.empty()


def test_unplug_and_replug_through_a_by_id_symlink(tmp_path):
    """udev gives the box a stable /dev/serial/by-id link; replugging makes a new tty."""
    link = tmp_path / "usb-button-box"
    master, slave, path = open_pty()
    link.symlink_to(path)
    events: queue.Queue = queue.Queue()
    with SerialButtonBox(str(link), 9600, 3, events.put) as box:
        assert box.connected.wait(30)
        os.write(master, b"B1\nB")  # a press, then a line cut by the unplug
        assert [e.level for e in collect(events, 1)] == [1]
        os.close(master)             # unplug: the tty goes away
        os.close(slave)
        link.unlink()
        deadline = time.monotonic() + 30
        while box.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not box.connected.is_set()
        master, slave, path = open_pty()  # replug: a new tty behind the same link
        link.symlink_to(path)
        assert box.connected.wait(30)
        os.write(master, b"3\nB2\n")  # the "3" would complete the cut line: must not count
        got = collect(events, 1)
        time.sleep(0.2)
    os.close(master)
    os.close(slave)
    assert [e.level for e in got] == [2]
    assert events.empty()


def test_loop_url_for_a_box_without_hardware():
    events: queue.Queue = queue.Queue()
    port = serial.serial_for_url("loop://", timeout=0.2)
    box = SerialButtonBox("loop://", 9600, 5, events.put, opener=lambda *a, **k: port)
    with box:
        assert box.connected.wait(30)
        port.write(b"B5\n")
        assert [e.level for e in collect(events, 1)] == [5]


@given(st.binary(max_size=300), st.lists(st.integers(min_value=1, max_value=40), max_size=20))
def test_parser_result_does_not_depend_on_how_bytes_are_split(data, cuts):
    whole = LineParser(5).feed(data)
    parser = LineParser(5)
    pieces, start = [], 0
    for cut in cuts:
        pieces.append(data[start:start + cut])
        start += cut
    pieces.append(data[start:])
    assert [level for piece in pieces for level in parser.feed(piece)] == whole


@given(st.binary(max_size=300).filter(lambda b: b"B" not in b))
def test_bytes_without_a_press_command_never_make_a_vote(data):
    assert LineParser(5).feed(data + b"\n") == []
