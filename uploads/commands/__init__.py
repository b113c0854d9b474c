"""Operator commands, run as `flask --app app <command>` (or through `docker compose exec app`).

Each command works on the configured storage root, says what it did one line per finding (or
one JSON document with `--json`), exits 0 only when all is well, and changes the volume only
when changing it is its job (`restore`, `migrate`, `gc --apply`).
"""

from . import backfill, backup, du, gc, migrate, purge, restore, smoke, verify

COMMANDS = (verify.verify, backup.backup, restore.restore, migrate.migrate, gc.gc, du.du,
            smoke.smoke, backfill.variants_command, purge.purge)


def register(app):
    for command in COMMANDS:
        app.cli.add_command(command)
