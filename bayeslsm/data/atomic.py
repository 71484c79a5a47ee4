"""Atomic writes: a file is either its old content or its complete new content, never half-written.

Every writer of bayeslsm goes through :func:`atomic_path` (or :func:`write_text_atomic` for text): the
content is written to a temporary file beside the target, named by host and process
(``{name}.{host}.{pid}.{random}.tmp``), and renamed onto the target with :func:`os.replace` (atomic on
POSIX within one file system). On an exception, ``KeyboardInterrupt`` or SIGTERM the temporary file is
removed; a SIGKILLed writer's temporary file is removed by the next write of the same target
(:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import signal
import socket
import threading
import uuid
from pathlib import Path

__all__ = ["atomic_path", "remove_stale_temporaries", "write_text_atomic"]


def _tmp_name(path: Path) -> Path:
    """``{name}.{host}.{pid}.{random}.tmp`` beside ``path``: who wrote it, so a dead writer's file can go."""
    host = socket.gethostname().replace(".", "_") or "host"
    return path.with_name(f"{path.name}.{host}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove temporary files a killed writer of ``path`` left behind (``{name}.{host}.{pid}.*.tmp``).

    Only files of this host whose writing process no longer exists are removed; a save in progress
    elsewhere is left alone. :func:`save` calls this before writing.

    Returns
    -------
    list of Path
        The files removed.
    """
    path = Path(path)
    host = socket.gethostname().replace(".", "_") or "host"
    removed = []
    for tmp in path.parent.glob(f"{glob.escape(path.name)}.{glob.escape(host)}.*.tmp"):
        parts = tmp.name[len(path.name) + len(host) + 2:].split(".")
        if len(parts) != 3 or not parts[0].isdigit():
            continue
        pid = int(parts[0])
        if pid != os.getpid() and not _pid_alive(pid):
            try:
                tmp.unlink()
                removed.append(tmp)
            except FileNotFoundError:
                pass
    return removed


class _TerminateAsExit:
    """While active, SIGTERM raises ``SystemExit(143)`` (so ``finally`` blocks run) instead of killing the
    process outright; only in the main thread and only where SIGTERM has its default action."""

    def __enter__(self):
        self._old = None
        if (threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGTERM")
                and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)):
            self._old = signal.signal(signal.SIGTERM, self._raise)
        return self

    @staticmethod
    def _raise(signum, frame):
        raise SystemExit(128 + signum)

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)
        return False


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; on success rename it onto ``path`` (``os.replace``).

    On an exception, ``KeyboardInterrupt`` or SIGTERM the temporary file is removed and ``path`` is left
    as it was. A SIGKILL cannot be intercepted: the next :func:`atomic_path` for the same ``path`` removes
    the temporary file the dead process left (:func:`remove_stale_temporaries`).

    Examples
    --------
    >>> with atomic_path("out/result.json") as tmp:  # doctest: +SKIP
    ...     tmp.write_text("{}")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = _tmp_name(path)
    with _TerminateAsExit():
        try:
            yield tmp
            if tmp.exists():
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp, 0o666 & ~umask)
                os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str, *, newline: str | None = None) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_path`); parent folders are created.

    ``newline`` is passed to :func:`open` (``""``: no newline translation, for CSV writers).

    Examples
    --------
    >>> write_text_atomic("out/report.md", "# Report\n")  # doctest: +SKIP
    PosixPath('out/report.md')
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline=newline) as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    return path
