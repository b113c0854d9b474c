"""`gc --apply` refuses to delete more than `--max-share` of the files (default 50%) unless
`--force`: a truncated export once made 3,034 of 3,035 files look unreferenced."""

import time

import pytest

from helpers import stored_files

from .conftest import fingerprint, write

OLD = time.time() - 30 * 86400


def key(n: int) -> str:
    return f"i/p/2025/10/avatar_{1760000000000 + n:013d}_{n:06d}.jpg"


def volume(root, count: int) -> list[str]:
    """`count` month-old files (gc reads names and times only: the bytes need not decode)."""
    keys = [key(n) for n in range(count)]
    for k in keys:
        write(root, k, b"x", mtime=OLD)
    return keys


def refs_file(tmp_path, keys) -> str:
    path = tmp_path / "refs.txt"
    path.write_text("".join(f"https://example.com/{k}\n" for k in keys))
    return str(path)


@pytest.mark.parametrize("referenced, options, allowed", [
    (1, (), False),  # 9 of 10 candidates
    (4, (), False),  # 6 of 10, 60%
    (5, (), True),  # 5 of 10, exactly 50%: not over
    (9, (), True),
    (4, ("--max-share", "60"), True),
    (4, ("--max-share", "59.9"), False),
    (9, ("--max-share", "0"), False),
    (1, ("--force",), True),
    (1, ("--max-share", "100"), True),
])
def test_apply_within_or_beyond_the_share(app, root, cli, tmp_path, referenced, options,
                                          allowed):
    keys = volume(root, 10)
    refs = refs_file(tmp_path, keys[:referenced])
    before = fingerprint(root)
    result = cli("gc", "--referenced", refs, "--apply", *options)
    count = 10 - referenced
    if allowed:
        assert result.exit_code == 0, result.output
        assert stored_files(root) == keys[:referenced]
        assert result.stdout.splitlines()[-1].startswith(
            f"ok: {count} of 10 files ({count * 10}.0%) unreferenced")
        return
    assert result.exit_code == 1, result.output
    limit = options[1] if options else "50"
    assert result.stdout.splitlines() == [
        f"REFUSED: would delete {count} of 10 files ({count * 10}.0%), over --max-share "
        f"{limit}%; nothing deleted. Check the --referenced list (a truncated export?), or "
        "pass --force to delete them anyway"]
    assert fingerprint(root) == before


def test_the_incident_list_is_refused(app, root, cli_json, tmp_path):
    keys = volume(root, 3035)
    refs = refs_file(tmp_path, keys[:1])
    result, doc = cli_json("gc", "--referenced", refs, "--apply")
    assert result.exit_code == 1
    assert doc["refused"].startswith("would delete 3034 of 3035 files (99.9%), over "
                                     "--max-share 50%; nothing deleted")
    assert (doc["ok"], doc["applied"], doc["removed"]) == (False, False, 0)
    assert (doc["files"], len(doc["candidates"]), doc["share"]) == (3035, 3034, 99.9)
    assert len(stored_files(root)) == 3035


def test_dry_run_reports_the_same_numbers(app, root, cli, cli_json, tmp_path):
    keys = volume(root, 4)
    write(root, key(99), b"x")  # young: never a candidate, so not counted in the share
    refs = refs_file(tmp_path, keys[:1])
    before = fingerprint(root)
    result = cli("gc", "--referenced", refs)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-2] == ("WARN would remove 3 of 4 files (75.0%), over --max-share 50%: "
                         "--apply refuses that without --force")
    assert lines[-1].startswith("ok: 3 of 4 files (75.0%) unreferenced and older than 7d, "
                                "would free")
    result, doc = cli_json("gc", "--referenced", refs)
    assert (doc["files"], doc["share"], doc["max_share"]) == (4, 75.0, 50.0)
    assert doc["over_max_share"] is True and doc["refused"] is None
    assert len(doc["candidates"]) == 3
    result, doc = cli_json("gc", "--referenced", refs, "--max-share", "75")
    assert doc["over_max_share"] is False
    assert "WARN" not in cli("gc", "--referenced", refs, "--max-share", "75").stdout
    assert fingerprint(root) == before


def test_young_files_do_not_dilute_the_share(app, root, cli, tmp_path):
    """10 old files and 10 new ones, a list naming one new file: every old file is a candidate
    (100% of what gc could delete), however many new files there are."""
    old = volume(root, 10)
    young = [key(100 + n) for n in range(10)]
    for k in young:
        write(root, k, b"x")
    before = fingerprint(root)
    result = cli("gc", "--referenced", refs_file(tmp_path, young[:1]), "--apply")
    assert result.exit_code == 1, result.output
    assert "would delete 10 of 10 files (100.0%)" in result.stdout
    assert fingerprint(root) == before and len(old) == 10


def test_an_unreadable_line_stops_apply_and_a_bom_is_no_such_line(app, root, cli, tmp_path):
    """A spreadsheet's export: a BOM, CRLF ends; and one line that names nothing under /i/,
    which might have meant a file still in use."""
    keys = volume(root, 10)
    refs = tmp_path / "export.csv"
    lines = [f"https://other.example/{k}" for k in keys[:9]]
    refs.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode())
    result = cli("gc", "--referenced", str(refs), "--apply")
    assert result.exit_code == 0, result.output
    assert stored_files(root) == keys[:9]  # the BOM line was read: its file kept
    refs.write_text("\n".join([*lines, "https://other.example/static/i/p/x.jpg"]) + "\n")
    before = fingerprint(root)
    result = cli("gc", "--referenced", str(refs), "--apply")
    assert result.exit_code == 1 and "1 line(s) of the --referenced list" in result.stdout
    assert fingerprint(root) == before
    assert cli("gc", "--referenced", str(refs), "--apply", "--force").exit_code == 0


@pytest.mark.parametrize("value", ["-1", "100.5", "half"])
def test_bad_share_is_a_usage_error(app, root, cli, tmp_path, value):
    keys = volume(root, 2)
    result = cli("gc", "--referenced", refs_file(tmp_path, keys[:1]), "--apply",
                 "--max-share", value)
    assert result.exit_code == 2
    assert stored_files(root) == keys
