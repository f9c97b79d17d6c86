"""Fleet steering from the district server (docs/steering.md): the settings a district
decides, kept per fleet, unit and terminal and versioned (``store``), what the heartbeat's
answer tells a terminal and what it reports back (``terminal``), and the officials' requests
to a terminal from afar (``requests``). ``cli`` holds ``district settings`` and
``district terminals ask-doctor|restart-ui|button-test``."""
