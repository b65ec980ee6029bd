"""Files a command run as root creates for the counter belong to the data dir's owner.

After ``tillmesh seal --systemd`` IT runs commands as root, while the node runs as its
service user, the owner of the data dir. A file such a command creates (the ERPNext
settings, a session token, the node's lock, a rewritten key) would otherwise be
root's, and the service could not open it afterwards: the node would not start, or
would not forward. SQLite does the same for a database's ``-wal`` and ``-shm`` by itself
(its unix VFS gives them the database file's owner when it runs as root).

The service user may plant a symbolic or hard link to a file of root's (/etc/shadow) in
its own directories, where root is about to write and hand the file over. So such a file
is opened by :func:`create` (whatever lay there is removed, then the file is made anew,
never through a link) or :func:`open_lock` (a link is refused), and :func:`own` gives
away only a file with no other name: by file descriptor, or by path without following a
symlink. Nothing is given away unless the command runs as root and the data dir belongs
to someone else.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from tillmesh.node.errors import StoreError

_ATTACK = "refused, it may be an attack"


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
    st = os.fstat(target) if isinstance(target, int) else os.lstat(target)
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:  # a hard link to a file of root's
        name = target if isinstance(target, Path) else "a file opened in " + str(data_dir)
        raise StoreError(f"{name} has another name (a hard link): {_ATTACK}")
    if isinstance(target, int):
        os.fchown(target, *owner)
    else:
        os.chown(target, *owner, follow_symlinks=False)


def create(path: Path, data_dir: Path) -> int:
    """A new empty file at ``path`` (0600, owned as :func:`own` says), open for writing.

    What lay at ``path`` (an old copy, or a link someone planted) is removed, never
    followed; a link planted again meanwhile is refused."""
    path.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError as exc:
        raise StoreError(f"{path} reappeared while it was being made: {_ATTACK}") from exc
    return _owned(fd, data_dir)


def open_lock(path: Path, data_dir: Path) -> int:
    """The lock file at ``path``, made if missing, open for reading and writing and owned
    as :func:`own` says; a symbolic link there is refused, never followed."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StoreError(f"{path} is a symbolic link: {_ATTACK}") from exc
        raise StoreError(f"cannot open the lock {path}: {exc.strerror}") from exc
    return _owned(fd, data_dir)


def _owned(fd: int, data_dir: Path) -> int:
    try:
        own(fd, data_dir)
    except BaseException:
        os.close(fd)
        raise
    return fd
