// The usage sampler's stats stream ends with the sandbox, destroyed by the sampler itself rather than left to
// how docker-modem passes the abort signal on once a streamed answer has begun.
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { sampleStats } from "../actions/lib/src/docker/provider.js";

/** A container whose stats answer is `stream`, given once the request is made. */
const containerAnswering = (stream: PassThrough) => ({ stats: async () => stream }) as unknown as Parameters<typeof sampleStats>[0];
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("usage sampling", () => {
  it("turns each stats line into a sample and destroys the stream when the sandbox ends", async () => {
    const stream = new PassThrough();
    const ended = new AbortController();
    const samples: unknown[] = [];
    sampleStats(containerAnswering(stream), ended.signal, (s) => samples.push(s));
    await settle();
    const stats = { cpu_stats: { cpu_usage: { total_usage: 2e8 }, system_cpu_usage: 2e9, online_cpus: 2 }, memory_stats: { usage: 5e6 } };
    stream.write(`${JSON.stringify(stats)}\n`);
    await settle();
    expect(samples).toEqual([expect.objectContaining({ memoryBytes: 5e6 })]);
    expect(stream.destroyed).toBe(false);
    ended.abort();
    expect(stream.destroyed).toBe(true);
  });

  it("destroys a stream whose answer arrives after the sandbox ended", async () => {
    const stream = new PassThrough();
    const ended = new AbortController();
    ended.abort();
    sampleStats(containerAnswering(stream), ended.signal, () => undefined);
    await settle();
    expect(stream.destroyed).toBe(true);
  });
});
