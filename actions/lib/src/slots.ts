import os from "node:os";
import path from "node:path";
import { newRunId } from "./result/provenance.js";
import { runExperiment, type RunOptions, type RunOutcome } from "./run.js";
import { SandboxSlots, type SlotLease } from "./slot-leases.js";

/** Where the host's sandbox slots (limits.maxConcurrentSandboxes) are kept. */
export function defaultSlotDir(): string {
  return process.env.CRUCIBLE_SLOT_DIR || path.join(os.tmpdir(), "crucible-sandbox-slots");
}

/**
 * runExperiment holding one of the host's sandbox slots while its sandboxes run (a run's stages run one
 * at a time, so one slot is enough). The wait happens just before the first sandbox starts, after the
 * image is ready; a cancel while waiting ends the wait at once and the run is recorded as cancelled.
 */
export async function runExperimentInSlot(
  options: RunOptions,
  slots = new SandboxSlots(defaultSlotDir(), options.policy.limits.maxConcurrentSandboxes),
): Promise<RunOutcome> {
  const runId = options.runId ?? newRunId();
  let lease: SlotLease | undefined;
  const inner = options.beforeStart;
  try {
    return await runExperiment({
      ...options,
      runId,
      beforeStart: async () => {
        const refused = await inner?.();
        if (refused) return refused;
        let waited = false;
        const onWait = (message: string) => {
          waited = true;
          options.events?.info?.(message);
        };
        const { lease: taken, waitedMs } = await slots.acquire({ runId, signal: options.signal, onWait });
        const seconds = `${Math.round(waitedMs / 1000)}s`;
        if (!taken)
          return {
            status: "cancelled",
            reason: `The run was cancelled while it waited for a sandbox slot (after ${seconds}); no sandbox was started.`,
          };
        lease = taken;
        if (waited) options.events?.info?.(`got sandbox slot ${taken.slot + 1} of ${slots.limit} after waiting ${seconds}`);
        return undefined;
      },
    });
  } finally {
    await lease?.release();
  }
}
