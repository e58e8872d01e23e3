/** Where in a source file a problem was found (1-based line and column). */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

export interface Issue extends SourceLocation {
  message: string;
}

export function formatIssue(issue: Issue): string {
  return `${issue.file}:${issue.line}:${issue.column}: ${issue.message}`;
}

/** Base class for errors a user can act on: the message says what went wrong and what to do. */
export class CrucibleError extends Error {
  override name = "CrucibleError";
}

/** An experiment file is not valid; every problem found is listed with its location. */
export class ExperimentInvalidError extends CrucibleError {
  override name = "ExperimentInvalidError";
  constructor(readonly issues: Issue[]) {
    super(issues.map(formatIssue).join("\n"));
  }
}

/** The sandbox cannot be provided at all (daemon down, runtime missing, image missing). The program never ran. */
export class SandboxUnavailableError extends CrucibleError {
  override name = "SandboxUnavailableError";
}

/** The sandbox runtime failed while starting or running the program. */
export class SandboxStartError extends CrucibleError {
  override name = "SandboxStartError";
}

/** The runner's policy refuses what the experiment asks for. */
export class PolicyRejectedError extends CrucibleError {
  override name = "PolicyRejectedError";
}

/** The message of anything thrown: an Error's message, otherwise its text. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
