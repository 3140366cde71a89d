"""Flask commands (DESIGN.md section 9), one module per domain."""

from __future__ import annotations

from flask import Flask

from caseapp.cli.accounts import create_user_cmd, seed_demo_cmd
from caseapp.cli.audit import audit_cli
from caseapp.cli.backup import backup_cmd, restore_cmd
from caseapp.cli.database import db_cli
from caseapp.cli.keys import keys_cli
from caseapp.cli.org import org_cli
from caseapp.cli.records import cases_cli, notify_cli, reports_cli, selfreports_cli
from caseapp.cli.retention import retention_cli


def init_app(app: Flask) -> None:
    for command in (
        reports_cli,
        notify_cli,
        selfreports_cli,
        cases_cli,
        keys_cli,
        org_cli,
        db_cli,
        audit_cli,
        create_user_cmd,
        seed_demo_cmd,
        backup_cmd,
        restore_cmd,
        retention_cli,
    ):
        app.cli.add_command(command)
