"""The rating terminal's screen (Kivy). See docs/ui.md.

Kivy reads environment variables when it is first imported, so they are set here, before any
module of this package imports it:

- ``KIVY_NO_ARGS``: ``kiosk run``'s arguments are not Kivy's.
- ``KIVY_NO_CONFIG``: no ``~/.kivy/config.ini`` (a technician's home must not change the kiosk);
  every setting is made in :mod:`kiosk.ui.settings`.
- ``KIVY_CLOCK=interrupt``: a callback scheduled from another thread (a committed vote) wakes
  the loop at once, so the main loop may idle at a low frame rate without delaying the
  thank-you.
- ``KIVY_IMAGE=sdl2``: images (PNG, JPEG: officers' photos) through SDL2_image only; Kivy
  would otherwise load every image library it finds (Pillow, and numpy with it: about
  3 MiB and a fifth of a second at start, bench/ui.py start).
"""

import os

for _name, _value in (("KIVY_NO_ARGS", "1"), ("KIVY_NO_CONFIG", "1"),
                      ("KIVY_NO_FILELOG", "1"), ("KIVY_CLOCK", "interrupt"),
                      ("KIVY_IMAGE", "sdl2")):
    os.environ.setdefault(_name, _value)
