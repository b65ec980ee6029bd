"""Files a command run as root creates for the counter belong to the data dir's owner.

After ``tillmesh seal --systemd`` IT runs commands as root, while the node runs as its
service user, the owner of the data dir. A file such a command creates (the ERPNext
settings, a session token, the node's lock, a rewritten key) would otherwise be
root's, and the service could not open it afterwards: the node would not start, or
would not forward. Every place that creates such a file hands it to :func:`own` right
after creating it. SQLite does the same for a database's ``-wal`` and ``-shm`` by itself
(its unix VFS gives them the database file's owner when it runs as root).

By file descriptor where there is one, so no path swapped in meanwhile is followed;
by path only without following a symlink. Nothing happens unless the command runs as
root and the data dir belongs to someone else.
"""

from __future__ import annotations

import os
from pathlib import Path


def owner_of(data_dir: Path) -> tuple[int, int] | None:
    """The (uid, gid) that files a root-run command creates must get; None when nothing
    is to change (not root, or the data dir is root's own)."""
    if os.geteuid() != 0:
        return None
    try:
        st = os.stat(data_dir)
    except FileNotFoundError:
        return None
    return None if st.st_uid == 0 else (st.st_uid, st.st_gid)


def own(target: int | Path, data_dir: Path) -> None:
    """Give ``target`` (an open file descriptor, or a path just created) to the data
    dir's owner when this runs as root (see the module docstring)."""
    owner = owner_of(data_dir)
    if owner is None:
        return
    if isinstance(target, int):
        os.fchown(target, *owner)
    else:
        os.chown(target, *owner, follow_symlinks=False)
