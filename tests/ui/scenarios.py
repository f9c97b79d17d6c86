"""The scripted scenarios tests/ui/driver.py plays (each runs in the driver's script thread)."""

from __future__ import annotations

import os
import subprocess
import time

from kiosk.store import StorageError


def button(d, text: str) -> list[float]:
    for b in d.geometry()["buttons"]:
        if b["text"] == text:
            return b["rect"]
    raise AssertionError(f"no button {text!r} on {d.screen()}")


def capture(d, name: str) -> None:
    shot = d.shot(name)
    d.record(name, geometry=d.geometry(), shot=shot)


def unlock_technician(d) -> None:
    for digit in d.config.technician.pin:
        d.click(button(d, digit))
        time.sleep(0.05)
    d.click(button(d, d.app.technician.words["ok"]))
    deadline = time.monotonic() + 5
    while not d.on_main(lambda: d.app.technician.unlocked):
        assert time.monotonic() < deadline, "PIN not accepted"
        time.sleep(0.05)


def tour(d) -> None:
    """Every screen once, for screenshots and geometry (one window size per run)."""
    capture(d, "rating")
    d.key(d.config.keyboard.keys[d.config.scale.levels - 1])
    d.wait_screen("thanks")
    capture(d, "thanks")
    d.wait_screen("rating", timeout=60)
    d.click(d.geometry()["buttons"][0]["rect"])  # the worst level asks the follow-up
    d.wait_screen("followup")
    capture(d, "followup")
    d.click(button(d, d.app.followup.skip))  # touch's Skip: then the thank-you
    d.wait_screen("thanks")
    d.wait_screen("rating", timeout=60)
    d.on_main(d.app.storage_failed, StorageError("read_only", d.db, "simulated for the tour"))
    d.wait_screen("out_of_order")
    capture(d, "out_of_order")
    d.on_main(d.app.storage_recovered)
    d.wait_screen("rating")
    d.on_main(d.app.open_technician)
    d.wait_screen("technician")
    capture(d, "technician_pin")
    unlock_technician(d)
    capture(d, "technician")
    # Live values: a vote recorded meanwhile (here by another process's store) shows up
    # without leaving the screen.
    from kiosk import clock
    from kiosk.store import VoteStore
    from kiosk.vote import Source, new_vote

    def waiting() -> str:
        return d.on_main(lambda: dict(d.app.status_rows())[d.app.tr("Votes waiting to be sent")])

    def shown() -> str:
        rows = d.on_main(lambda: [(r.name, r.value) for r in d.app.technician.ids.info.children])
        return dict(rows)[d.app.tr("Votes waiting to be sent")]

    before = shown()
    with VoteStore(d.db, d.config.terminal.id) as store:
        store.record(new_vote(2, d.config.scale.levels, Source.CLI, clock.now()))
    deadline = time.monotonic() + 60
    while shown() == before and time.monotonic() < deadline:
        time.sleep(0.2)
    d.record("technician_refresh", before=before, after=shown(), expected=waiting())
    d.click(button(d, d.app.technician.words["exit"]))
    d.wait_screen("rating")
    d.record("votes", votes=[v for v in d.votes() if v["source"] != "cli"])


def _one_vote(d, name: str, act, expect_total: int) -> None:
    """``act`` presses once; the vote must be stored and thanked, further presses ignored."""
    before = len(d.votes())
    started = time.monotonic()
    act()
    thanks_after = d.wait_screen("thanks")
    stored = d.votes()
    # Presses of every kind during the thank-you: none may count.
    d.gpio_press(2)
    os.write(d.params["serial_master"], b"B3\n")
    d.key("1")
    d.click(d.rating_buttons[0]["rect"])  # a touch where the rating buttons were
    time.sleep(0.4)
    during = d.votes()
    d.record(name, before=before, stored=stored, during=during, thanks_after=thanks_after,
             screen_after_press=d.screen(), total_expected=expect_total,
             seconds=time.monotonic() - started)
    d.wait_screen("rating", timeout=60)


def inputs(d) -> None:
    """A GPIO, a serial, a touch and a key press: one vote each; the technician gesture."""
    levels = d.config.scale.levels
    rating = d.geometry()
    d.rating_buttons = rating["buttons"]
    d.record("rating", geometry=rating)
    _one_vote(d, "gpio", lambda: d.gpio_press(1), 1)
    _one_vote(d, "serial", lambda: os.write(d.params["serial_master"], b"B2\n"), 2)
    _one_vote(d, "touch", lambda: d.click(rating["buttons"][levels - 1]["rect"]), 3)
    _one_vote(d, "keyboard", lambda: d.key("2"), 4)
    # The hidden gesture: hold the top-left corner for 3 s, then the PIN.
    wid = str(d.window_id())
    subprocess.run(["xdotool", "mousemove", "--window", wid, "8", "8", "mousedown", "1"],
                   check=True)
    time.sleep(1.0)
    early = d.screen()
    time.sleep(2.6)
    subprocess.run(["xdotool", "mouseup", "1"], check=True)
    d.wait_screen("technician")
    unlock_technician(d)
    leds = d.app.panel.leds
    d.app.panel.factory.pin(d.config.gpio.button_pins[0]).drive_low()
    time.sleep(0.4)
    lit_while_down = [bool(led.value) for led in leds]
    shown_while_down = d.on_main(lambda: [light.lit for light in d.app.technician.lights])
    d.app.panel.factory.pin(d.config.gpio.button_pins[0]).drive_high()
    time.sleep(0.4)
    lit_after = [bool(led.value) for led in leds]
    status = d.on_main(lambda: d.app.status_rows())
    d.record("technician", screen_after_1s=early, lit_while_down=lit_while_down,
             shown_while_down=shown_while_down, lit_after=lit_after, status=status,
             votes=len(d.votes()))
    d.click(button(d, d.app.technician.words["exit"]))
    d.wait_screen("rating")
    d.record("final", votes=d.votes())


def storage(d) -> None:
    """The card fills up, then has room again: no false thank-you, no acknowledged vote lost."""
    folder = d.params["mount"]
    filler = os.path.join(folder, "filler")
    acknowledged = []

    def vote(key: str) -> bool:
        before = len(d.votes())
        d.key(key)
        if d.wait_any(["thanks", "out_of_order"]) != "thanks":
            return False
        acknowledged.append(len(d.votes()) - before)
        d.wait_screen("rating", timeout=60)
        return True

    first = vote("3")
    # Fill the card: the next vote cannot be made durable.
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
    d.key("2")
    d.wait_screen("out_of_order", timeout=60)
    capture(d, "out_of_order_full")
    d.key("1")  # a press while out of order: no thank-you, nothing stored
    time.sleep(0.8)
    screen_during = d.screen()
    os.remove(filler)
    recovered_after = d.wait_screen("rating", timeout=60)
    second = vote("3")
    d.record("storage", first=first, second=second, acknowledged=acknowledged,
             screen_during=screen_during, recovered_after=recovered_after, votes=d.votes())


def _wait(predicate, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def storage_read_only(d) -> None:
    """A real ext4 card that the kernel turns read-only mid-run (journal aborted, files still
    open), then is checked and mounted again as a technician would after a card problem."""
    mount, image = d.params["mount"], d.params["image"]
    d.watch_screens()
    d.rating_buttons = d.geometry()["buttons"]
    acknowledged: list[str] = []

    def vote(key: str) -> bool:
        """One key press; True if thanked. The row that appeared with the thank-you is kept."""
        before = {v["id"] for v in d.votes()}
        d.key(key)
        if d.wait_any(["thanks", "out_of_order"]) != "thanks":
            return False
        acknowledged.extend(v["id"] for v in d.votes() if v["id"] not in before)
        d.wait_screen("rating", timeout=60)
        return True

    before_fault = [vote("3"), vote("2")]
    acknowledged_before = list(acknowledged)
    dev = os.path.basename(subprocess.run(["findmnt", "-no", "SOURCE", mount], check=True,
                                          capture_output=True, text=True).stdout.strip())
    fault_at = time.monotonic()
    with open(f"/sys/fs/ext4/{dev}/trigger_fs_error", "w") as trigger:
        trigger.write("1")
    options = subprocess.run(["findmnt", "-no", "OPTIONS", mount], capture_output=True,
                             text=True).stdout.strip()
    d.key("1")  # the first press on the broken card
    out_of_order_after = d.wait_screen("out_of_order", timeout=60)
    capture(d, "out_of_order_read_only")
    code = d.on_main(lambda: d.app.out_of_order.code)
    # More presses while out of order (key, touch where the buttons are, GPIO): no thank-you.
    d.key("1")
    d.click(d.rating_buttons[0]["rect"])
    d.gpio_press(1)
    time.sleep(3)  # at least one probe of the still-broken card
    screen_during = d.screen()

    # Recovery: detach the card; the worker's next probe closes its old store (the old
    # filesystem and its loop device are then released) and finds the read-only slot below.
    subprocess.run(["umount", "-l", mount], check=True)
    released = _wait(lambda: not os.path.exists(f"/sys/block/{dev}/loop/backing_file"), 60)
    screen_unmounted = d.screen()
    fsck = subprocess.run(["e2fsck", "-fy", image], capture_output=True, text=True)
    recovery_at = time.monotonic()
    subprocess.run(["mount", "-o", "loop", image, mount], check=True)
    recovered_after = d.wait_screen("rating", timeout=60)
    during_fault = d.shown_since(fault_at)
    recovery_screens = d.shown_since(recovery_at)
    after_recovery = vote("3")
    d.record("storage", before_fault=before_fault, after_recovery=after_recovery,
             acknowledged=acknowledged, acknowledged_before=acknowledged_before,
             mount_options=options, out_of_order_after=out_of_order_after, code=code,
             screen_during=screen_during, old_card_released=released,
             screen_unmounted=screen_unmounted, fsck_rc=fsck.returncode,
             fsck_out=fsck.stdout[-1500:], recovered_after=recovered_after,
             recovery_screens=recovery_screens, screens_during_fault=during_fault)


def followup_buttons(d) -> None:
    """The follow-up answered by the buttons alone: GPIO, then the serial box; a touch on a
    reason; nobody answering. Every press during the question is an answer, never a vote."""
    d.watch_screens()
    leds = d.app.panel.leds
    levels = d.config.scale.levels

    def open_question(press) -> None:
        d.wait_screen("rating", timeout=60)
        press()
        d.wait_screen("followup")

    # 1. GPIO: level 1, then button 2 answers "had to come back too many times".
    open_question(lambda: d.gpio_press(1))
    time.sleep(d.config.followup.answer_after_ms / 1000 + 0.1)
    lit_during = [bool(led.value) for led in leds]
    geometry = d.geometry()
    capture(d, "followup_buttons")
    votes_before = len(d.votes())
    d.gpio_press(2)
    d.wait_screen("thanks")
    thanks_gpio = d.on_main(lambda: d.app.thanks.recorded)
    d.record("gpio", lit_during=lit_during, geometry=geometry, votes_before=votes_before,
             votes_after=d.votes(), thanks=thanks_gpio)

    # 2. The serial box: level 1, then B<last> answers "other".
    open_question(lambda: os.write(d.params["serial_master"], b"B1\n"))
    time.sleep(d.config.followup.answer_after_ms / 1000 + 0.1)
    os.write(d.params["serial_master"], f"B{levels}\n".encode())
    d.wait_screen("thanks")
    d.record("serial", votes=d.votes())

    # 3. Touch still works: the first reason's box.
    open_question(lambda: d.key("1"))
    time.sleep(d.config.followup.answer_after_ms / 1000 + 0.1)
    first = [b for b in d.geometry()["buttons"] if b["text"] == d.app.followup.buttons[0].text]
    d.click(first[0]["rect"])
    d.wait_screen("thanks")
    d.record("touch", votes=d.votes())

    # 4. Nobody answers: the rules time it out, and the thank-you follows.
    since = time.monotonic()
    open_question(lambda: d.gpio_press(1))
    d.wait_screen("thanks", timeout=120)
    d.record("timeout", votes=d.votes(), screens=d.shown_since(since),
             lit_after=[bool(led.value) for led in leds])
    d.wait_screen("rating", timeout=60)


def readable(d) -> None:
    """The rating screen and the follow-up (one reason per button) for screenshots and
    geometry: the readability test checks sizes, clipping and where lines break."""
    capture(d, "rating")
    d.key(d.config.keyboard.keys[0])  # the worst level asks the follow-up
    d.wait_screen("followup")
    capture(d, "followup")
    d.click(button(d, d.app.followup.skip))
    d.wait_screen("thanks")
    capture(d, "thanks")


def voice(d) -> None:
    """With a speaker: the level confirmed aloud after the vote, the follow-up read out, the
    answer thanked; the thank-you frame comes as without a voice."""
    d.key("3")
    d.wait_screen("thanks")
    d.wait_screen("rating", timeout=60)
    d.key("1")
    d.wait_screen("followup")
    time.sleep(d.config.followup.answer_after_ms / 1000 + 0.1)
    d.key("2")
    d.wait_screen("thanks")
    assert d.app.voice.idle(60)
    d.record("voice", played=list(d.app.voice.played), votes=d.votes())


def presence(d) -> None:
    """A PIR on a mock pin: someone approaches the idle rating screen (the question and the
    buttons' meanings are said, nothing is recorded), moves again (not said twice), then
    votes by a GPIO button (the confirmation alone: the question was heard)."""
    pin = d.app.presence.sensor.pin
    pin.drive_high()
    time.sleep(0.3)
    pin.drive_low()
    deadline = time.monotonic() + 30  # hang guard: said after the next frame
    while not d.app.voice.played and time.monotonic() < deadline:
        time.sleep(0.05)
    assert d.app.voice.idle(60)
    approached = list(d.app.voice.played)
    votes_after_approach = d.votes()
    pin.drive_high()  # the same citizen moves again
    time.sleep(0.3)
    pin.drive_low()
    d.gpio_press(2)
    d.wait_screen("thanks")
    thanks_at = d.app.stage.current_name
    assert d.app.voice.idle(60)
    d.record("presence", approached=approached, votes_after_approach=votes_after_approach,
             played=list(d.app.voice.played), votes=d.votes(), thanks=thanks_at)


def first_press(d) -> None:
    """No presence sensor: the first press after the terminal stood idle is the vote, and
    the question is said before its confirmation; the next citizen's press, soon after,
    hears the confirmation alone."""
    d.gpio_press(2)  # the first vote since the start: the terminal stood idle
    d.wait_screen("thanks")
    d.wait_screen("rating", timeout=60)
    assert d.app.voice.idle(60)
    first = list(d.app.voice.played)
    d.gpio_press(3)
    d.wait_screen("thanks")
    d.wait_screen("rating", timeout=60)
    assert d.app.voice.idle(60)
    d.record("first_press", first=first, played=list(d.app.voice.played), votes=d.votes())
