// Line relay: every byte the program writes arrives as a printable line, nothing is lost.
import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { escapeForLog, LineRelay, LogFile, type RelayedLine } from "../actions/lib/src/index.js";

function relayAll(chunks: ["stdout" | "stderr", string | Buffer][], maxLineBytes?: number): RelayedLine[] {
  const lines: RelayedLine[] = [];
  const relay = new LineRelay((l) => lines.push(l), maxLineBytes);
  for (const [stream, chunk] of chunks) relay.push(stream, Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  relay.flush();
  return lines;
}

describe("LineRelay", () => {
  it("joins lines split across chunks and keeps streams apart", () => {
    const lines = relayAll([
      ["stdout", "hel"],
      ["stderr", "err"],
      ["stdout", "lo\nwor"],
      ["stderr", "or\n"],
      ["stdout", "ld\r\nlast"],
    ]);
    expect(lines.map((l) => `${l.stream}:${l.text}`)).toEqual(["stdout:hello", "stderr:error", "stdout:world", "stdout:last"]);
  });

  it("splits a line longer than the cap into pieces without losing bytes", () => {
    const long = "x".repeat(150_000);
    const lines = relayAll([["stdout", `${long}\nafter\n`]]);
    expect(lines.map((l) => l.text.length)).toEqual([65_536, 65_536, 150_000 - 131_072, 5]);
    expect(
      lines
        .slice(0, 3)
        .map((l) => l.text)
        .join(""),
    ).toBe(long);
  });

  it("escapes invalid UTF-8, control characters and bidi overrides but keeps valid text", () => {
    expect(escapeForLog(Buffer.from([0x61, 0xff, 0xfe, 0x62]))).toBe("a\\xff\\xfeb");
    expect(escapeForLog(Buffer.from("\x1b[31mred\x1b[0m\ttab\x00"))).toBe("\\x1b[31mred\\x1b[0m\ttab\\x00");
    expect(escapeForLog(Buffer.from("naïve 日本 🙂"))).toBe("naïve 日本 🙂");
    expect(escapeForLog(Buffer.from("a\u202eb"))).toBe("a\\u{202e}b");
    expect(escapeForLog(Buffer.from([0xc0, 0xaf]))).toBe("\\xc0\\xaf");
    expect(escapeForLog(Buffer.from([0xed, 0xa0, 0x80]))).toBe("\\xed\\xa0\\x80");
    expect(escapeForLog(Buffer.from([0xe6, 0x97]))).toBe("\\xe6\\x97");
  });

  it("renders progress lines with a percentage and an ETA", () => {
    const lines = relayAll([
      ["stdout", '{"progress": {"step": 0, "total": 4}}\n{"progress": {"step": 2, "total": 4, "loss": 1.8912, "phase": "train"}}\n'],
    ]);
    expect(lines[0]!.progressText).toBe("progress 0/4 (0%)");
    expect(lines[1]!.progressText).toMatch(/^progress 2\/4 \(50%\)( ETA \S+)? · loss=1\.891 phase=train$/);
    expect(lines[1]!.progress).toMatchObject({ step: 2, total: 4 });
    expect(relayAll([["stdout", '{"progress": "soon"}\n']])[0]!.progress).toBeUndefined();
  });
});

describe("LogFile", () => {
  it("caps the saved log, says so once, and still counts every line", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "crucible-log-"));
    const log = new LogFile(path.join(dir, "log.txt"), 1000);
    for (let i = 0; i < 200; i++) log.write({ stream: "stdout", text: `line ${i}`, elapsedMs: 5 });
    await log.close();
    const saved = await readFile(path.join(dir, "log.txt"), "utf8");
    expect(Buffer.byteLength(saved)).toBeLessThan(1200);
    expect(saved.match(/log truncated/g)).toHaveLength(1);
    expect(log).toMatchObject({ lines: 200, truncated: true });
    expect(log.tail.at(-1)).toBe("[+0.005s stdout] line 199");
  });
});
