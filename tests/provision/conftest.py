"""Provisioning the example fleet against a real `district serve` subprocess."""
