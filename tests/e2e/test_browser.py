"""The finished quickstart as a user sees it: optuna-dashboard and MLflow's UI, rendered by headless Chromium.

Both UIs are single-page apps: ``chromium --headless --dump-dom`` with a virtual-time budget prints the DOM their
scripts built from the servers' APIs (Debian's ``chromium``, driven by its command line; no WebDriver). Locally the
test skips without Chromium or optuna-dashboard; CI (``.ci/run``) sets WEIGHTSEARCH_REQUIRE_BROWSER=1: then it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import optuna
import pytest
from cli_sweeps import REPO_ROOT, finish, start
from mlflow.tracking import MlflowClient

from weightsearch.contracts import ATTR_LAMBDA_PREFIX, ATTR_VALUE_PREFIX

sys.path.insert(0, str(REPO_ROOT / "tests" / "tracking"))  # the MLflow server helper of the tracking tests

from mlflow_server import answers, free_port, terminate_group

pytestmark = pytest.mark.e2e
REQUIRE_BROWSER = "WEIGHTSEARCH_REQUIRE_BROWSER"
# Virtual milliseconds the pages' scripts may run (timers fast-forward; pending API calls hold virtual time).
VIRTUAL_TIME_BUDGET_MS = 10_000
PAGE_TIMEOUT_S = 90
DASHBOARD_TIMEOUT_S = 60
SIMPLEX_TOTAL = 5.0  # the quickstart's λ simplex: Σλ = 5
DASHBOARD = Path(sys.executable).parent / "optuna-dashboard"  # the package's command, in this environment
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium (and optuna-dashboard): skip without them, fail when REQUIRE_BROWSER is set."""
    path = shutil.which("chromium")
    missing = [] if path else ["Debian's chromium (bash .ci/browser.sh)"]
    if not DASHBOARD.exists():
        missing.append("optuna-dashboard (pip install -e '.[test]')")
    if missing:
        message = "the browser test needs " + " and ".join(missing)
        if os.environ.get(REQUIRE_BROWSER) == "1":
            pytest.fail(f"{message}; {REQUIRE_BROWSER}=1 forbids skipping")
        pytest.skip(message)
    return path


@dataclass
class Node:
    """An element of a dumped DOM: its tag, attributes, children and text nodes in document order."""

    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        return " ".join(" ".join(c.split()) if isinstance(c, str) else c.text() for c in self.children).strip()

    def elements(self) -> Iterator[Node]:
        """Every element below this one, in document order."""
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.elements()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        return [
            e
            for e in self.elements()
            if (tag is None or e.tag == tag) and all(e.attrs.get(k) == v for k, v in attrs.items())
        ]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID_TAGS:
            self.stack.append(node)

    def handle_endtag(self, tag):
        if tag in VOID_TAGS:
            return
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        if data.strip() and self.stack[-1].tag not in ("script", "style"):
            self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    return builder.root


def render(chromium: str, url: str, profile: Path) -> subprocess.Popen:
    """Chromium loading ``url`` headless, in a session of its own; :func:`dom` collects the DOM it dumps."""
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
        "--dump-dom",
        url,
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def dom(page: subprocess.Popen) -> Node:
    try:
        html, errors = page.communicate(timeout=PAGE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(page.pid, signal.SIGKILL)
        page.communicate()
        raise
    assert page.returncode == 0 and html.strip(), errors[-2000:]
    return parse(html)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group ``process`` leads, SIGKILL it after 15 s (not once it has ended: its pid is free)."""
    if process.poll() is None:
        terminate_group(process, timeout_s=15)


def start_dashboard(storage: str, port: int, log: Path) -> subprocess.Popen:
    """optuna-dashboard on 127.0.0.1:``port`` (in a session of its own); :func:`wait_until_serving` waits for it."""
    with log.open("w") as out:
        return subprocess.Popen(
            [str(DASHBOARD), storage, "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until_serving(dashboard: subprocess.Popen, port: int, log: Path) -> None:
    answered = answers(f"http://127.0.0.1:{port}/api/studies", dashboard, DASHBOARD_TIMEOUT_S)
    assert answered, f"optuna-dashboard did not answer within {DASHBOARD_TIMEOUT_S} s: {log.read_text()[-2000:]}"


def shown_trials(page: Node) -> dict[int, dict[str, str]]:
    """optuna-dashboard's trial panes: trial number → {user attribute: value as shown} (``name value`` lines)."""
    panes: dict[int, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for element in page.elements():
        header = re.fullmatch(r"Trial (\d+) \(trial_id=\d+\)", element.text()) if element.tag == "h4" else None
        if header:
            current = panes.setdefault(int(header.group(1)), {})
        elif current is not None and element.tag == "p":
            name, _, value = element.text().partition(" ")
            if name.startswith((ATTR_LAMBDA_PREFIX, ATTR_VALUE_PREFIX)):
                current[name] = value
    return panes


def best_marked(page: Node) -> list[int]:
    """The trials the dashboard's trial list marks "Best Trial"."""
    items = [e.text() for e in page.find_all("li")]
    return [int(re.match(r"Trial (\d+)", item).group(1)) for item in items if item.endswith("Best Trial")]


def run_links(node: Node, experiment_id: str) -> list[tuple[str, str]]:
    """(run id, text) of the links to the experiment's runs below ``node``, in document order."""
    pattern = rf"#/experiments/{experiment_id}/runs/([0-9a-f]{{32}})"
    return [(m.group(1), a.text()) for a in node.find_all("a") if (m := re.fullmatch(pattern, a.attrs.get("href", "")))]


def as_shown(value: object) -> object:
    """A stored value compared as the UI shows it: numbers as floats (JS and Python print them differently)."""
    return value if isinstance(value, str) else float(value)


def shown_as_number(text: str) -> object:
    try:
        return float(text)
    except ValueError:
        return text


def test_dashboard_and_mlflow_ui_show_the_lambdas_and_the_nested_runs(
    chromium,
    recorded_quickstart,
    tmp_path,
):
    server, root, _ = recorded_quickstart
    storage = f"sqlite:///{root / 'runs' / 'quickstart' / 'optuna.db'}"
    # The servers and the CLI start first; the pages load side by side as soon as each can (each waits on servers).
    show = start("show", "quickstart", "--tracking-uri", server.uri)  # prints the URL users open MLflow's UI at
    port, log = free_port(), tmp_path / "dashboard.log"
    dashboard = start_dashboard(storage, port, log)
    pages: list[subprocess.Popen] = []
    try:
        study = optuna.load_study(study_name="quickstart", storage=storage)
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        fixed = [t for t in complete if t.user_attrs[ATTR_VALUE_PREFIX + "strategy"] == "fixed"]
        assert fixed, "the quickstart sampled no fixed-strategy trial: no λ to look for"
        best, best_fixed = study.best_trial, min(fixed, key=lambda t: t.value)
        study_id = optuna.storages.RDBStorage(storage).get_study_id_from_name("quickstart")

        client = MlflowClient(server.uri)
        experiment_id = client.get_experiment_by_name("quickstart").experiment_id
        [parent] = client.search_runs([experiment_id], "tags.`weightsearch.kind` = 'sweep'")
        children = client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
        assert len(children) == len(study.trials)

        parent_url = f"{server.uri}/#/experiments/{experiment_id}/runs/{parent.info.run_id}"
        pages.append(render(chromium, parent_url, tmp_path / "profile-parent"))
        code, out, err = finish(show, timeout=120)
        assert code == 0, err[-2000:]
        [ui_url] = re.findall(r"^MLflow UI +(http\S+)$", out, re.MULTILINE)
        pages.append(render(chromium, ui_url, tmp_path / "profile-runs"))
        wait_until_serving(dashboard, port, log)
        numbers = ",".join(str(n) for n in dict.fromkeys([best.number, best_fixed.number]))
        dashboard_url = f"http://127.0.0.1:{port}/dashboard/studies/{study_id}/trials?numbers={numbers}"
        pages.append(render(chromium, dashboard_url, tmp_path / "profile-dashboard"))
        parent_page, runs_view, trials_page = (dom(page) for page in pages)
    finally:
        for process in (show, dashboard, *pages):
            stop(process)

    # optuna-dashboard: the best trial marked, and each shown trial's readable values (λ for the fixed strategy).
    assert best_marked(trials_page) == [best.number]
    panes = shown_trials(trials_page)
    for trial in (best, best_fixed):
        readable = {k: v for k, v in trial.user_attrs.items() if k.startswith((ATTR_LAMBDA_PREFIX, ATTR_VALUE_PREFIX))}
        assert {k: shown_as_number(v) for k, v in panes[trial.number].items()} == {
            k: as_shown(v) for k, v in readable.items()
        }
    trained = best_fixed.user_attrs["params"]  # the values the trial trained with
    lambdas = {
        k.removeprefix(ATTR_LAMBDA_PREFIX): float(v)
        for k, v in panes[best_fixed.number].items()
        if k.startswith(ATTR_LAMBDA_PREFIX)
    }
    assert lambdas == {
        k.removeprefix("strategy_params.weights."): v
        for k, v in trained.items()
        if k.startswith("strategy_params.weights.")
    }
    assert sum(lambdas.values()) == pytest.approx(SIMPLEX_TOTAL)

    # MLflow, at the URL weightsearch prints: the trial runs, sorted by the objective, the objective as a column.
    objective = "val/action/mse"
    by_objective = sorted(children, key=lambda run: run.data.metrics[objective])
    assert run_links(runs_view, experiment_id) == [(run.info.run_id, run.info.run_name) for run in by_objective]
    for run in children:
        [cell] = [
            cell
            for row in runs_view.find_all(role="row")
            if row.attrs.get("row-id") == run.info.run_id
            for cell in row.find_all(**{"col-id": f"metrics.`{objective}`"})
        ]
        assert float(cell.text()) == run.data.metrics[objective]
    # ... and the parent run's page lists them as its child runs.
    assert parent.info.run_id in parent_page.find_all("title")[0].text()
    [nested] = parent_page.find_all(**{"data-testid": "key-value-Child runs"})
    assert sorted(run_links(nested, experiment_id)) == sorted((run.info.run_id, run.info.run_name) for run in children)
