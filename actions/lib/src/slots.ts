import { constants } from "node:fs";
import { link, mkdir, open, readFile, readdir, rename, unlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { currentProcess, ownerLabels, ownerState, type ProcessIdentity } from "./owner.js";
import { newRunId } from "./result/provenance.js";
import { runExperiment, type RunOptions, type RunOutcome } from "./run.js";

/**
 * A host-wide limit on sandboxes running at once (policy limits.maxConcurrentSandboxes), shared by every
 * run on the host, in any process. Slot i is the file slot-<i>.lock in one folder, created atomically
 * (link of a complete file, which fails if the name exists) with its holder's process identity (owner.ts).
 * A holder that died without releasing (SIGKILL, a crash) is recognised by that identity and its slot is
 * taken over, so the semaphore survives crashes without a daemon.
 */
export function defaultSlotDir(): string {
  return process.env.CRUCIBLE_SLOT_DIR || path.join(os.tmpdir(), "crucible-sandbox-slots");
}

interface Holder {
  runId: string;
  since: string;
  labels: Record<string, string>;
}

export interface SlotLease {
  slot: number;
  release(): Promise<void>;
}

export interface WaitOptions {
  runId: string;
  signal?: AbortSignal;
  /** Called when the run has to wait, and again every `reportEveryMs` while it does. */
  onWait?: (message: string) => void;
  pollMs?: number;
  reportEveryMs?: number;
}

export class SandboxSlots {
  constructor(
    readonly dir: string,
    readonly limit: number,
  ) {}

  private file(slot: number): string {
    return path.join(this.dir, `slot-${slot}.lock`);
  }

  /** Takes a free slot now, or undefined when all are held by live processes. */
  async tryAcquire(runId: string, self: ProcessIdentity | undefined): Promise<SlotLease | undefined> {
    await mkdir(this.dir, { recursive: true, mode: 0o1777 });
    const holder: Holder = { runId, since: new Date().toISOString(), labels: ownerLabels(self) };
    const draft = path.join(this.dir, `.draft-${process.pid}-${runId}`);
    const handle = await open(draft, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o644);
    await handle.writeFile(JSON.stringify(holder));
    await handle.close();
    try {
      for (let slot = 0; slot < this.limit; slot++) {
        for (let attempt = 0; attempt < 2; attempt++) {
          try {
            await link(draft, this.file(slot));
            return { slot, release: () => this.release(slot, runId) };
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
          }
          if (!(await this.takeOverIfStale(slot, self))) break;
        }
      }
      return undefined;
    } finally {
      await unlink(draft).catch(() => undefined);
    }
  }

  /**
   * Removes slot's lock when its holder's process is gone. The lock is first moved aside under a unique
   * name and judged there, so two processes cannot both remove it, and a lock written by a live holder
   * in between is put back.
   */
  private async takeOverIfStale(slot: number, self: ProcessIdentity | undefined): Promise<boolean> {
    const held = await this.read(this.file(slot));
    if (!held) return true; // released meanwhile
    if ((await ownerState(held.labels, self)).state !== "gone") return false;
    const aside = path.join(this.dir, `.stale-${slot}-${process.pid}-${Date.now()}`);
    try {
      await rename(this.file(slot), aside);
    } catch {
      return true;
    }
    const moved = await this.read(aside);
    if (moved && (await ownerState(moved.labels, self)).state !== "gone") {
      await link(aside, this.file(slot)).catch(() => undefined);
    }
    await unlink(aside).catch(() => undefined);
    return true;
  }

  private async read(file: string): Promise<Holder | undefined> {
    try {
      return JSON.parse(await readFile(file, "utf8")) as Holder;
    } catch {
      return undefined;
    }
  }

  private async release(slot: number, runId: string): Promise<void> {
    const held = await this.read(this.file(slot));
    if (held?.runId === runId) await unlink(this.file(slot)).catch(() => undefined);
  }

  /** Who holds the slots now (for the waiting message). */
  async holders(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const held = await Promise.all(names.filter((n) => /^slot-\d+\.lock$/.test(n)).map((n) => this.read(path.join(this.dir, n))));
    return held.filter((h): h is Holder => !!h).map((h) => h.runId);
  }

  /**
   * Waits for a slot. Resolves to the lease, or to undefined when the signal aborted the wait (at once:
   * the wait is a sleep that the abort ends).
   */
  async acquire(options: WaitOptions): Promise<{ lease?: SlotLease; waitedMs: number }> {
    const self = await currentProcess();
    const started = Date.now();
    const pollMs = options.pollMs ?? 500;
    const reportEveryMs = options.reportEveryMs ?? 10_000;
    let reported = -Infinity;
    for (;;) {
      if (options.signal?.aborted) return { waitedMs: Date.now() - started };
      const lease = await this.tryAcquire(options.runId, self);
      if (lease) return { lease, waitedMs: Date.now() - started };
      const waited = Date.now() - started;
      if (waited - reported >= reportEveryMs) {
        reported = waited;
        const holders = await this.holders();
        options.onWait?.(
          `waiting for a sandbox slot: all ${this.limit} on this host are in use (runs ${holders.join(", ") || "unknown"}); waited ${Math.round(waited / 1000)}s so far`,
        );
      }
      await sleep(pollMs + Math.random() * pollMs, options.signal);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
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
