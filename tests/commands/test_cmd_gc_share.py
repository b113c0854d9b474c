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
    write(root, key(99), b"x")  # young: never a candidate, but one of the files
    refs = refs_file(tmp_path, keys[:1])
    before = fingerprint(root)
    result = cli("gc", "--referenced", refs)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-2] == ("WARN would remove 3 of 5 files (60.0%), over --max-share 50%: "
                         "--apply refuses that without --force")
    assert lines[-1].startswith("ok: 3 of 5 files (60.0%) unreferenced and older than 7d, "
                                "would free")
    result, doc = cli_json("gc", "--referenced", refs)
    assert (doc["files"], doc["share"], doc["max_share"]) == (5, 60.0, 50.0)
    assert doc["over_max_share"] is True and doc["refused"] is None
    assert len(doc["candidates"]) == 3
    result, doc = cli_json("gc", "--referenced", refs, "--max-share", "60")
    assert doc["over_max_share"] is False
    assert "WARN" not in cli("gc", "--referenced", refs, "--max-share", "60").stdout
    assert fingerprint(root) == before


@pytest.mark.parametrize("value", ["-1", "100.5", "half"])
def test_bad_share_is_a_usage_error(app, root, cli, tmp_path, value):
    keys = volume(root, 2)
    result = cli("gc", "--referenced", refs_file(tmp_path, keys[:1]), "--apply",
                 "--max-share", value)
    assert result.exit_code == 2
    assert stored_files(root) == keys
