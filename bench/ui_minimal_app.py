"""The baseline of bench/ui.py: a stock Kivy app showing one Label, default settings.

With ``NOTIFY_SOCKET`` set (bench/ui.py start) it says READY=1 after its first frame, as
the kiosk does, so both starts are timed the same way."""

import os
import socket

from kivy.app import App
from kivy.uix.label import Label


class Minimal(App):
    def build(self):
        return Label(text="Hello")

    def on_start(self):
        from kivy.core.window import Window

        def first(*_):
            Window.unbind(on_flip=first)
            address = os.environ.get("NOTIFY_SOCKET")
            if address:
                with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                    sock.sendto(b"READY=1", address)
        Window.bind(on_flip=first)


if __name__ == "__main__":
    Minimal().run()
