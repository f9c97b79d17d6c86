"""``kiosk-update``: the terminal takes the district's software releases with apt, keeps one
only once it has proved healthy, and otherwise goes back by itself (docs/updates.md).

- ``follow``   the sync agent's part: the heartbeat's answer names the release this terminal
               should run (``release-target.json`` beside votes.db); the updater's outcome
               rides the next heartbeat
- ``state``    the updater's state file (``/var/lib/kiosk-update/state.json``; on a card, on its
               data partition: ``/var/lib/hailong/update``), written
               atomically before each step, so a power cut or a kill resumes where it was
- ``apt``      apt-get and dpkg with the district's repository alone (its key, its CA)
- ``health``   what a new release must show within ``[update] health_s``: the UI's READY=1,
               a probe write into the vote store (``kiosk doctor``), the sync agent's contact
- ``updater``  the steps: check, download, wait between citizens, install, trial, keep or
               roll back; the repair at boot
- ``cli``      ``kiosk update --check|--apply`` (technician), ``--auto`` and ``--repair``
               (kiosk-update.service, kiosk-update-repair.service)
"""
