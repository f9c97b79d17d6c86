"""ballot: the vote's shared vocabulary, the words the terminal and the server both speak.

Named after what it describes: a ballot is one citizen's vote and the form it is cast on
(its scale, its flags, its follow-up reasons), and the words that travel with it. Both
``kiosk`` (the terminal) and ``district`` (the server) import it; it imports neither of them,
nor Kivy, requests, FastAPI or SQLAlchemy (only the standard library and pydantic), so the
smallest terminal process can load it. See README.md beside this file.

- :mod:`ballot.i18n`: catalogs by domain (each package registers its own), languages, ``N_``
- :mod:`ballot.errors`: ``Message``, ``TranslatableError``, ``Invalid``
- :mod:`ballot.validation`: pydantic's errors in the reader's language
- :mod:`ballot.vote`: scales, sources, flags, reasons and their names
- :mod:`ballot.wire`: the JSON form of a vote, a batch and a heartbeat
- :mod:`ballot.usb`: the columns of the USB export CSV
- :mod:`ballot.argparse_words`: argparse's own words in the user's language
"""
