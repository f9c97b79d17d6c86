"""The out-of-order screen: storage is failing, so no vote can be promised. A calm message,
no thank-you; the app leaves it by itself when storage works again."""

from __future__ import annotations

from kivy.properties import StringProperty

from kiosk.ui.stage import KioskScreen


class OutOfOrderScreen(KioskScreen):
    name = "out_of_order"
    title = StringProperty("")
    message = StringProperty("")
    code = StringProperty("")

    def enter(self, *, code: str = "") -> None:
        self.code = code
