"""The dev harness's management commands; each `manage.py` command module re-exports its `Command`."""
