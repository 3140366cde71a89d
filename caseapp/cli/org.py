"""Flask commands: org apply (a re-organisation from a spreadsheet)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from caseapp.cli.common import writes
from caseapp.db import get_session

org_cli = AppGroup("org", help="The organisation tree.")


@org_cli.command("apply")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check and list the changes; change nothing.")
@click.option(
    "--close-emptied", is_flag=True, help="Close every office no unit sits under any more."
)
@writes
def org_apply(file: Path, dry_run: bool, close_emptied: bool) -> None:
    """Move schools to new parents from a date: an XLSX or CSV file with the columns
    "Mã trường", "Mã đơn vị cấp trên mới", "Từ ngày". Prints one line per change or problem;
    exit status 0 applied (or would apply), 1 problems (nothing changed), 2 unreadable file."""
    from caseapp.errors import DomainError
    from caseapp.services.org import reform

    session = get_session()
    try:
        data = file.read_bytes()
    except OSError as exc:
        click.echo(f"không đọc được tệp {file}: {exc.strerror}", err=True)
        sys.exit(2)
    try:
        checked = reform.plan_file(session, None, data, file.name)
    except DomainError as exc:
        session.rollback()
        click.echo(f"không đọc được tệp {file.name}: {exc.message}", err=True)
        sys.exit(2)
    for move in checked.moves:
        old = move.old_parent.code if move.old_parent is not None else "-"
        click.echo(
            f"dòng {move.line}: {move.school.code} {old} -> {move.new_parent.code} "
            f"từ {move.on:%d/%m/%Y}"
        )
    for office in checked.emptied:
        action = "sẽ đóng" if close_emptied else "không còn đơn vị trực thuộc"
        click.echo(f"{office.code}: {action}")
    for problem in checked.problems:
        where = f"dòng {problem.line}, cột {problem.column}" if problem.column else "tệp"
        click.echo(f"{where}: {problem.reason}")
    if checked.problems:
        session.rollback()
        click.echo(f"{len(checked.problems)} lỗi: không thay đổi gì.", err=True)
        sys.exit(1)
    if dry_run:
        session.rollback()
        click.echo(f"chạy thử: {len(checked.moves)} thay đổi, chưa áp dụng.")
        return
    try:
        done = reform.apply(session, None, checked, close_emptied=close_emptied)
    except DomainError as exc:
        session.rollback()
        click.echo(f"không áp dụng: {exc.message}", err=True)
        sys.exit(1)
    session.commit()
    click.echo(f"đã chuyển {done.moved} trường; đã đóng {len(done.closed)} đơn vị.")
