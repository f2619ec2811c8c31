"""The cluster commands of the CLI: `submit` a sweep as a Ray Job, and `jobs` (list, logs, stop)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from weightsearch.cluster.address import check_reachable, dashboard_url
from weightsearch.cluster.client import cluster_errors, connect, follow_logs
from weightsearch.redact import without_password

if TYPE_CHECKING:
    from ray.job_submission import JobStatus, JobSubmissionClient

# Ray Job metadata key naming the sweep a job runs (shown by `weightsearch jobs`).
SWEEP_METADATA_KEY = "weightsearch_sweep"
# Exit code of a command the user interrupted (128 + SIGINT), as shells report it.
INTERRUPTED = 130


def submit_command(args: argparse.Namespace) -> int:
    """Validate the spec locally, submit it as a Ray Job, print how to follow it; with --wait, follow it to the end."""
    from weightsearch.cluster.submission import prepare_submission

    # A wrong address fails in a moment; validating the spec imports torch and takes seconds.
    check_reachable(dashboard_url(args.address))
    submission = prepare_submission(args)
    if without_password(submission.entrypoint) != submission.entrypoint:
        print(
            "warning: the job's entrypoint holds a password, readable by anyone who can list the cluster's jobs; "
            "leave it out of the URL and set PGPASSWORD / MLFLOW_TRACKING_PASSWORD on the head (deploy/README.md)",
            file=sys.stderr,
        )
    client, url = connect(args.address)
    with submission.working_dir() as working_dir, cluster_errors(url):
        job_id = client.submit_job(
            entrypoint=submission.entrypoint,
            runtime_env={"working_dir": str(working_dir)},
            metadata={SWEEP_METADATA_KEY: submission.spec.name},
        )
    lines = [
        f"job      {job_id} (sweep {submission.spec.name}) submitted to {url}",
        f"runs     {without_password(submission.entrypoint)}",
        f"follow   weightsearch jobs logs {job_id} --follow --address {url}",
        f"stop     weightsearch jobs stop {job_id} --address {url}",
        *submission.result_lines(),
    ]
    print("\n".join(lines), flush=True)
    if not args.wait:
        return 0
    return _follow_to_the_end(client, job_id, url)


def jobs_command(args: argparse.Namespace) -> int:
    """List the cluster's jobs (the default), print or follow one job's log, or stop one."""
    client, url = connect(args.address)
    if args.jobs_action == "logs":
        if args.follow:
            _follow_to_the_end(client, args.job_id, url)
            return 0
        with cluster_errors(url):
            sys.stdout.write(client.get_job_logs(args.job_id))
        return 0
    if args.jobs_action == "stop":
        with cluster_errors(url):
            stopping = client.stop_job(args.job_id)
            status = client.get_job_status(args.job_id)
        print(f"job {args.job_id} {'stopping' if stopping else 'had already ended'} ({status.value})")
        return 0
    _print_jobs(client, url)
    return 0


def _follow_to_the_end(client: "JobSubmissionClient", job_id: str, url: str) -> int:
    """Follow the job's log; 0 when it succeeded, 1 when it failed or was stopped, 130 on Ctrl-C."""
    status: JobStatus | None = follow_logs(client, job_id, url)
    if status is None:
        return INTERRUPTED
    print(f"job {job_id} {status.value}")
    return 0 if status.value == "SUCCEEDED" else 1


def _print_jobs(client: "JobSubmissionClient", url: str) -> None:
    """The cluster's submitted jobs, oldest first: id, status, sweep, start time, entrypoint (passwords masked)."""
    with cluster_errors(url):
        jobs = sorted((job for job in client.list_jobs() if job.submission_id), key=lambda job: job.start_time or 0)
    if not jobs:
        print(f"no jobs on {url}")
        return
    rows = [("JOB", "STATUS", "SWEEP", "STARTED (UTC)", "ENTRYPOINT")]
    for job in jobs:
        started = datetime.fromtimestamp(job.start_time / 1000, timezone.utc) if job.start_time else None
        rows.append(
            (
                job.submission_id,
                job.status.value,
                (job.metadata or {}).get(SWEEP_METADATA_KEY, "-"),
                started.strftime("%Y-%m-%d %H:%M:%S") if started else "-",
                without_password(job.entrypoint),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
