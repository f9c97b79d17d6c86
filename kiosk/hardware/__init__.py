"""Input sources and indicators. Each turns real hardware into :class:`kiosk.rules.ButtonEvent`
s handed to a ``submit`` callable, and never decides anything itself: the voting rules do.

- :mod:`kiosk.hardware.gpio`: buttons and LEDs on the Pi's header, through gpiozero (its mock
  pin factory off the Pi, chosen by ``[gpio] pin_factory``)
- :mod:`kiosk.hardware.serial_box`: a USB serial button box speaking a one-line protocol
- :mod:`kiosk.hardware.keyboard`: keys for development and technicians
"""
