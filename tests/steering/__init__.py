"""Fleet steering (docs/steering.md): the district's settings, through the real server on
loopback and the real sync agent (``kiosk sync``), on SQLite and PostgreSQL; the dashboard's
settings page and the fleet page's requests; help from afar. Helpers: ``steering_helpers``."""
