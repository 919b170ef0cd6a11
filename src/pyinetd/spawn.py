"""Starting a program on a socket under a user, and describing how it ended.

Owns the child process contract: the socket on fds 0, 1 and 2 (blocking), nothing else
open, its own session, default signal dispositions and an empty signal mask, groups from
the user's group list, then gid, then uid, and a clean documented environment.

Every child starts through `subprocess.Popen`, whose C helper uses vfork when no id
changes (so the daemon's memory is never copied) and fork plus setgroups, setgid, setuid
otherwise. `os.posix_spawn` measured no faster here, and glibc leaves its two internal
real-time signals ignored in a posix_spawn child, which breaks "default dispositions".
It does not reap: the caller watches the pid (see `open_pidfd`) and calls `reap`.
"""

from __future__ import annotations

import contextlib
import ctypes
import grp
import os
import pwd
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from pyinetd.errors import SpawnError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Credentials:
    """The ids a service's children run with, resolved once when the config is loaded."""

    user: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str
    shell: str
    switch: bool  # False when the daemon already has exactly these ids


def current_credentials() -> Credentials:
    uid = os.geteuid()
    try:
        pw = pwd.getpwuid(uid)
        name, home, shell = pw.pw_name, pw.pw_dir, pw.pw_shell
    except KeyError:
        name, home, shell = str(uid), "/", "/bin/sh"
    return Credentials(name, uid, os.getegid(), tuple(os.getgroups()), home, shell, False)


def resolve_credentials(user: str, group: str | None) -> Credentials:
    """Look up the ids for `user[:group]`; raises KeyError for an unknown user or group.

    As in FreeBSD, a named group replaces the user's primary group and the supplementary
    groups come from the group database for that user (initgroups).
    """
    pw = pwd.getpwnam(user) if not user.isdigit() else pwd.getpwuid(int(user))
    gid = pw.pw_gid
    if group is not None:
        gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    groups = tuple(sorted(set(os.getgrouplist(pw.pw_name, gid))))
    here = current_credentials()
    same = (
        pw.pw_uid == here.uid
        and gid == here.gid
        and os.getuid() == here.uid
        and os.getgid() == here.gid
        and sorted(set(here.groups)) == list(groups)
    )
    return Credentials(
        pw.pw_name, pw.pw_uid, gid, groups, pw.pw_dir or "/", pw.pw_shell or "/bin/sh", not same
    )


def base_environment(creds: Credentials, keep: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every child of a service starts from.

    Clean by default, as Debian's inetd launders it; `keep` (pyinetd's own environment,
    `-E`) passes everything through instead.
    """
    if keep is not None:
        return dict(keep)
    return {
        "PATH": DEFAULT_PATH,
        "HOME": creds.home,
        "USER": creds.user,
        "LOGNAME": creds.user,
        "SHELL": creds.shell,
    }


def spawn(
    path: str,
    argv: tuple[str, ...],
    fd: int,
    env: Mapping[str, str],
    creds: Credentials,
) -> subprocess.Popen[bytes]:
    """Start `path` with `fd` on 0, 1 and 2; returns the Popen object, which the caller
    must keep until it has reaped the pid (Popen's own cleanup would otherwise reap a
    dropped child behind the caller's back).

    Signals: `restore_signals` resets the SIGPIPE and SIGXFSZ that Python ignores; the
    daemon resets any other ignored signal at start (`reset_inherited_signals`) and never
    blocks signals, so exec gives the child default dispositions and an empty mask.

    `fd` must be blocking: O_NONBLOCK belongs to the open file, which the child shares.
    Raises SpawnError when the program cannot be started.
    """
    user = creds.uid if creds.switch else None
    group = creds.gid if creds.switch else None
    extra_groups = list(creds.groups) if creds.switch else None
    try:
        proc = subprocess.Popen(
            argv,
            executable=path,
            stdin=fd,
            stdout=fd,
            stderr=fd,
            env=dict(env),
            close_fds=True,
            start_new_session=True,
            restore_signals=True,
            user=user,
            group=group,
            extra_groups=extra_groups,
        )
        return proc
    except OSError as exc:
        raise SpawnError(f"cannot execute {path}: {exc.strerror or exc}") from exc
    except subprocess.SubprocessError as exc:
        raise SpawnError(f"cannot execute {path}: {exc}") from exc


def open_pidfd(pid: int) -> int | None:
    """A pollable fd that becomes readable when `pid` exits (Linux >= 5.3), or None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def reap(pid: int) -> int | None:
    """Collect `pid` if it has exited: its wait status, or None while it still runs."""
    try:
        got, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return 0
    return status if got == pid else None


def describe_exit(status: int) -> tuple[str, bool]:
    """(`exit status N` / `exit signal N (SIGNAME)`, whether it is worth a warning)."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = "unknown"
        return f"exit signal {sig} ({name})", True
    code = os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else status
    return f"exit status {code}", code != 0


# rt_sigaction by machine; glibc's sigaction() refuses its internal signals.
_RT_SIGACTION = {"x86_64": 13, "aarch64": 134, "riscv64": 134}


def _reset_glibc_internal_signals() -> None:
    """Set signals 32 and 33 back to SIG_DFL with the raw system call.

    glibc reserves them (thread cancellation, set*id broadcast) and its posix_spawn sets
    them to SIG_IGN in every child it starts, so a pyinetd started by make, or by any
    program that spawns that way, would pass them on ignored. glibc installs its own
    handlers when it needs them, so the daemon loses nothing.
    """
    number = _RT_SIGACTION.get(os.uname().machine)
    if number is None:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return
    # A zeroed kernel sigaction is SIG_DFL with no flags and an empty mask.
    act = ctypes.create_string_buffer(64)
    for sig in (32, 33):
        libc.syscall(number, sig, act, None, 8)


def reset_inherited_state() -> None:
    """Undo what the daemon may have inherited that its children must not.

    An ignored signal survives exec, so any signal ignored by whoever started pyinetd
    (nohup, a shell's background job) goes back to SIG_DFL here; Python's own SIGPIPE and
    SIGXFSZ are reset per child by `restore_signals`. Inherited descriptors above 2 are made
    close-on-exec so no child sees them (pyinetd's own descriptors are close-on-exec already).
    """
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP, signal.SIGPIPE, signal.SIGXFSZ):
            continue
        try:
            if signal.getsignal(sig) == signal.SIG_IGN:
                signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            continue
    _reset_glibc_internal_signals()
    if os.geteuid() == 0:
        # A root daemon may start with no supplementary groups (or stray ones): give it
        # root's own list, so services that run as root need no id change and start
        # through vfork (OpenBSD's inetd resets its group vector at start too).
        with contextlib.suppress(KeyError, OSError):
            name = pwd.getpwuid(0).pw_name
            os.setgroups(os.getgrouplist(name, os.getegid()))
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in fds:
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                continue
