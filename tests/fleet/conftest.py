"""Fleet tests: systemd units, image/install.sh, first boot, shell scripts, technician guide.

Their helpers are tests/fleet/fleet_helpers.py. Tools (systemd-analyze, shellcheck) are
found on PATH; when one is missing the test is skipped on a developer's machine and fails in
CI (CI set), where the Makefile's system-packages target installs them.
"""
