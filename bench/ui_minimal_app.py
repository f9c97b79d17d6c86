"""The baseline of bench/ui.py: a stock Kivy app showing one Label, default settings."""

from kivy.app import App
from kivy.uix.label import Label


class Minimal(App):
    def build(self):
        return Label(text="Hello")


if __name__ == "__main__":
    Minimal().run()
