// The host-wide sandbox slots (slots.ts): a run beyond the policy's limit waits, saying so; a cancel while
// waiting is immediate; a slot whose holder died is taken over. Real lock files, real processes, and the
// CLI against the real runtime.
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { currentProcess, ownerLabels, SandboxSlots } from "../actions/lib/src/index.js";
import { binDir, cliBin, experimentYaml, makeExperiment, repoRoot } from "./support/repo.js";

const tempDir = (prefix: string) => mkdtemp(path.join(os.tmpdir(), prefix));

describe("sandbox slots", () => {
  it("gives out at most the limit; the next waits with a message naming the holders, and gets the first freed slot", async () => {
    const slots = new SandboxSlots(await tempDir("crucible-slots-"), 2);
    const a = await slots.acquire({ runId: "run-a" });
    const b = await slots.acquire({ runId: "run-b" });
    expect([a.lease?.slot, b.lease?.slot]).toEqual([0, 1]);
    const messages: string[] = [];
    const waiting = slots.acquire({ runId: "run-c", pollMs: 20, reportEveryMs: 50, onWait: (m) => messages.push(m) });
    await new Promise((r) => setTimeout(r, 300));
    expect(messages[0]).toBe("waiting for a sandbox slot: all 2 on this host are in use (runs run-a, run-b); waited 0s so far");
    expect(messages.length).toBeGreaterThan(1);
    await b.lease!.release();
    const c = await waiting;
    expect(c.lease?.slot).toBe(1);
    expect(c.waitedMs).toBeGreaterThanOrEqual(300);
    // Releasing twice, or a lease someone else now holds, removes nothing of theirs.
    await b.lease!.release();
    expect(await slots.holders()).toEqual(["run-a", "run-c"]);
  });

  it("a cancel while waiting ends the wait at once", async () => {
    const slots = new SandboxSlots(await tempDir("crucible-slots-"), 1);
    await slots.acquire({ runId: "holder" });
    const cancel = new AbortController();
    // A poll interval longer than the test's timeout: only the abort can end this wait.
    const waiting = slots.acquire({ runId: "waiter", signal: cancel.signal, pollMs: 600_000 });
    await new Promise((r) => setTimeout(r, 100));
    cancel.abort();
    expect((await waiting).lease).toBeUndefined();
    expect(await slots.holders()).toEqual(["holder"]);
  });

  it("takes over a slot whose holder process is gone, never one whose holder lives", async () => {
    const dir = await tempDir("crucible-slots-");
    const slots = new SandboxSlots(dir, 2);
    const self = await currentProcess();
    const exited = spawnSync("true");
    const dead = { ...self!, pid: exited.pid!, startTime: "1" };
    await writeFile(path.join(dir, "slot-0.lock"), JSON.stringify({ runId: "killed-run", since: "", labels: ownerLabels(dead) }));
    await writeFile(path.join(dir, "slot-1.lock"), JSON.stringify({ runId: "live-run", since: "", labels: ownerLabels(self) }));
    const taken = await slots.acquire({ runId: "next-run" });
    expect(taken.lease?.slot).toBe(0);
    expect((await slots.holders()).sort()).toEqual(["live-run", "next-run"]);
    expect((await readdir(dir)).sort()).toEqual(["slot-0.lock", "slot-1.lock"]);
  });
  it("when many take over one dead holder's slot at the same moment, exactly one gets it", async () => {
    const self = await currentProcess();
    const dead = { ...self!, pid: spawnSync("true").pid!, startTime: "1" };
    for (let round = 0; round < 20; round++) {
      const dir = await tempDir("crucible-slots-");
      await writeFile(path.join(dir, "slot-0.lock"), JSON.stringify({ runId: "killed-run", since: "", labels: ownerLabels(dead) }));
      const slots = new SandboxSlots(dir, 1);
      const leases = await Promise.all(Array.from({ length: 8 }, (_, i) => slots.tryAcquire(`racer-${i}`, self)));
      const winners = leases.filter((l) => l !== undefined);
      expect(winners.map((l) => l.slot)).toEqual([0]);
      const holder = JSON.parse(await readFile(path.join(dir, "slot-0.lock"), "utf8"));
      expect(holder.runId).toBe(`racer-${leases.indexOf(winners[0])}`);
      // No marker or moved-aside file is left behind.
      expect(await readdir(dir)).toEqual(["slot-0.lock"]);
    }
  });
});

describe("crucible run beyond the host's limit", () => {
  it("waits for a slot, saying for how long; SIGINT while waiting records a cancelled run; a freed slot lets it run", async () => {
    const slotDir = await tempDir("crucible-slots-");
    const policy = JSON.parse(await readFile(path.join(repoRoot, "runner-setup/policy.json"), "utf8"));
    policy.limits.maxConcurrentSandboxes = 1;
    delete policy.$schema;
    const policyFile = path.join(await tempDir("crucible-policy-"), "policy.json");
    await writeFile(policyFile, JSON.stringify(policy));
    const file = await makeExperiment("queued", { "experiment.yaml": experimentYaml("queued"), "main.py": "print('ran in its slot')\n" });
    const resultsDir = await tempDir("crucible-queued-results-");
    // This test process holds the only slot.
    const slots = new SandboxSlots(slotDir, 1);
    const held = await slots.acquire({ runId: "test-holder" });

    const start = () => {
      const child = spawn(path.join(binDir, "node"), [cliBin, "run", file, "--policy", policyFile, "--results-dir", resultsDir], {
        cwd: repoRoot,
        env: { ...process.env, CRUCIBLE_SLOT_DIR: slotDir },
      });
      let stdout = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
      child.stderr.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
      const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
      const saw = async (text: string) => {
        while (!stdout.includes(text)) await new Promise((r) => setTimeout(r, 100));
      };
      return { child, output: () => stdout, exited, saw };
    };

    const first = start();
    await first.saw("waiting for a sandbox slot: all 1 on this host are in use (runs test-holder); waited 0s so far");
    const cancelledAt = Date.now();
    first.child.kill("SIGINT");
    expect(await first.exited).toBe(1);
    expect(Date.now() - cancelledAt).toBeLessThan(10_000);
    expect(first.output()).toMatch(
      /==> cancelled: The run was cancelled while it waited for a sandbox slot \(after \d+s\); no sandbox was started\./,
    );
    expect(first.output()).not.toContain("ran in its slot");
    const [cancelledRun] = await readdir(resultsDir);
    const cancelled = JSON.parse(await readFile(path.join(resultsDir, cancelledRun!, "result.json"), "utf8"));
    expect(cancelled.status).toBe("cancelled");

    const second = start();
    await second.saw("waiting for a sandbox slot");
    await held.lease!.release();
    expect(await second.exited, second.output()).toBe(0);
    expect(second.output()).toMatch(/got sandbox slot 1 of 1 after waiting \d+s/);
    expect(second.output()).toContain("ran in its slot");
    expect(await slots.holders()).toEqual([]);
  }, 180_000);
});
