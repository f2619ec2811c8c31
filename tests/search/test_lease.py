"""The per-sweep driver lease on a real SQLite study storage: held, refused, released, taken over, raced."""

from __future__ import annotations

import itertools
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from weightsearch.errors import UserError
from weightsearch.search.lease import LEASE_INFIX, DriverLease, LeaseHeld, driver_lease

HERE = Path(__file__).resolve().parent


def _url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'optuna.db'}"


def _leases(url: str) -> list[str]:
    return [name for name in optuna.study.get_all_study_names(storage=url) if LEASE_INFIX in name]


def test_a_second_driver_is_refused_naming_the_holder_until_the_first_gives_the_lease_back(tmp_path):
    url = _url(tmp_path)
    with driver_lease(url, "sweep") as held:
        assert held.holds()
        with pytest.raises(LeaseHeld) as refused:
            DriverLease(url, "sweep").acquire()
        message = str(refused.value)
        assert isinstance(refused.value, UserError)  # the CLI: one line, exit 2
        assert f"host {socket.gethostname()}, pid {os.getpid()}, since " in message and "heartbeat" in message
        with driver_lease(url, "sweep") as again:  # the same process may take it again (run, then confirm)
            assert again is held
        assert held.holds()
        with driver_lease(url, "other sweep"):  # another sweep's lease is another lease
            pass
    assert _leases(url) == []  # given back and deleted
    second = DriverLease(url, "sweep")
    second.acquire()
    second.release()


def test_a_lease_without_heartbeat_is_taken_over_after_the_timeout_and_its_holder_is_told(tmp_path, caplog):
    url = _url(tmp_path)
    lost = []
    stalled = DriverLease(url, "sweep", heartbeat_s=0.2, on_lost=lost.append)
    stalled.acquire()
    stalled._stop.set()  # the driver stalls: no heartbeat from now on
    stalled._thread.join()
    with pytest.raises(LeaseHeld):
        DriverLease(url, "sweep", timeout_s=1.0).acquire()
    time.sleep(1.2)
    taker = DriverLease(url, "sweep", timeout_s=1.0)
    with caplog.at_level(logging.WARNING, logger="weightsearch.search.lease"):
        taker.acquire()
    assert f"taking over the lease of {socket.gethostname()} pid {os.getpid()}" in caplog.text
    assert taker.holds() and not stalled.holds()

    # A live holder that a taker judged dead (its timeout shorter than the heartbeat) learns of it
    # at its next heartbeat and stops driving.
    taker.release()
    alive = DriverLease(url, "sweep", heartbeat_s=0.3, on_lost=lost.append)
    alive.acquire()
    time.sleep(0.1)
    impatient = DriverLease(url, "sweep", timeout_s=0.01)
    impatient.acquire()
    deadline = time.monotonic() + 5
    while not lost and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(lost) == 1 and "another driver took over" in lost[0]
    impatient.release()


def test_the_lease_of_a_killed_driver_on_this_machine_is_taken_over_at_once(tmp_path, caplog):
    url = _url(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import sys, time; from weightsearch.search.lease import DriverLease; "
                                "DriverLease(sys.argv[1], 'sweep').acquire(); print('held', flush=True); time.sleep(60)"),
         url],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(HERE.parents[1])},
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(LeaseHeld, match=f"pid {holder.pid},"):
        DriverLease(url, "sweep").acquire()
    holder.kill()  # kill -9: no release, the heartbeat is fresh
    holder.wait()
    with caplog.at_level(logging.WARNING, logger="weightsearch.search.lease"), driver_lease(url, "sweep"):
        pass
    assert f"pid {holder.pid}" in caplog.text and "that process is gone" in caplog.text


def test_two_drivers_started_together_never_both_hold_the_lease(tmp_path):
    url, rounds, round_s = _url(tmp_path), 10, 1.5
    optuna.create_study(storage=url, study_name="sweep")  # the storage exists, as it does for a resume
    start = time.time() + 4  # both have imported optuna by then
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parents[1])])}
    racers = [
        subprocess.Popen([sys.executable, str(HERE / "lease_racer.py"), url, "sweep", str(start), str(rounds),
                          str(round_s)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outputs = [racer.communicate(timeout=90) for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0], [err[-2000:] for _, err in outputs]
    rounds_of = [dict(line.split(" ", 1) for line in out.splitlines()) for out, _ in outputs]
    holds, refusals = [], 0
    for index in map(str, range(rounds)):
        for mine, other in ((0, 1), (1, 0)):
            outcome = rounds_of[mine][index]
            if outcome.startswith("won"):
                holds.append((*map(float, outcome.split()[1:]), mine))
            else:
                refusals += 1
                # A refusal names a live holder: the other driver (a round late or early is a round)
                assert outcome.startswith("held") and f"pid {racers[other].pid}," in outcome, outcome
    holds.sort()
    # Never two holders at once, and the drivers did contend (each round starts them together).
    overlaps = [(a, b) for a, b in itertools.pairwise(holds) if b[0] < a[1]]
    assert not overlaps, overlaps
    assert refusals >= rounds // 2, rounds_of
    assert _leases(url) == []
