"""Outputs replaced together, one run at a time: the staging folder, the swap journal, the lock.

A run writes ``data/processed/`` and ``reports/`` into one staging folder inside the study folder
(``.socap-run-XXXX/data/processed`` and ``.socap-run-XXXX/reports``) and, once both are complete,
swaps them into place with renames driven by a small journal file, ``.socap-swap.json``:

1. the staged set is complete (every file written and closed);
2. the journal is written (to ``.socap-swap.json.tmp-PID``, then renamed onto
   ``.socap-swap.json``: its rename is the commit point -- from here on the new set wins); it
   names the staging folder and the (device, inode) of each staged folder, so that recovery
   knows the new folders wherever they are;
3. for ``data/processed`` then ``reports``: the staged folder and the old one are exchanged in
   one step (Linux ``renameat2(RENAME_EXCHANGE)``: neither path is ever missing), or where the
   system cannot, the old folder is renamed to ``.socap-run-XXXX/old/<name>`` and the staged
   one renamed into its place;
4. the journal is deleted, then the staging folder (holding the old set) is deleted.

Nothing is fsynced: the protocol is safe against a kill at any instruction (SIGKILL, Ctrl-C,
a crash), not against a power cut before the page cache reaches the disk (fsyncing every output
and folder would cost more than the swap itself). A kill at any moment leaves either no journal (the old set is untouched: the staging folder is
debris) or a journal (the new set is complete in the staging folder or already in place).
:func:`recover`, run at the start of ``socap run`` and ``socap validate`` under the study's lock,
completes a journalled swap (each step checks what is already done, so a kill during recovery is
recovered by the next one) and removes every other ``.socap-run-*`` folder and journal temporary
file -- so readers always see the old complete set or the new one, never a mix.

The lock (``.socap.lock``, an OS file lock that dies with its process, holding the pid, host and
start time for the message) makes a second run on the same study wait a few seconds and then
refuse (exit 2) naming the other run; a lock file left by a killed run is taken over.

Test hooks: ``SOCAP_TEST_HOOK="step=action,..."`` makes :func:`hook` act at named steps: ``exit``
(``os._exit(86)``, as a kill would), ``pause:PATH`` (create ``PATH.paused``, then wait until
``PATH`` exists) or an errno name (``ENOSPC``, ``EROFS``, ``EACCES``: raise that OSError). Unset,
each hook costs one dictionary lookup. ``SOCAP_TEST_RENAME_ONLY=1`` makes the swap use two
renames, as on systems without the exchange.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from pipeline.errors import StudyError

STAGING_PREFIX = ".socap-run-"
JOURNAL = ".socap-swap.json"
LOCK = ".socap.lock"
#: the output folders, relative to the study folder, in the order they are swapped
OUTPUT_FOLDERS = ("data/processed", "reports")
#: what other commands write into reports/ (socap power's results and its resumable cache): a
#: run's new reports/ keeps them, linked (or copied) from the old one before the swap
KEPT_IN_REPORTS = ("power.json", "power.html", ".power-cache")
#: seconds a second run waits for the first before it refuses (SOCAP_LOCK_WAIT overrides)
LOCK_WAIT = 10.0


# ---- test hooks ---------------------------------------------------------------------------------


def hook(step: str, path: Path | str | None = None) -> None:
    """Act at a named step when SOCAP_TEST_HOOK asks for it (see the module docstring)."""
    spec = os.environ.get("SOCAP_TEST_HOOK")
    if not spec:
        return
    for part in spec.split(","):
        name, _, action = part.partition("=")
        if name.strip() != step:
            continue
        action = action.strip()
        if action == "exit":
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(86)
        if action.startswith("pause:"):
            release = Path(action[len("pause:"):])
            Path(str(release) + ".paused").write_text(str(os.getpid()))
            deadline = time.monotonic() + 120
            while not release.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            continue
        code = getattr(errno, action, None)
        if isinstance(code, int):
            raise OSError(code, os.strerror(code), str(path) if path is not None else None)


# ---- OS errors while writing --------------------------------------------------------------------


#: OS errors that are the machine's state, not socap's bug: a full disk or quota, a read-only
#: or forbidden folder, a failing device, too long a path, too many open files
ENVIRONMENT_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", -1), errno.EROFS, errno.EACCES,
                      errno.EPERM, errno.EIO, errno.EFBIG, errno.ENAMETOOLONG, errno.EMFILE,
                      errno.ENFILE}


def environmental(exc: OSError) -> bool:
    """Whether an OSError met while writing is the user's to fix (exit 2) rather than a bug."""
    return exc.errno in ENVIRONMENT_ERRNOS


def output_error(exc: OSError, folder: Path) -> StudyError:
    """The StudyError (exit 2) for an OSError met while writing a study's outputs: the folder
    and the operating system's reason, and that the earlier outputs are unchanged."""
    folder = Path(folder)
    target, writing = folder, ""
    if exc.filename:
        where = Path(exc.filename)
        try:
            parts = where.relative_to(folder).parts
        except ValueError:
            parts = ()
            target = where if where.is_dir() else where.parent
        if parts and parts[0].startswith(STAGING_PREFIX):
            parts = parts[1:]  # the staged copy of an output: name the output
        if parts:
            writing = "/".join(parts)
    # the system's words for the errno ("No space left on device"): pyarrow's strerror wraps
    # them in its own ("Error writing bytes to file. Detail: [errno 28] ...")
    reason = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))
    code = errno.errorcode.get(exc.errno, "") if exc.errno else ""
    if writing:
        code = f"{code}, " if code else ""
        code += f"writing {writing}"
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        fix = "free space on that disk (or run the study from another disk), then run again"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        fix = ("make the study folder writable (or copy the study to a writable folder), "
               "then run again")
    else:
        fix = "check the folder and the disk, then run again"
    return StudyError(
        f"cannot write the outputs in {target}: {reason}" + (f" ({code})" if code else "")
        + "; the earlier data/processed/ and reports/ are unchanged",
        fix=fix)


def check_output_places(folder: Path) -> None:
    """Refuse (exit 2) when a file sits where an output folder must go (``reports`` or
    ``data/processed`` or ``data`` is a file): socap never deletes a user's file."""
    folder = Path(folder)
    for rel in ("data",) + OUTPUT_FOLDERS:
        p = folder / rel
        if p.exists() and not p.is_dir():
            raise StudyError(
                f"{p} is a file, but socap writes a folder there; nothing was written",
                file=p, fix=f"rename or move the file {p.name}, then run again")


# ---- staging and the swap -----------------------------------------------------------------------


def new_staging(folder: Path) -> Path:
    """A fresh staging folder in the study folder, with empty data/processed/ and reports/."""
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
    for rel in OUTPUT_FOLDERS:
        (staging / rel).mkdir(parents=True)
    return staging


def _old(staging: Path, rel: str) -> Path:
    return staging / "old" / rel.replace("/", "_")


def commit(staging: Path, folder: Path) -> None:
    """Swap the staged data/processed/ and reports/ into ``folder`` (see the module docstring).
    The caller holds the study's lock."""
    folder = Path(folder)
    for rel in OUTPUT_FOLDERS:
        (staging / rel / ".gitkeep").touch()
    _keep_other_outputs(folder / "reports", staging / "reports")
    (folder / "data").mkdir(exist_ok=True)
    (staging / "old").mkdir(exist_ok=True)
    hook("staged", staging)
    tmp = folder / f"{JOURNAL}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"staging": staging.name, "folders": list(OUTPUT_FOLDERS),
                       # which folder is the new one, wherever it is: its (device, inode)
                       "ids": {rel: _ident(staging / rel) for rel in OUTPUT_FOLDERS},
                       "pid": os.getpid(),
                       "written": datetime.now(timezone.utc).isoformat(timespec="seconds")}, fh)
        hook("journal-tmp", tmp)
        os.replace(tmp, folder / JOURNAL)  # the commit point
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    hook("journal", folder)
    try:
        try:
            _roll_forward(staging, folder, _journal_ids(folder), step="")
        except KeyboardInterrupt:
            # Ctrl-C after the commit point: the run is done but for a few renames; finish
            # them rather than leave the two folders of different runs until the next command
            recover(folder)
    except OSError as exc:
        # past the commit point the new set wins: finish now if possible, else the next run's
        # recover() does (the staging folder is kept while the journal names it)
        try:
            recover(folder)
            return
        except OSError:
            pass
        raise StudyError(
            f"the new outputs could not all be moved into place in {folder}: "
            f"{exc.strerror or exc}; they are complete in {staging.name}, and the next "
            "`socap run` or `socap validate` finishes moving them",
            fix="make the study folder writable, then run `socap validate` or `socap run`") \
            from None


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)  # the same file: nothing copied, a later append reaches both names
    except OSError:
        shutil.copy2(src, dst)


def _keep_other_outputs(old: Path, new: Path) -> None:
    """Carry :data:`KEPT_IN_REPORTS` from the current reports/ into the staged one."""
    for name in KEPT_IN_REPORTS:
        src, dst = old / name, new / name
        if dst.exists() or dst.is_symlink() or not (src.exists() or src.is_symlink()):
            continue
        if src.is_dir() and not src.is_symlink():
            shutil.copytree(src, dst, copy_function=_link_or_copy, symlinks=True)
        else:
            _link_or_copy(str(src), str(dst))


def journalled(folder: Path, staging: Path) -> bool:
    """Whether the swap journal in ``folder`` names ``staging`` (then it must be kept)."""
    try:
        return json.loads((Path(folder) / JOURNAL).read_text(encoding="utf-8")).get(
            "staging") == Path(staging).name
    except (OSError, ValueError, AttributeError):
        return False


def _ident(path: Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return [st.st_dev, st.st_ino]


def _journal_ids(folder: Path) -> dict:
    try:
        ids = json.loads((folder / JOURNAL).read_text(encoding="utf-8")).get("ids")
    except (OSError, ValueError, AttributeError):
        return {}
    return ids if isinstance(ids, dict) else {}


_RENAMEAT2 = []


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux renameat2 RENAME_EXCHANGE), so that neither
    is ever missing; False where the system or the file system cannot (then two renames do)."""
    if os.environ.get("SOCAP_TEST_RENAME_ONLY") or not sys.platform.startswith("linux"):
        return False
    if not _RENAMEAT2:
        try:
            import ctypes  # noqa: PLC0415

            libc = ctypes.CDLL(None, use_errno=True)
            fn = libc.renameat2
            fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                           ctypes.c_uint]
            fn.restype = ctypes.c_int
            _RENAMEAT2.append((fn, ctypes))
        except (OSError, AttributeError, ImportError):  # no glibc 2.28, musl without it ...
            _RENAMEAT2.append(None)
    if _RENAMEAT2[0] is None:
        return False
    fn, ctypes = _RENAMEAT2[0]
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, getattr(errno, "ENOTSUP", -1),
                getattr(errno, "EOPNOTSUPP", -1)):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _roll_forward(staging: Path, folder: Path, ids: dict, step: str) -> None:
    """Put each new folder (known by its (device, inode) in ``ids``) in place: exchanged with
    the old one in one step where the system can, else the old renamed aside into the staging
    folder and the new renamed in. Each step checks what is done already (idempotent)."""
    for rel in OUTPUT_FOLDERS:
        staged, final, old = staging / rel, folder / rel, _old(staging, rel)
        new_id = ids.get(rel)
        short = rel.split("/")[-1]
        if new_id is not None and _ident(final) == new_id:
            continue  # placed already
        if new_id is not None and _ident(staged) != new_id:
            continue  # not where the journal says (moved by hand): leave both alone
        if final.exists() and _exchange(staged, final):
            hook(f"{step}placed-{short}", final)  # the old set is now at staged
            continue
        if final.exists():
            final.rename(old if not old.exists() else old.with_name(f"{old.name}-{os.getpid()}"))
        hook(f"{step}aside-{short}", final)
        staged.rename(final)
        hook(f"{step}placed-{short}", final)
    (folder / JOURNAL).unlink(missing_ok=True)
    hook(f"{step}committed", folder)
    shutil.rmtree(staging, ignore_errors=True)
    hook(f"{step}cleaned", folder)


def recover(folder: Path | str, note: Callable[[str], None] | None = None) -> list[str]:
    """Complete or roll back what an interrupted run left in ``folder`` (the caller holds the
    study's lock): a journalled swap is completed; staging folders, journal temporaries and the
    ``.reports.old-N`` folders of earlier socap versions are removed. Returns what was done,
    one sentence each (empty when there was nothing to do)."""
    folder = Path(folder)
    done: list[str] = []
    journal = folder / JOURNAL
    if journal.exists():
        try:
            name = json.loads(journal.read_text(encoding="utf-8"))["staging"]
        except (ValueError, KeyError, TypeError, OSError):
            name = None
        staging = folder / name if isinstance(name, str) and name.startswith(STAGING_PREFIX) \
            and "/" not in name and "\\" not in name else None
        if staging is not None and staging.is_dir():
            _roll_forward(staging, folder, _journal_ids(folder), step="recover-")
            done.append("completed the output swap of an interrupted run (its outputs are now "
                        "in place)")
        else:
            journal.unlink(missing_ok=True)
    for debris in sorted(folder.glob(STAGING_PREFIX + "*")):
        if debris.is_dir():
            shutil.rmtree(debris, ignore_errors=True)
            done.append(f"removed {debris.name}, the unfinished outputs of an interrupted run")
    for tmp in folder.glob(JOURNAL + ".tmp-*"):
        tmp.unlink(missing_ok=True)
    # earlier socap versions renamed the old folders aside as .reports.old-PID and
    # data/.processed.old-PID: put a missing folder back, delete the rest
    for rel in OUTPUT_FOLDERS:
        final = folder / rel
        for aside in sorted(final.parent.glob(f".{final.name}.old-*")) if final.parent.is_dir() \
                else []:
            if not final.exists():
                aside.rename(final)
                done.append(f"restored {rel}/ from {aside.name}, left by an interrupted run")
            else:
                shutil.rmtree(aside, ignore_errors=True)
    if note is not None:
        for line in done:
            note(line)
    return done


# ---- the lock -----------------------------------------------------------------------------------


class StudyLock:
    """One run per study folder at a time (see :func:`lock_study`)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        if os.name == "nt":  # pragma: no cover - Windows: cannot delete an open file
            _unlock(fd)
            os.close(fd)
            try:
                self.path.unlink()
            except OSError:
                pass
            return
        try:
            self.path.unlink()  # while still holding it: a waiter re-checks the inode
        except OSError:
            pass
        _unlock(fd)
        os.close(fd)

    def __enter__(self) -> "StudyLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


#: Windows locks a byte range, which others then cannot read: the lock is on a byte past the
#: holder's pid and start time
_WINDOWS_LOCK_OFFSET = 1 << 20
#: errors of a file system that has no locks (some network shares): run without one, saying so
_NO_LOCKS = {errno.ENOLCK, errno.EINVAL, getattr(errno, "ENOTSUP", -1),
             getattr(errno, "EOPNOTSUPP", -1), getattr(errno, "ENOSYS", -1)}


class LocksUnsupported(Exception):
    """The study folder's file system cannot lock files."""


def _try_lock(fd: int) -> bool:
    if os.name == "nt":  # pragma: no cover
        import msvcrt  # noqa: PLC0415

        try:
            os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl  # noqa: PLC0415

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in _NO_LOCKS:
            raise LocksUnsupported(os.strerror(exc.errno)) from None
        raise


def _unlock(fd: int) -> None:
    try:
        if os.name == "nt":  # pragma: no cover
            import msvcrt  # noqa: PLC0415

            os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            import fcntl  # noqa: PLC0415

            fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        pass


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return (f"pid {info['pid']} on {info['host']}, started {info['started']}")
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that is starting"


def lock_study(folder: Path | str, *, wait: float | None = None,
               note: Callable[[str], None] | None = None) -> StudyLock:
    """Take the study's lock, waiting up to ``wait`` seconds (default :data:`LOCK_WAIT`, or
    the SOCAP_LOCK_WAIT environment variable) for another run to finish.

    Raises
    ------
    StudyError
        Another run still holds the lock after the wait (its pid, host and start time are in
        the message).
    """
    folder = Path(folder)
    path = folder / LOCK
    if wait is None:
        try:
            wait = float(os.environ.get("SOCAP_LOCK_WAIT", LOCK_WAIT))
        except ValueError:
            wait = LOCK_WAIT
    deadline = time.monotonic() + wait
    told = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            locked = _try_lock(fd)
        except LocksUnsupported as exc:
            if note is not None:
                note(f"The study folder's file system cannot lock files ({exc}): socap cannot "
                     "stop a second run of this study from starting meanwhile.")
            break
        except BaseException:
            os.close(fd)
            raise
        if locked:
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                break
            _unlock(fd)  # the holder deleted it on release: take the new file instead
            os.close(fd)
            continue
        os.close(fd)
        holder = _holder(path)
        if time.monotonic() >= deadline:
            raise StudyError(
                f"another socap run of this study is in progress ({holder}); two runs would "
                "overwrite each other's outputs, so this one stopped without writing anything",
                file=folder,
                fix="wait for the other run to finish (or stop it), then run again")
        if not told and note is not None:
            note(f"Another socap run of this study is in progress ({holder}); waiting up to "
                 f"{wait:g} s for it to finish.")
            told = True
        time.sleep(0.1)
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
    data = json.dumps(info).encode()
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)
    return StudyLock(path, fd)
