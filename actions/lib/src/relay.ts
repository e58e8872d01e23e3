import { createWriteStream, type WriteStream } from "node:fs";
import { parseJsonWithin } from "./limits.js";
import type { OutputStream } from "./sandbox/sandbox.js";
import { shownText, unsafeKind, visibleEscape } from "./text.js";

/** Longest line relayed as one piece; longer lines arrive as several pieces, nothing is dropped. */
export const MAX_LINE_BYTES = 64 * 1024;

/** A progress report as relayed: step and total, and up to 8 more fields, names and text escaped. */
export interface Progress {
  step: number;
  total: number;
  [key: string]: string | number;
}

export interface RelayedLine {
  stream: OutputStream;
  /** Printable text: invalid UTF-8 and control characters are escaped as \xNN or \u{...}. */
  text: string;
  elapsedMs: number;
  /** Set when the line is a progress report: {"progress": {"step": 3, "total": 10, ...}}. */
  progress?: Progress;
  /** Rendered progress line with percentage and ETA. */
  progressText?: string;
}

/** Kinds of control text the relay neutralises in program output; each is counted (never kept) for monitoring. */
export const CONTROL_TEXT_KINDS = [
  "workflow-command",
  "escape-sequence",
  "control-character",
  "bidi-control",
  "invisible-character",
  "invalid-utf8",
] as const;
export type ControlTextKind = (typeof CONTROL_TEXT_KINDS)[number];
export type ControlTextCounts = Partial<Record<ControlTextKind, number>>;

/** A line a runner would read as a workflow command ("::error::", "##[group]") if it were not prefixed. */
const WORKFLOW_COMMAND = /^\s*(?:::[A-Za-z][\w-]*|##\[)/;

/**
 * Splits the program's byte streams into lines as they arrive. A line ends at \n, \r\n or a lone \r;
 * the partial line of each stream is kept until more bytes come or flush() is called at exit.
 */
export class LineRelay {
  private readonly partial: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] };
  private readonly partialBytes: Record<OutputStream, number> = { stdout: 0, stderr: 0 };
  private readonly started = Date.now();
  private firstProgress: { at: number; step: number } | undefined;
  latestProgress: Progress | undefined;
  /** What was neutralised so far, by kind, and when it was first seen (ms since the relay started). */
  readonly controlText: ControlTextCounts = {};
  firstControlTextMs: number | undefined;
  /** When the program's output ended (the last flush), ms since the relay started. */
  flushedAtMs: number | undefined;

  constructor(
    private readonly emit: (line: RelayedLine) => void,
    private readonly maxLineBytes = MAX_LINE_BYTES,
  ) {}

  push(stream: OutputStream, chunk: Buffer): void {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      if (byte !== 0x0a && byte !== 0x0d) continue;
      this.append(stream, chunk.subarray(start, i));
      // \r\n is one line end: skip the \n that follows a \r in the same chunk.
      if (byte === 0x0d && chunk[i + 1] === 0x0a) i++;
      this.endLine(stream);
      start = i + 1;
    }
    this.append(stream, chunk.subarray(start));
  }

  elapsedMs(): number {
    return Date.now() - this.started;
  }

  /** Emits whatever is left without a trailing newline; called when the program has ended. */
  flush(): void {
    this.flushedAtMs = this.elapsedMs();
    for (const stream of ["stdout", "stderr"] as const) if (this.partialBytes[stream] > 0) this.endLine(stream);
  }

  private append(stream: OutputStream, bytes: Buffer): void {
    while (bytes.length > 0) {
      const room = this.maxLineBytes - this.partialBytes[stream];
      const piece = bytes.subarray(0, room);
      this.partial[stream].push(piece);
      this.partialBytes[stream] += piece.length;
      bytes = bytes.subarray(piece.length);
      if (this.partialBytes[stream] >= this.maxLineBytes) this.endLine(stream);
    }
  }

  private endLine(stream: OutputStream): void {
    const bytes = Buffer.concat(this.partial[stream]);
    this.partial[stream] = [];
    this.partialBytes[stream] = 0;
    const elapsedMs = this.elapsedMs();
    const countControl = (kind: ControlTextKind) => {
      this.controlText[kind] = (this.controlText[kind] ?? 0) + 1;
      this.firstControlTextMs ??= elapsedMs;
    };
    const text = escapeForLog(bytes, countControl);
    if (WORKFLOW_COMMAND.test(text)) countControl("workflow-command");
    const progress = parseProgress(text);
    if (!progress) {
      this.emit({ stream, text, elapsedMs });
      return;
    }
    this.firstProgress ??= { at: elapsedMs, step: progress.step };
    this.latestProgress = progress;
    this.emit({ stream, text, elapsedMs, progress, progressText: renderProgress(progress, elapsedMs, this.firstProgress) });
  }
}

/** A progress line is small and flat; anything deeper is relayed as an ordinary line. */
const PROGRESS_LIMITS = { maxBytes: MAX_LINE_BYTES, maxDepth: 4 };
const MAX_PROGRESS_FIELDS = 8;

/**
 * The progress report of a line, or undefined. JSON escapes ("\u001b", "\r") decode to raw control
 * characters, so every field name and text value is escaped again here, and only numbers and text are kept.
 */
function parseProgress(text: string): Progress | undefined {
  if (!text.startsWith('{"progress"')) return undefined;
  let value: unknown;
  try {
    value = (parseJsonWithin(text, PROGRESS_LIMITS) as { progress?: unknown }).progress;
  } catch {
    // Not (acceptable) JSON after all: it is relayed as an ordinary line.
    return undefined;
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) return undefined;
  const { step, total, ...rest } = value as Record<string, unknown>;
  const finite = (n: unknown): n is number => typeof n === "number" && Number.isFinite(n);
  if (!finite(step) || !finite(total) || total <= 0) return undefined;
  const fields = Object.entries(rest)
    .filter(([k, v]) => k !== "__proto__" && ((typeof v === "number" && Number.isFinite(v)) || typeof v === "string"))
    .slice(0, MAX_PROGRESS_FIELDS)
    .map(([k, v]): [string, string | number] => [shownText(k, 40), typeof v === "string" ? shownText(v, 80) : (v as number)]);
  return { ...Object.fromEntries(fields), step, total };
}

export function renderProgress(progress: Progress, elapsedMs: number, first: { at: number; step: number }): string {
  const { step, total, ...rest } = progress;
  const percent = Math.min(100, Math.max(0, (step / total) * 100));
  const rate = (step - first.step) / Math.max(1, elapsedMs - first.at);
  const eta = rate > 0 && step < total ? ` ETA ${formatDuration((total - step) / rate / 1000)}` : "";
  const extras = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === "number" ? formatNumber(v) : shownText(v, 40)}`);
  return `progress ${step}/${total} (${percent.toFixed(0)}%)${eta}${extras.length ? " · " + extras.join(" ") : ""}`;
}

function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toPrecision(4);
}

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${Math.round(seconds % 60)}s`;
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}

/**
 * Decodes UTF-8, escaping what a terminal or log viewer could act on: invalid bytes as \xNN, and every
 * unsafe code point (text.ts: control characters, ANSI and OSC escapes, bidi controls, invisible
 * characters) as \xNN or \u{...}. Tabs are kept.
 */
export function escapeForLog(bytes: Buffer, onEscaped?: (kind: ControlTextKind) => void): string {
  // Fast path for the common case: printable ASCII and tabs need no escaping.
  const latin1 = bytes.toString("latin1");
  if (/^[\x20-\x7e\t]*$/.test(latin1)) return latin1;
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const length = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    let valid = length > 0 && i + length <= bytes.length;
    for (let k = 1; valid && k < length; k++) valid = (bytes[i + k]! & 0xc0) === 0x80;
    // Refuse overlong forms and UTF-16 surrogates, which decoders would turn into U+FFFD.
    const second = bytes[i + 1] ?? 0;
    if (
      valid &&
      ((b === 0xe0 && second < 0xa0) || (b === 0xed && second > 0x9f) || (b === 0xf0 && second < 0x90) || (b === 0xf4 && second > 0x8f))
    )
      valid = false;
    if (!valid) {
      onEscaped?.("invalid-utf8");
      out += `\\x${b.toString(16).padStart(2, "0")}`;
      i++;
      continue;
    }
    const char = bytes.toString("utf8", i, i + length);
    const code = char.codePointAt(0)!;
    const unsafe = unsafeKind(code);
    if (unsafe) {
      onEscaped?.(unsafe);
      out += visibleEscape(code);
    } else out += char;
    i += length;
  }
  return out;
}

export function formatLogLine(line: RelayedLine): string {
  return `[+${(line.elapsedMs / 1000).toFixed(3)}s ${line.stream}] ${line.text}`;
}

/** A line as shown live to a person: progress reports rendered, everything else as saved. */
export function formatLiveLine(line: RelayedLine): string {
  return formatLogLine(line.progressText ? { ...line, text: line.progressText } : line);
}

/**
 * The run's saved log. Writes each relayed line as it comes, up to a byte cap; after the cap it writes
 * one notice and counts the rest, so a flood cannot fill the host disk.
 */
export class LogFile {
  lines = 0;
  bytes = 0;
  truncated = false;
  private readonly tailLines: string[] = [];
  private readonly out: WriteStream;

  constructor(
    readonly path: string,
    private readonly maxBytes: number,
    private readonly tailSize = 20,
  ) {
    this.out = createWriteStream(path, { flags: "wx", mode: 0o644 });
  }

  write(line: RelayedLine): void {
    const text = formatLogLine(line);
    this.lines++;
    this.tailLines.push(text.length > 2000 ? `${text.slice(0, 2000)}… (${text.length} characters)` : text);
    if (this.tailLines.length > this.tailSize) this.tailLines.shift();
    if (this.truncated) return;
    const size = Buffer.byteLength(text) + 1;
    if (this.bytes + size > this.maxBytes) {
      this.truncated = true;
      this.out.write(
        `[crucible] log truncated: the saved log reached its cap of ${this.maxBytes} bytes; later lines were counted but not saved\n`,
      );
      return;
    }
    this.bytes += size;
    this.out.write(`${text}\n`);
  }

  get tail(): string[] {
    return [...this.tailLines];
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  }
}
