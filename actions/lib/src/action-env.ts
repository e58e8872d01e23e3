// What GitHub Actions tells every action through its environment, read by each action's inputs module.
import { CrucibleError } from "./errors.js";

const REPOSITORY = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

/** GITHUB_REPOSITORY as owner and repo; anything but owner/repo is refused. */
export function githubRepositoryOf(env: NodeJS.ProcessEnv): { owner: string; repo: string } {
  const name = env.GITHUB_REPOSITORY ?? "";
  if (!REPOSITORY.test(name)) throw new CrucibleError(`GITHUB_REPOSITORY must be owner/repo, got ${JSON.stringify(name)}`);
  const [owner, repo] = name.split("/") as [string, string];
  return { owner, repo };
}

/** The REST API the workflow's GitHub serves (GitHub Enterprise Server sets GITHUB_API_URL). */
export function githubApiUrlOf(env: NodeJS.ProcessEnv): string {
  return env.GITHUB_API_URL || "https://api.github.com";
}

/** The job's checkout, against which an action's relative path inputs are resolved. */
export function workspaceOf(env: NodeJS.ProcessEnv): string {
  return env.GITHUB_WORKSPACE || process.cwd();
}
