import { randomUUID } from "node:crypto";
import { constants } from "node:fs";
import { link, mkdir, open, readFile, readdir, rename, unlink } from "node:fs/promises";
import path from "node:path";
import { currentProcess, OWNER_LABELS, ownerLabels, ownerState, type ProcessIdentity } from "./owner.js";

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
  /** Gives up after this long (every wait tries at least once); by default waits until the signal aborts. */
  waitMs?: number;
  /** Called when the run has to wait, and again every `reportEveryMs` while it does. */
  onWait?: (message: string) => void;
  pollMs?: number;
  reportEveryMs?: number;
}

/**
 * A host-wide limit on sandboxes running at once (policy limits.maxConcurrentSandboxes), shared by every
 * run on the host, in any process. Slot i is the file slot-<i>.lock in one folder, created atomically
 * (link of a complete file, which fails if the name exists) with its holder's process identity (owner.ts).
 * A holder that died without releasing (SIGKILL, a crash) is recognised by that identity and its slot is
 * taken over, so the semaphore survives crashes without a daemon. The same class leases the host's
 * monitored runtimes (monitoring/session.ts), one trace socket per slot.
 */
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
    // A name of its own for every attempt: the holder's id may hold any text, and one process may try twice at once.
    const draft = path.join(this.dir, `.draft-${process.pid}-${randomUUID()}`);
    const handle = await open(draft, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
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
          if (!(await this.takeOverIfStale(slot, self, draft))) break;
        }
      }
      return undefined;
    } finally {
      await unlink(draft).catch(() => undefined);
    }
  }

  /**
   * Removes slot's lock when its holder's process is gone; true when the slot may be tried again. Only the
   * process that holds the slot's takeover marker (slot-<i>.takeover, created atomically like a lock)
   * removes a lock that is not its own, and it judges the lock again once it holds the marker. Nothing
   * else removes a dead holder's lock, so the lock it removes is the one it judged: a live holder's lock
   * is never removed, and two runs never hold one slot.
   */
  private async takeOverIfStale(slot: number, self: ProcessIdentity | undefined, draft: string): Promise<boolean> {
    const held = await this.read(this.file(slot));
    if (!held) return true; // released meanwhile
    if ((await ownerState(held.labels, self)).state !== "gone") return false;
    const marker = path.join(this.dir, `slot-${slot}.takeover`);
    try {
      await link(draft, marker);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      await this.removeDeadMarker(marker, self);
      return false; // another process is taking it over; the next poll sees who won
    }
    try {
      const again = await this.read(this.file(slot));
      if (again && (await ownerState(again.labels, self)).state === "gone") await unlink(this.file(slot)).catch(() => undefined);
      return true;
    } finally {
      await unlink(marker).catch(() => undefined);
    }
  }

  /**
   * A takeover marker is held for a few milliseconds; one whose holder died in them would block the slot
   * for good. It is moved aside under a unique name and judged there, and put back if a live process
   * wrote it in between.
   */
  private async removeDeadMarker(marker: string, self: ProcessIdentity | undefined): Promise<void> {
    const held = await this.read(marker);
    if (!held || (await ownerState(held.labels, self)).state !== "gone") return;
    const aside = `${marker}.${process.pid}-${Date.now()}`;
    try {
      await rename(marker, aside);
    } catch {
      return;
    }
    const moved = await this.read(aside);
    if (moved && (await ownerState(moved.labels, self)).state !== "gone") await link(aside, marker).catch(() => undefined);
    await unlink(aside).catch(() => undefined);
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
    return (await this.heldBy()).map((h) => h.runId);
  }

  /** Who holds the slots now, with each holder's pid where it recorded one. */
  async heldBy(): Promise<{ runId: string; pid?: number }[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const held = await Promise.all(names.filter((n) => /^slot-\d+\.lock$/.test(n)).map((n) => this.read(path.join(this.dir, n))));
    return held
      .filter((h): h is Holder => !!h)
      .map((h) => {
        const pid = Number(h.labels[OWNER_LABELS.pid]);
        return Number.isInteger(pid) && pid > 0 ? { runId: h.runId, pid } : { runId: h.runId };
      });
  }

  /**
   * Waits for a slot. Resolves to the lease, or to undefined when the signal aborted the wait (at once:
   * the wait is a sleep that the abort ends) or waitMs passed.
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
      if (options.waitMs !== undefined && waited >= options.waitMs) return { waitedMs: waited };
      if (waited - reported >= reportEveryMs) {
        reported = waited;
        const holders = await this.holders();
        options.onWait?.(
          `waiting for a sandbox slot: all ${this.limit} on this host are in use (runs ${holders.join(", ") || "unknown"}); ` +
            `waited ${Math.round(waited / 1000)}s so far`,
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
