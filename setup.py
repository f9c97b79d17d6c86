"""Hài Lòng: citizen-satisfaction terminals and their district server.

One distribution, three packages: ``kiosk`` (the Raspberry Pi terminal), ``district`` (the
server) and ``ballot`` (the vote's vocabulary both share). Extras pick what a machine needs:

- ``[pi]``      the lgpio pin backend for gpiozero on a Raspberry Pi
- ``[ui]``      Kivy for the rating screen, evdev for a USB scanner (kept apart: the sync
                agent and the server need neither)
- ``[server]``  the district server
- ``[dev]``     everything the tests and benchmarks use
"""

from setuptools import find_namespace_packages, setup

CORE = [
    "pydantic>=2.6",        # validates kiosk.toml into a typed object with exact error locations
    "sqlite-utils>=4.0",    # the vote store: WAL, transactions, numbered Migrations
    "gpiozero>=2.0",        # buttons and LEDs, with a mock pin factory off the Pi
    "pyserial>=3.5",        # the serial button box
    "requests>=2.31",       # the sync agent's HTTPS client
    "tenacity>=8.2",        # the sync agent's capped exponential backoff with jitter
    "tqdm>=4.66",           # the progress bar of `kiosk sync --once`
    "sdnotify>=0.3",        # READY=1 / WATCHDOG=1 to systemd, a no-op without it
    "cryptography>=41",     # officers' badges: the Ed25519 signature checked at the counter
]
UI = [
    "kivy[base]>=2.3",
    # a USB scanner read with an exclusive grab, in `kiosk run`; on a terminal Debian's
    # python3-evdev (no wheel on PyPI), so the server's venv never needs kernel headers
    "evdev>=1.6; sys_platform=='linux'",
]
PI = ["lgpio>=0.2; platform_machine=='aarch64' or platform_machine=='armv7l'"]
SERVER = [
    "fastapi>=0.110",       # the HTTP API and dashboard routes, OpenAPI for free
    "uvicorn>=0.29",        # the ASGI server behind `district serve`
    "httptools>=0.6",       # uvicorn's C HTTP parser; with uvloop ~40 % less CPU a heartbeat
    "uvloop>=0.19",         # uvicorn's libuv event loop (both picked up automatically)
    "sqlalchemy>=2.0",      # one storage layer for SQLite and PostgreSQL
    "alembic>=1.13",        # schema migrations of the district database
    "psycopg[binary]>=3.1", # PostgreSQL driver
    "argon2-cffi>=23.1",    # officials' password hashing
    "openpyxl>=3.1",        # Excel exports (summaries, monthly report) and reading them back
    "rustpy-xlsxwriter>=0.8",  # the large vote export (rust_xlsxwriter): 300,000 rows in ~4 s
    "python-calamine>=0.5",  # reading dossier exports (XLSX): ~20x openpyxl's read-only mode
    "jinja2>=3.1",          # dashboard templates (autoescaped)
    "python-multipart>=0.0.9",  # sign-in form parsing
    "itsdangerous>=2.1",    # signed session cookies
    "cryptography>=41",     # the district's own CA and server certificate, made at set-up
    "limits>=3.13",         # sign-in and ingest rate limits (moving windows, in memory)
    "prometheus-client>=0.20",  # /metrics in Prometheus' format (multiprocess for --workers)
    "segno>=1.5",           # the QR codes of officers' badges
    "fpdf2>=2.7",           # the PDF sheet of badge cards (Unicode fonts: every diacritic)
    "weasyprint>=60",       # the printed report as PDF from its Jinja template (pango: CSS pages)
    "python-docx>=1.1",     # the printed report as DOCX, for an office that edits before signing
    "matplotlib>=3.7",      # the report's charts (PNG in both the PDF and the DOCX)
]
DEV = [
    "pytest>=8", "pytest-timeout>=2.3", "hypothesis>=6", "schemathesis>=3.30",
    "playwright>=1.44", "aiosmtpd>=1.4", "httpx>=0.27", "babel>=2.14", "ruff>=0.5",
    "import-linter>=2.0",   # the import contracts: no circles, district does not import kiosk
    "mfusepy>=3.1",  # the power-cut filesystem of tests/powercut (libfuse3 through ctypes)
    "colorspacious>=1.1",   # colour-blindness simulation and ΔE of the level colours (tests/ui)
    "fonttools>=4.40",      # reads the bundled font's glyph table (tests/ui/test_glyphs.py)
]

# The packages, and the files beside their code they open at run time (catalogs, screens,
# fonts, templates, static files, the migration template). Found as namespace packages so that
# those folders (no __init__.py) are packages of their own and setuptools builds them without
# a warning; every pattern matches files that exist (tests/test_packaging.py builds the wheel).
PACKAGES = ["ballot", "kiosk", "district"]
CATALOGS = ["locale/*/LC_MESSAGES/*.mo", "locale/*/LC_MESSAGES/*.po"]
PACKAGE_DATA = {
    "ballot": [*CATALOGS, "README.md"],
    "kiosk": CATALOGS,
    "kiosk.ui": ["*.kv", "fonts/*"],
    "district": [*CATALOGS, "templates/*.html", "static/*", "static/vendor/*/*", "fonts/*",
                 "migrations/script.py.mako"],
}

setup(
    name="hailong",
    version="0.1.0",
    description=("Citizen-satisfaction terminals for one-stop government counters, "
                 "and their district server"),
    long_description=__doc__,
    python_requires=">=3.11",
    packages=find_namespace_packages(
        include=[name for p in PACKAGES for name in (p, f"{p}.*")], exclude=["*.__pycache__"]),
    package_data=PACKAGE_DATA,
    install_requires=CORE,
    extras_require={"pi": PI, "ui": UI, "server": SERVER, "dev": UI + SERVER + DEV},
    entry_points={"console_scripts": ["kiosk=kiosk.cli:main", "district=district.cli:main"]},
)
