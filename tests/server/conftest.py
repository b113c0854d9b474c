"""Small real filesystems for the storage tests: tmpfs mounts, made and removed by the test."""

import subprocess

import pytest


@pytest.fixture
def tmpfs(tmp_path):
    """`mount(name, size, *options)` mounts a tmpfs of `size` at tmp_path/name; skips the test,
    saying why, where mounting is not permitted (not root, no CAP_SYS_ADMIN, no mount(8))."""
    mounted = []

    def mount(name: str, size: str, *options: str):
        target = tmp_path / name
        target.mkdir()
        opts = ",".join([f"size={size}", "mode=0755", *options])
        try:
            result = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(target)],
                                    capture_output=True, text=True, timeout=30)
        except FileNotFoundError:
            pytest.skip("mount(8) is not installed: cannot make a small filesystem")
        if result.returncode != 0:
            pytest.skip("mounting a tmpfs is not permitted here (needs root or CAP_SYS_ADMIN): "
                        + (result.stderr.strip() or f"exit {result.returncode}"))
        mounted.append(target)
        return target

    yield mount
    for target in reversed(mounted):
        if subprocess.run(["umount", str(target)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(target)], check=True)
