import { randomBytes } from "node:crypto";
import {
  escapeControls,
  formatBytes,
  formatLiveLine,
  resourceLines,
  type RelayedLine,
  type ResourceSample,
  type UsagePeaks,
} from "../../lib/src/index.js";

/**
 * Writes a run to the job log as the runner reads it. Each phase is a collapsible group. Program output is
 * untrusted, so during the run phase the runner's command processing is switched off with
 * ::stop-commands:: and a random token the program cannot know; every program line is also prefixed,
 * so none starts with "::". Every line written, ours included, is one line with control characters
 * escaped (text.ts), since ours quote names and reasons too. Past the byte cap, lines are counted but
 * not printed.
 */
export class ActionsLog {
  private readonly token = randomBytes(16).toString("hex");
  private inGroup = false;
  private commandsStopped = false;
  private printedBytes = 0;
  private suppressed = 0;
  /** One resource line every 10 s while the program runs. */
  readonly sample: (sample: ResourceSample, peak: UsagePeaks) => void = resourceLines((text) =>
    this.write(`[crucible] ${escapeControls(text)}\n`),
  );

  constructor(
    private readonly write: (text: string) => void,
    private readonly maxBytes: number,
    private readonly savedLogPath: string,
  ) {}

  phase(name: string): void {
    this.close();
    this.write(`::group::${escapeControls(name)}\n`);
    this.inGroup = true;
    // "run", or "<stage>: run" in a multi-stage run: program output follows until the next phase.
    if (name === "run" || name.endsWith(": run")) {
      this.write(`::stop-commands::${this.token}\n`);
      this.commandsStopped = true;
    }
  }

  info(message: string): void {
    this.write(`${escapeControls(message).replaceAll("##[", "##\\[")}\n`);
  }

  line(line: RelayedLine): void {
    // The runner also reads the legacy "##[command]" form anywhere in a line: break it up.
    const text = `${escapeControls(formatLiveLine(line)).replaceAll("##[", "##\\[")}\n`;
    if (this.printedBytes + text.length > this.maxBytes) {
      if (this.suppressed++ === 0) {
        this.write(
          `[crucible] program output reached this log's cap of ${formatBytes(this.maxBytes)}; further lines are not shown ` +
            `here but are counted and saved (up to the policy's cap) in ${this.savedLogPath}\n`,
        );
      }
      return;
    }
    this.printedBytes += text.length;
    this.write(text);
  }

  /** Ends the open group, first turning command processing back on. */
  close(): void {
    if (this.commandsStopped) {
      if (this.suppressed > 0) this.write(`[crucible] ${this.suppressed} lines were not shown in this log\n`);
      this.write(`::${this.token}::\n`);
      this.commandsStopped = false;
    }
    if (this.inGroup) this.write("::endgroup::\n");
    this.inGroup = false;
  }
}
