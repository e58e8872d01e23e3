import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { assertValid, validateResultDocument } from "../schemas.js";
import { escapeControls } from "../text.js";
import type { LogRecord, RunResult, RunStatus } from "./format.js";
import type { ResultHeader } from "./outcome.js";

/** What a finished log file says about itself (relay.ts's LogFile). */
export type LogSummary = Omit<LogRecord, "path">;

export interface WrittenResult {
  result: RunResult;
  resultDir: string;
  resultFile: string;
}

/** Completes a run's result with its end time and log, checks it against the schema and writes result.json. */
export async function writeResult(
  resultDir: string,
  log: LogSummary,
  partial: Omit<RunResult, "finishedAt" | "durationSeconds" | "log">,
): Promise<WrittenResult> {
  const finishedAt = new Date();
  const result: RunResult = {
    ...partial,
    // Reasons are ours, but some quote what Docker or a runtime said.
    statusReason: escapeControls(partial.statusReason),
    finishedAt: finishedAt.toISOString(),
    durationSeconds: Math.max(0, (finishedAt.getTime() - Date.parse(partial.startedAt)) / 1000),
    log: { path: "log.txt", lines: log.lines, bytes: log.bytes, truncated: log.truncated, tail: log.tail },
  };
  assertValid(validateResultDocument, result, "the run result");
  const resultFile = path.join(resultDir, "result.json");
  await writeFile(resultFile, `${JSON.stringify(result, null, 2)}\n`);
  return { result, resultDir, resultFile };
}

/** A run refused before its first sandbox started is still recorded: an empty log.txt and a result saying why. */
export async function writeNotStarted(
  resultDir: string,
  header: ResultHeader,
  status: RunStatus,
  statusReason: string,
): Promise<WrittenResult> {
  await mkdir(resultDir, { recursive: true });
  await writeFile(path.join(resultDir, "log.txt"), "", { flag: "wx", mode: 0o644 });
  const log = { lines: 0, bytes: 0, truncated: false, tail: [] };
  return writeResult(resultDir, log, {
    ...header,
    status,
    statusReason,
    exitCode: null,
    metrics: {},
    artifacts: [],
    dropped: [],
    policy: {},
    // Said, so that no reader takes the absence for a result older than behaviour monitoring.
    monitoring: { status: "unavailable", reason: "nothing was monitored: the program never started", sources: [] },
  });
}
