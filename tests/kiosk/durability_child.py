"""Child process of test_durability: records votes in a loop through the real capture path,
printing each vote id once it is acknowledged (i.e. once `process` returned it)."""

import sys
import time

from kiosk.capture import Capture
from kiosk.config import KioskConfig
from kiosk.rules import ButtonEvent, Edge
from kiosk.store import VoteStore
from kiosk.vote import Source

path = sys.argv[1]
config = KioskConfig.model_validate({"storage": {"path": path}, "rules": {"lockout_s": 0},
                                     "gpio": {"pin_factory": "mock"}})
capture = Capture(config, lambda: VoteStore(path, "durability"))
level = 0
while True:
    level = level % 3 + 1
    vote = capture.process(ButtonEvent(level, Edge.CLICK, Source.GPIO, time.monotonic_ns()))
    if vote is not None:
        sys.stdout.write(f"{vote.id} {vote.seq}\n")
        sys.stdout.flush()
