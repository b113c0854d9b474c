"""The scale fixture: a volume that already holds 10^3 to 10^6 avatars, made in seconds.

Files are hard links to one real small JPEG per month folder (ext4 caps links per inode at
65,000, and one inode per folder stays far below it), spread over eight years of
`i/p/YYYY/MM/` folders under the service's own names, as years of uploads would leave them.
The directory entries, which are what a path lookup walks, are real; the bytes are shared.
"""

import os
import random
import time

FIRST_YEAR, YEARS = 2019, 8
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class Fixture:
    def __init__(self, root: str, seed_image: bytes, seed: int = 7):
        self.root = root
        self.seed_image = seed_image
        self.rnd = random.Random(seed)
        self.folders = [(y, m) for y in range(FIRST_YEAR, FIRST_YEAR + YEARS)
                        for m in range(1, 13)]
        self.names: list[list[str]] = [[] for _ in self.folders]  # per folder, creation order
        self.count = 0

    def _folder(self, index: int) -> str:
        year, month = self.folders[index]
        return os.path.join(self.root, "i", "p", f"{year:04d}", f"{month:02d}")

    def _name(self, index: int, n: int) -> str:
        year, month = self.folders[index]
        start_ms = int(time.mktime((year, month, 1, 0, 0, 0, 0, 0, 0)) * 1000)
        suffix = "".join(self.rnd.choices(ALPHABET, k=6))
        return f"avatar_{start_ms + n * 997:013d}_{suffix}.jpg"

    def grow_to(self, total: int, deadline: float) -> float:
        """Add files until `total` exist; seconds taken. Stops (raising) past `deadline`."""
        started = time.monotonic()
        per_folder = -(-total // len(self.folders))
        for index in range(len(self.folders)):
            names = self.names[index]
            want = min(per_folder, total - self.count + len(names))
            if want <= len(names):
                continue
            folder = self._folder(index)
            os.makedirs(folder, 0o755, exist_ok=True)
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                if not names:
                    names.append(self._name(index, 0))
                    with open(os.path.join(folder, names[0]), "wb") as out:
                        out.write(self.seed_image)
                    os.chmod(os.path.join(folder, names[0]), 0o644)
                    self.count += 1
                while len(names) < want:
                    name = self._name(index, len(names))
                    os.link(names[0], name, src_dir_fd=fd, dst_dir_fd=fd)
                    names.append(name)
                    self.count += 1
                    if not self.count % 10_000 and time.monotonic() > deadline:
                        raise TimeoutError(f"scale fixture: {self.count} files at the deadline")
            finally:
                os.close(fd)
        return time.monotonic() - started

    def shrink_to(self, total: int) -> float:
        """Remove the newest fixture files (each folder's last ones) until `total` remain."""
        started = time.monotonic()
        per_folder = -(-total // len(self.folders))
        for index, names in enumerate(self.names):
            keep = max(0, min(per_folder, len(names), total - self._kept_before(index)))
            if len(names) <= keep:
                continue
            fd = os.open(self._folder(index), os.O_RDONLY | os.O_DIRECTORY)
            try:
                for name in names[keep:]:
                    os.unlink(name, dir_fd=fd)
            finally:
                os.close(fd)
            self.count -= len(names) - keep
            del names[keep:]
        return time.monotonic() - started

    def _kept_before(self, index: int) -> int:
        return sum(len(n) for n in self.names[:index])

    def sample(self, k: int) -> list[str]:
        """`k` URL paths drawn uniformly (with replacement) from the files that exist now."""
        weights = [len(names) for names in self.names]
        out = []
        for i in self.rnd.choices(range(len(self.folders)), weights=weights, k=k):
            year, month = self.folders[i]
            name = self.rnd.choice(self.names[i])
            out.append(f"/i/p/{year:04d}/{month:02d}/{name}")
        return out

    def remove_all(self) -> None:
        self.shrink_to(0)
