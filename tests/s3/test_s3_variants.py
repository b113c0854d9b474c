"""A main file and its variants move as one between the backends: `migrate` copies the variants
of a volume into the bucket (as WebP), `variants --backfill` writes the missing ones into the
bucket, `verify` counts them there, and a backup of the bucket restores them into a volume."""

import json

import pytest
from PIL import Image

from devstack.images import make_image
from helpers import cli_runner
from uploads import create_app, naming, variants
from uploads.storage.local import LocalStorage

WITH = "i/p/2026/01/avatar_1767225600000_va1ant.jpg"      # stored with its variants
WITHOUT = "i/p/2025/10/avatar_1760877849690_n0var5.jpg"   # stored before variants existed
BOXES = (64, 128, 256, 512)


@pytest.fixture
def volume(tmp_path):
    (tmp_path / "volume").mkdir()
    store = LocalStorage(str(tmp_path / "volume"))
    for key in (WITH, WITHOUT):
        store.put(key, make_image("JPEG", size=(900, 600)), "")
    with Image.open(store.path_of(WITH)) as im:
        for copy in variants.make(im.convert("RGB"), BOXES, 75):
            store.put(naming.variant_key(WITH, copy.box), copy.data, variants.CONTENT_TYPE)
    return store


def run_json(cli, *args, code=0):
    result = cli(*args, "--json")
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def test_variants_move_with_their_main_files_and_are_completed_in_the_bucket(
        s3cli, s3store, volume, tmp_path):
    run_json(s3cli, "migrate", "--from", volume.root)
    copied = {naming.variant_key(WITH, box) for box in BOXES}
    assert copied <= {e.key for e in s3store.walk()}
    for key in copied:
        assert s3store.read(key) == volume.read(key)
        head = s3store.client.head_object(Bucket=s3store.bucket, Key=key)
        assert head["ContentType"] == "image/webp"

    warnings = run_json(s3cli, "verify")["warnings"]
    assert any("1 images lack variants" in w["problem"] for w in warnings), warnings
    missing = run_json(s3cli, "variants", code=1)["missing"]
    assert missing == [{"path": WITHOUT, "boxes": [512, 256, 128, 64]}]
    assert run_json(s3cli, "variants", "--backfill")["written"] == 4
    keys = {e.key for e in s3store.walk()}
    assert {naming.variant_key(WITHOUT, box) for box in BOXES} <= keys
    again = run_json(s3cli, "variants", "--backfill")
    assert again["written"] == 0 and again["lacking"] == 0

    archive = str(tmp_path / "bucket.tar")
    assert s3cli("backup", "-o", archive).exit_code == 0
    (tmp_path / "fresh").mkdir()
    fresh_cli = cli_runner(create_app({"ROOT": str(tmp_path / "fresh"), "ALLOW_EPHEMERAL": True,
                                       "MIN_FREE_BYTES": 0}, serving=False))
    result = fresh_cli("restore", "-i", archive)
    assert result.exit_code == 0, result.output
    restored = LocalStorage(str(tmp_path / "fresh"))
    assert {e.key for e in restored.walk()} == keys
