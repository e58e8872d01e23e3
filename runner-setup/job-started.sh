#!/bin/sh
# The runner's job-started hook (ACTIONS_RUNNER_HOOK_JOB_STARTED, set in each runner slot's .env by
# install-runner.mjs). It runs before a job's first step; a non-zero exit fails the job, so nothing of it
# runs here. job-started.mjs decides; this wrapper only finds Node (CRUCIBLE_NODE, from the same .env).
set -eu
exec "${CRUCIBLE_NODE:-node}" "$(dirname "$0")/job-started.mjs"
