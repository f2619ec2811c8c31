"""A driver in miniature for the lease race test: at each round's start time, take the sweep's lease, hold it a moment.

Run as ``python lease_racer.py STORAGE_URL SWEEP START_EPOCH ROUNDS ROUND_S``; prints one line a round:
``<round> won <taken> <given back>`` (epoch seconds) or ``<round> held <message>``.
"""

from __future__ import annotations

import sys
import time

from weightsearch.search.lease import LeaseHeld, driver_lease


def main(url: str, sweep: str, start: float, rounds: int, round_s: float) -> None:
    for index in range(rounds):
        time.sleep(max(0.0, start + index * round_s - time.time()))
        try:
            with driver_lease(url, sweep):
                taken = time.time()
                time.sleep(max(0.0, start + index * round_s + round_s * 0.6 - time.time()))
                given_back = time.time()
            print(f"{index} won {taken:.3f} {given_back:.3f}", flush=True)
        except LeaseHeld as error:
            print(f"{index} held {error}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
