"""Two drivers started together on one sweep: one drives it, the other stops at once naming it; never more
than ``num_samples`` trials. Real CLI processes, real Ray, Optuna and MLflow."""

from __future__ import annotations

import time

import optuna
import pytest
from cli_sweeps import LR_SPACE, finish, start
from cli_sweeps import write_spec as _spec
from stores import assert_stores_agree

from weightsearch.config import load_spec, spec_to_yaml

pytestmark = pytest.mark.e2e


def test_two_resumes_started_together_one_drives_the_other_exits_2_naming_it(tmp_path):
    name, num_samples = "contended", 2
    spec_file = _spec(
        tmp_path,
        name,
        num_samples=num_samples,
        space=LR_SPACE,
        sampler={"name": "random", "seed": 0},
        options={"step_sleep_s": 0.0},
    )
    # A sweep created but not started (as after a kill before its first trial): either driver alone
    # would run both trials, so both together, unguarded, would run four.
    spec = load_spec(spec_file)
    spec.paths.dir.mkdir(parents=True)
    spec.paths.spec_file.write_text(spec_to_yaml(spec))
    optuna.create_study(storage=spec.optuna_url, study_name=name, directions=spec.directions)

    storage = str(tmp_path / "runs")
    started = time.monotonic()
    drivers = [start("resume", name, "--storage-path", storage) for _ in range(2)]
    ends = {}
    while len(ends) < 2:
        for index, driver in enumerate(drivers):
            if index not in ends and driver.poll() is not None:
                ends[index] = time.monotonic() - started
        time.sleep(0.2)
        assert time.monotonic() - started < 240, "the sweep did not end"
    results = [finish(driver) for driver in drivers]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], [err[-2000:] for _, _, err in results]
    loser = next(index for index, (code, _, _) in enumerate(results) if code == 2)
    winner = 1 - loser
    message = results[loser][2].strip()
    assert len(message.splitlines()) == 1, message
    assert f"pid {drivers[winner].pid}," in message and "since" in message and "host" in message, message
    assert ends[loser] < min(30.0, ends[winner]), ends  # at once: before the other has even finished

    study = optuna.load_study(study_name=name, storage=spec.optuna_url)
    assert [trial.state.name for trial in study.trials] == ["COMPLETE"] * num_samples
    assert_stores_agree(spec.paths.dir, name, "val/main/mse")
