"""The cluster commands: `submit` a sweep as a Ray Job, and `jobs` (list, logs, stop) (parsers and handlers)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from weightsearch.cli.sweep import add_sweep_flags
from weightsearch.cluster.address import check_reachable, dashboard_url
from weightsearch.cluster.client import cluster_errors, connect, follow_logs
from weightsearch.contracts import SWEEP_FLAGS
from weightsearch.redact import without_password

if TYPE_CHECKING:
    from ray.job_submission import JobStatus, JobSubmissionClient

# Ray Job metadata key naming the sweep a job runs (shown by `weightsearch jobs`).
SWEEP_METADATA_KEY = "weightsearch_sweep"
# Exit code of a command the user interrupted (128 + SIGINT), as shells report it.
INTERRUPTED = 130


_ADDRESS_HELP = "the head's Ray dashboard, e.g. http://HEAD:8265 (default: $RAY_ADDRESS)"


def add_parsers(commands: argparse._SubParsersAction) -> None:
    submit = commands.add_parser("submit", help="submit a sweep to a Ray cluster as a Ray Job")
    submit.add_argument("spec", help="sweep spec YAML (shipped with its space file; validated here first)")
    submit.add_argument("--address", help=_ADDRESS_HELP)
    submit.add_argument("--wait", action="store_true", help="follow the job's log; exit 0 if it succeeds, else 1")
    add_sweep_flags(submit, [flag.flag for flag in SWEEP_FLAGS if flag.forwarded] + ["--storage-path"])
    submit.set_defaults(handler=submit_command)

    jobs = commands.add_parser("jobs", help="the Ray Jobs of a cluster: list (default), logs, stop")
    jobs.add_argument("--address", help=_ADDRESS_HELP)
    jobs.set_defaults(handler=jobs_command)
    actions = jobs.add_subparsers(dest="jobs_action", metavar="ACTION")
    # SUPPRESS: an --address given before the action is not reset by the action's default.
    actions.add_parser("list", help="jobs with status, sweep, start time and entrypoint").add_argument(
        "--address", default=argparse.SUPPRESS, help=_ADDRESS_HELP
    )
    logs = actions.add_parser("logs", help="a job's log")
    logs.add_argument("job_id", help="the job id `submit` printed")
    logs.add_argument("--follow", action="store_true", help="keep printing until the job ends")
    logs.add_argument("--address", default=argparse.SUPPRESS, help=_ADDRESS_HELP)
    stop = actions.add_parser("stop", help="stop a running job")
    stop.add_argument("job_id", help="the job id `submit` printed")
    stop.add_argument("--address", default=argparse.SUPPRESS, help=_ADDRESS_HELP)


def submit_command(args: argparse.Namespace) -> int:
    """Validate the spec locally, submit it as a Ray Job, print how to follow it; with --wait, follow it to the end."""
    # A wrong address fails in a moment, before the spec is read.
    check_reachable(dashboard_url(args.address))
    from weightsearch.cluster.submission import prepare_submission

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
