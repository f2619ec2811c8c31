"""A study read straight from its SQLite file with the standard library: `status` answers without importing Optuna.

Importing Optuna and opening its RDB storage (SQLAlchemy, Alembic) costs ~1.3 s of the 2 s `status` took on a
2-core machine; these few queries take milliseconds. Optuna's table layout is private to it, so it is read here
only: when the file's Alembic revision is one this reader was checked against (:data:`KNOWN_REVISIONS`) and
every query succeeds; otherwise :func:`read_sqlite_study` returns None and the caller loads the study with
Optuna. ``tests/search/test_sqlite_study.py`` checks, on studies written by the installed Optuna, that both
readings summarize alike.
"""

from __future__ import annotations

import json
import math
import sqlite3

from weightsearch.contracts import ATTR_PARAMS, sqlite_file
from weightsearch.search.summary import StoredStudy, StoredTrial

#: Alembic revisions of Optuna's RDB schema with the tables and columns read below (v3.2.0.a: Optuna 3.2 to 5.0).
KNOWN_REVISIONS = frozenset({"v3.2.0.a"})
_INFINITE = {"INF_POS": math.inf, "INF_NEG": -math.inf}


def read_sqlite_study(url: str, name: str) -> StoredStudy | None:
    """Study ``name`` of the SQLite storage ``url``, read-only; None when this reader cannot vouch for the file.

    A missing file or study, another backend, an unknown schema revision, or a trial of ours without its
    sampled parameters all return None (Optuna then reads it and says what is wrong).
    """
    path = sqlite_file(url)
    if path is None or not path.is_file():
        return None
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as connection:
            return _read(connection, name)
    except sqlite3.Error:
        return None


def _read(connection: sqlite3.Connection, name: str) -> StoredStudy | None:
    revisions = {row[0] for row in connection.execute("SELECT version_num FROM alembic_version")}
    if not revisions or not revisions <= KNOWN_REVISIONS:
        return None
    found = connection.execute("SELECT study_id FROM studies WHERE study_name = ?", (name,)).fetchone()
    if found is None:
        return None
    study_id = found[0]
    directions = [row[0].lower() for row in connection.execute(
        "SELECT direction FROM study_directions WHERE study_id = ? ORDER BY objective", (study_id,))]
    trial_ids: dict[int, tuple[int, str]] = {
        trial_id: (number, state) for trial_id, number, state in connection.execute(
            "SELECT trial_id, number, state FROM trials WHERE study_id = ? ORDER BY number", (study_id,))
    }
    values: dict[int, list[float]] = {trial_id: [] for trial_id in trial_ids}
    for trial_id, value, value_type in connection.execute(
        "SELECT v.trial_id, v.value, v.value_type FROM trial_values v JOIN trials t ON t.trial_id = v.trial_id "
        "WHERE t.study_id = ? ORDER BY v.trial_id, v.objective", (study_id,)
    ):
        values[trial_id].append(_INFINITE.get(value_type, value))
    params: dict[int, dict] = {}
    for trial_id, value_json in connection.execute(
        "SELECT a.trial_id, a.value_json FROM trial_user_attributes a JOIN trials t ON t.trial_id = a.trial_id "
        "WHERE t.study_id = ? AND a.key = ?", (study_id, ATTR_PARAMS)
    ):
        params[trial_id] = json.loads(value_json)
    if any(state == "COMPLETE" and trial_id not in params for trial_id, (_, state) in trial_ids.items()):
        return None  # a trial added by hand (Optuna's own parameters): Optuna decodes them
    user_attrs = {key: json.loads(value_json) for key, value_json in connection.execute(
        "SELECT key, value_json FROM study_user_attributes WHERE study_id = ?", (study_id,))}
    trials = [StoredTrial(number, state, values[trial_id], params.get(trial_id, {}))
              for trial_id, (number, state) in trial_ids.items()]
    return StoredStudy(name=name, directions=directions, trials=trials, user_attrs=user_attrs)
