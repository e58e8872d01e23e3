import { errorMessage, SandboxUnavailableError } from "../errors.js";

/**
 * The host doctor's core: a list of checks, each a small async function over probes, run in order;
 * a check whose prerequisite failed is skipped with the reason. Nothing here touches Docker or the file
 * system itself (docker/host-checks.ts does), so the table, the JSON and the exit code are unit-tested on any host.
 */

export type CheckStatus = "pass" | "warn" | "fail" | "skip";

export interface CheckOutcome {
  status: Exclude<CheckStatus, "skip">;
  /** What was found, one line. */
  result: string;
  /** What to do about it; required for warn and fail. */
  fix?: string;
}

export interface Check<Context> {
  id: string;
  /** Column "check" of the table. */
  title: string;
  /**
   * A failure here means a sandbox on this host might not isolate what it should (or the runtime is
   * not gVisor): runs refuse such a host. Other failures (disk space, images) make runs fail or slow.
   */
  safety: boolean;
  /** Ids of checks that must pass (or warn) first. */
  needs?: string[];
  /** "skip" when the check does not apply to this host (e.g. GPU checks on a CPU-only runner). */
  run(context: Context): Promise<CheckOutcome | { status: "skip"; result: string }>;
}

export interface CheckResult {
  id: string;
  check: string;
  safety: boolean;
  status: CheckStatus;
  result: string;
  fix?: string;
  /** Skipped because a check it needs failed or was itself blocked: what it guards was not shown to hold. */
  blocked?: true;
}

export interface DoctorReport {
  ok: boolean;
  checks: CheckResult[];
}

export async function runChecks<Context>(
  checks: Check<Context>[],
  context: Context,
  onResult?: (result: CheckResult) => void,
): Promise<DoctorReport> {
  const results: CheckResult[] = [];
  const byId = new Map<string, CheckResult>();
  for (const check of checks) {
    // A prerequisite that does not apply here (skipped, not blocked) does not block: the check decides itself.
    const blocked = (check.needs ?? [])
      .map((id) => ({ id, need: byId.get(id) }))
      .find(({ need }) => !need || need.status === "fail" || need.blocked);
    let outcome: CheckOutcome | { status: "skip"; result: string; fix?: string };
    if (blocked) {
      outcome = { status: "skip", result: `not checked: "${blocked.need?.check ?? blocked.id}" did not pass` };
    } else {
      try {
        outcome = await check.run(context);
      } catch (error) {
        outcome = {
          status: "fail",
          result: `the check itself failed: ${errorMessage(error)}`,
          fix: "see the message; run `crucible doctor` again once it is fixed",
        };
      }
    }
    const result: CheckResult = {
      id: check.id,
      check: check.title,
      safety: check.safety,
      status: outcome.status,
      result: outcome.result,
      ...(outcome.fix ? { fix: outcome.fix } : {}),
      ...(blocked ? { blocked: true as const } : {}),
    };
    results.push(result);
    byId.set(check.id, result);
    onResult?.(result);
  }
  // A skipped safety check is not a pass: what it guards was not shown to hold.
  const ok = results.every((r) => r.status !== "fail" && !(r.safety && r.blocked));
  return { ok, checks: results };
}

/** Failed safety checks, and safety checks that could not run because a prerequisite failed. */
export function safetyFailures(report: DoctorReport): CheckResult[] {
  return report.checks.filter((r) => r.safety && (r.status === "fail" || r.blocked));
}

/** The message a run refuses an unfit host with: the same rows the doctor prints. */
export function refusalMessage(report: DoctorReport): string {
  const rows = safetyFailures(report);
  if (rows.length === 0) return "";
  const lines = rows.filter((r) => r.status === "fail").map((r) => `${r.check}: ${r.result}${r.fix ? ` — fix: ${r.fix}` : ""}`);
  return (
    "this host failed the host doctor's safety checks, so nothing runs on it (no fallback to an unsandboxed runtime):\n" +
    `  ${lines.join("\n  ")}\nRun \`npx crucible doctor\` for the full report.`
  );
}

export function doctorExitCode(report: DoctorReport): number {
  return report.ok ? 0 : 1;
}

const MARK: Record<CheckStatus, string> = { pass: "ok", warn: "WARN", fail: "FAIL", skip: "skip" };

/** The report as a plain-text table (check, result, how to fix), wrapped for a terminal or a job log. */
export function formatTable(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((r) => r.check.length), "check".length);
  const lines = [`${"".padEnd(4)}  ${"check".padEnd(width)}  result / how to fix`];
  for (const r of report.checks) {
    lines.push(`${MARK[r.status].padEnd(4)}  ${r.check.padEnd(width)}  ${r.result}`);
    if (r.fix && r.status !== "pass") lines.push(`${"".padEnd(4)}  ${"".padEnd(width)}  fix: ${r.fix}`);
  }
  const counts = (["pass", "warn", "fail", "skip"] as const).map(
    (s) =>
      `${report.checks.filter((r) => r.status === s).length} ` +
      `${s === "pass" ? "passed" : s === "warn" ? "warning(s)" : s === "fail" ? "failed" : "skipped"}`,
  );
  lines.push("", `${report.ok ? "host is fit" : "host is NOT fit"}: ${counts.join(", ")}`);
  return lines.join("\n");
}

/** A run refused because the host failed a safety-relevant doctor check; the message lists the rows. */
export class HostUnfitError extends SandboxUnavailableError {
  override name = "HostUnfitError";
  constructor(readonly report: DoctorReport) {
    super(refusalMessage(report));
  }
}
