"""A sweep's runs read through MLflow's client: any tracking store (server, database, files) and any filter."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from mlflow.artifacts import load_dict
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.store.entities.paged_list import PagedList
from mlflow.tracking import MlflowClient

from weightsearch.errors import UserError
from weightsearch.tracking import names


class MlflowRuns:
    """Experiments and runs of the tracking store at ``tracking_uri``, through ``MlflowClient``."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri)

    def experiment_id(self, name: str) -> str | None:
        experiment = self.client.get_experiment_by_name(name)
        return None if experiment is None else experiment.experiment_id

    def latest_sweep(self, experiment_id: str, sweep: str) -> Run | None:
        """The most recently started parent run of sweep ``sweep``."""
        parents = self.client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{names.KIND}` = 'sweep' and tags.`{names.SWEEP}` = {names.quote(sweep)}",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return parents[0] if parents else None

    def runs(
        self, experiment_id: str, parent_id: str, *, kind: str, state: str | None, filter_string: str | None
    ) -> list[Run]:
        """The child runs of ``parent_id`` of ``kind`` (in ``state``) matching an MLflow ``filter_string``."""
        pages = self._pages(experiment_id, parent_id, kind=kind, state=state, filter_string=filter_string)
        return [run for page in pages for run in page]

    def leading_runs(
        self, experiment_id: str, parent_id: str, objective: tuple[str, str], top: int, filter_string: str | None
    ) -> list[Run]:
        """COMPLETE trial runs among which are the ``top`` best by ``objective``, with every run tied with the ``top``-th.

        Reading every run of a 10,000-trial sweep takes seconds, and so does MLflow's own sort on
        SQLite (its ORDER BY on a metric joins an unindexed subquery: quadratic). A threshold is cheap
        to filter on instead: the ``top``-th best value among any runs bounds the ``top``-th best of
        all, so the runs at least that good are read again, one page a time, until they fit in a page.
        """
        metric, direction = objective
        sign, comparison = (1.0, "<=") if direction == "minimize" else (-1.0, ">=")
        selection = {"kind": names.KIND_TRIAL, "state": "COMPLETE", "filter_string": filter_string}
        bound = None
        while True:
            # A few more runs a page than asked, so that each page narrows the threshold several-fold.
            page = next(self._pages(experiment_id, parent_id, **selection, bound=bound, page_size=top + 20))
            if not page.token:
                return list(page)
            costs = sorted(sign * value for value in (run.data.metrics.get(metric, math.nan) for run in page)
                           if math.isfinite(value))
            narrower = _bound(metric, comparison, sign * costs[top - 1]) if len(costs) >= top else None
            if narrower in (None, bound):  # too few values, or every run ties: read every run left
                return [run for page in self._pages(experiment_id, parent_id, **selection, bound=bound) for run in page]
            bound = narrower

    def load_dict(self, artifact_uri: str) -> dict[str, Any]:
        return load_dict(artifact_uri)

    def _pages(
        self,
        experiment_id: str,
        parent_id: str,
        *,
        kind: str,
        state: str | None,
        filter_string: str | None,
        bound: str | None = None,
        page_size: int = 1000,
    ) -> Iterator[PagedList[Run]]:
        """The selected child runs a page at a time, and within ``bound`` if given."""
        clauses = [f"tags.`{names.PARENT_RUN_ID}` = {names.quote(parent_id)}", f"tags.`{names.KIND}` = {names.quote(kind)}"]
        if state is not None:
            clauses.append(f"tags.`{names.TRIAL_STATE}` = {names.quote(state)}")
        clauses += [clause for clause in (filter_string, bound) if clause]
        page_token = None
        while True:
            try:
                page = self.client.search_runs(
                    [experiment_id], filter_string=" and ".join(clauses), max_results=page_size, page_token=page_token
                )
            except MlflowException as error:
                if filter_string:
                    raise UserError(
                        f"--filter {filter_string!r} is not a valid MLflow filter ({str(error).splitlines()[0]}); "
                        """write e.g. "params.strategy = 'gradnorm'" """.strip()
                    ) from None
                raise
            yield page
            page_token = page.token
            if not page_token:
                return


def _bound(metric: str, comparison: str, value: float) -> str:
    """The filter clause ``metric <comparison> value``; repr round-trips the float, MLflow's parser takes no "e+"."""
    return f"metrics.`{metric}` {comparison} {repr(value).replace('e+', 'e')}"
