"""Mount helpers (by /proc/self/mountinfo, which also sees bind mounts of a dir onto itself)."""

from __future__ import annotations

import os
import subprocess


def is_mounted(path: str) -> bool:
    path = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as fh:
            for line in fh:
                if line.split()[4].encode().decode("unicode_escape") == path:
                    return True
    except OSError:
        pass
    return False


def umount(path: str, lazy_fallback: bool = True) -> bool:
    """Unmount ``path`` if it is a mount point; True if it is not mounted afterwards."""
    if not is_mounted(path):
        return True
    if subprocess.run(["umount", path], capture_output=True).returncode != 0 and lazy_fallback:
        subprocess.run(["umount", "-l", path], capture_output=True)
    return not is_mounted(path)
