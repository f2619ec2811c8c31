"""One driver per sweep: a lease kept in the sweep's own study storage (SQLite or PostgreSQL, any machine).

Two drivers on one sweep (`resume` twice, `run` and `resume`, `confirm` meanwhile) would both adopt
the same RUNNING trials and ask new ones past ``num_samples``. So `run`, `resume` and `confirm` hold
the sweep's lease while they drive it; a second driver stops at once (exit 2), naming the holder.

How, with Optuna's public API only. The lease is a study of its own in the same storage, named
``<sweep>:driver-lease:<generation>``. Taking it means creating the next generation's study:
creating a study is atomic in every RDB storage (the name is unique), so of two drivers that start
together exactly one succeeds, whatever their clocks. The winner writes who it is into that study's
user attributes (host, pid, since) and a heartbeat every ``heartbeat_s``. A lease whose heartbeat is
older than ``timeout_s`` (its driver was killed, its machine went away) is taken over by creating the
next generation, and the takeover is logged; so is, at once, a lease whose driver ran on this
machine (same host and process namespace) and is gone (`kill -9`, then `resume`). Released leases are deleted; a holder that finds a newer
generation (it was taken over while stalled) stops its sweep gracefully (SIGINT) rather than drive on.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import optuna
from optuna.exceptions import DuplicatedStudyError

from weightsearch.errors import UserError

logger = logging.getLogger(__name__)

LEASE_INFIX = ":driver-lease:"
HEARTBEAT_S = 10.0
TIMEOUT_S = 60.0
# How long a lease just created may lack its holder's details before it counts as abandoned.
SETTLE_S = 3.0
# The study user attribute with the holder's details: {holder, host, pid, since, heartbeat[, released]}.
LEASE_ATTR = "lease"


class LeaseHeld(UserError):
    """Another driver holds the sweep's lease (the CLI prints the message and exits 2)."""


class DriverLease:
    """The lease of sweep ``sweep`` in the study storage at ``storage`` (a URL or an Optuna storage)."""

    def __init__(
        self,
        storage: str | optuna.storages.BaseStorage,
        sweep: str,
        *,
        heartbeat_s: float = HEARTBEAT_S,
        timeout_s: float = TIMEOUT_S,
        settle_s: float = SETTLE_S,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.storage = optuna.storages.RDBStorage(storage) if isinstance(storage, str) else storage
        self.sweep = sweep
        self.heartbeat_s = heartbeat_s
        self.timeout_s = timeout_s
        self.settle_s = settle_s
        self.on_lost = on_lost or _interrupt_this_driver
        self.holder = uuid.uuid4().hex
        self.generation: int | None = None
        self._details_written: dict = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- taking and giving back ---------------------------------------------------------------

    def acquire(self) -> None:
        """Take the lease, or raise :class:`LeaseHeld` naming the live holder."""
        for _ in range(3):
            newest = self._newest()
            if newest is not None:
                details = self._details(newest)
                if details is not None and not details.get("released"):
                    age = time.time() - float(details["heartbeat"])
                    gone = details.get("where") == _where() and not _process_alive(int(details["pid"]))
                    if age <= self.timeout_s and not gone:
                        raise LeaseHeld(_held_message(self.sweep, details, age))
                    logger.warning(
                        "sweep %s: taking over the lease of %s pid %s (held since %s): %s",
                        self.sweep, details["host"], details["pid"], details["since"],
                        "that process is gone" if gone else f"no heartbeat for {age:.0f} s",
                    )
                elif details is None:
                    logger.warning("sweep %s: taking over a lease its driver never finished taking", self.sweep)
            generation = (newest or 0) + 1
            try:
                optuna.create_study(storage=self.storage, study_name=self._name(generation))
            except DuplicatedStudyError:
                continue  # another driver took this generation first: look at it again
            self.generation = generation
            now = time.time()
            self._details_written = {"holder": self.holder, "host": socket.gethostname(), "pid": os.getpid(),
                                     "where": _where(), "since": _timestamp(now), "heartbeat": now}
            self._write()
            self._forget_older(generation)
            self._stop.clear()
            self._thread = threading.Thread(target=self._beat, name="weightsearch-lease", daemon=True)
            self._thread.start()
            return
        raise LeaseHeld(f"sweep {self.sweep!r}: other drivers keep taking its lease; try again in a minute")

    def release(self) -> None:
        """Stop the heartbeat and give the lease back (its study is deleted)."""
        if self.generation is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.heartbeat_s + 5)
        try:
            optuna.delete_study(study_name=self._name(self.generation), storage=self.storage)
        except KeyError:
            pass  # taken over and cleaned up by the next holder
        except Exception as error:  # noqa: BLE001 - a lease left behind is marked released, else it times out
            logger.warning("sweep %s: could not delete its lease (%s)", self.sweep, error)
            self._details_written["released"] = True
            self._write(quiet=True)
        self.generation = None

    def holds(self) -> bool:
        """Whether this lease is still the sweep's newest (nobody took it over)."""
        return self.generation is not None and self._newest() == self.generation

    # --- internals ------------------------------------------------------------------------------

    def _name(self, generation: int) -> str:
        return f"{self.sweep}{LEASE_INFIX}{generation:06d}"

    def _generations(self) -> list[int]:
        prefix = f"{self.sweep}{LEASE_INFIX}"
        names = optuna.study.get_all_study_names(storage=self.storage)
        return sorted(int(name[len(prefix):]) for name in names
                      if name.startswith(prefix) and name[len(prefix):].isdigit())

    def _newest(self) -> int | None:
        generations = self._generations()
        return generations[-1] if generations else None

    def _details(self, generation: int) -> dict | None:
        """The holder's details of ``generation``; None when they are still missing after ``settle_s``."""
        deadline = time.monotonic() + self.settle_s
        while True:
            try:
                details = optuna.load_study(study_name=self._name(generation), storage=self.storage).user_attrs.get(
                    LEASE_ATTR)
            except KeyError:
                return {"released": True}  # released (deleted) meanwhile
            if details is not None:
                return details
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)

    def _write(self, *, quiet: bool = False) -> None:
        try:
            study = optuna.load_study(study_name=self._name(self.generation), storage=self.storage)
            study.set_user_attr(LEASE_ATTR, self._details_written)
        except Exception as error:  # noqa: BLE001 - a missed heartbeat is made up by the next one
            if not quiet:
                logger.info("sweep %s: lease heartbeat failed (%s)", self.sweep, error)

    def _forget_older(self, generation: int) -> None:
        for older in self._generations():
            if older < generation:
                try:
                    optuna.delete_study(study_name=self._name(older), storage=self.storage)
                except Exception as error:  # noqa: BLE001 - only tidying; a concurrent taker may have deleted it
                    logger.debug("sweep %s: lease %d already gone (%s)", self.sweep, older, error)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                held = self.holds()
            except Exception as error:  # noqa: BLE001 - the storage is away: keep trying
                logger.info("sweep %s: cannot check its lease (%s)", self.sweep, error)
                continue
            if not held:
                message = (f"sweep {self.sweep}: another driver took over this driver's lease (no heartbeat for "
                           f"{self.timeout_s:g} s was seen); this driver stops")
                logger.error(message)
                self.on_lost(message)
                return
            self._details_written["heartbeat"] = time.time()
            self._write()


# Leases this process holds, by (storage URL, sweep): a driver that holds one may take it again
# (`run` then `confirm` in one command), counted so that the outermost release gives it back.
_HELD: dict[tuple[str, str], tuple[DriverLease, int]] = {}
_HELD_LOCK = threading.Lock()


@contextmanager
def driver_lease(storage_url: str, sweep: str, **options: float) -> Iterator[DriverLease]:
    """Hold the lease of sweep ``sweep`` (study storage ``storage_url``) for the ``with`` block.

    Raises :class:`LeaseHeld` (a :class:`UserError`: exit 2) at once when another live driver holds
    it. Re-entrant within a process. ``options``: ``heartbeat_s``, ``timeout_s``, ``settle_s``.
    """
    key = (storage_url, sweep)
    with _HELD_LOCK:
        held = _HELD.get(key)
        if held is not None:
            _HELD[key] = (held[0], held[1] + 1)
    if held is None:
        lease = DriverLease(storage_url, sweep, **options)
        lease.acquire()
        with _HELD_LOCK:
            _HELD[key] = (lease, 1)
    else:
        lease = held[0]
    try:
        yield lease
    finally:
        with _HELD_LOCK:
            lease, count = _HELD[key]
            if count > 1:
                _HELD[key] = (lease, count - 1)
            else:
                del _HELD[key]
        if count == 1:
            lease.release()


def is_lease_study(name: str) -> bool:
    """Whether a study name is a driver lease (for listings of a storage's sweeps)."""
    return LEASE_INFIX in name


def _held_message(sweep: str, details: dict, age: float) -> str:
    return (
        f"sweep {sweep!r} is being driven by another process: host {details['host']}, pid {details['pid']}, "
        f"since {details['since']} (last heartbeat {age:.0f} s ago); wait for it to end or stop it, "
        "then `weightsearch resume` (a driver that died is taken over once its heartbeat is a minute old)"
    )


def _where() -> str:
    """This machine and process namespace: where a lease's pid means this pid (containers have their own)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = "?"
    return f"{socket.gethostname()} {namespace}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="seconds")


def _interrupt_this_driver(message: str) -> None:
    """A driver that lost its lease stops as after Ctrl-C: no new trial, the study left resumable."""
    os.kill(os.getpid(), signal.SIGINT)
