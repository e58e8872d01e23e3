// Pull-request comment commands: `/crucible rerun <experiment>` and `/crucible cancel`. Anyone can write a
// comment, so the commenter's permission is read from the collaborators API (author_association says how
// someone is related to the repository, not what they may do). A command from someone with write access
// is acknowledged with a reaction and becomes a workflow_dispatch of the evaluate workflow, which plans,
// asks for approval and runs it like any evaluation; anyone else gets a polite reply and nothing happens.
import type { GitHubClient } from "../github/client.js";
import { escapeMarkdown } from "../github/markdown.js";

export type Command = { kind: "rerun"; experiment: string } | { kind: "cancel" } | { kind: "help"; problem?: string };

const PREFIX = "/crucible";
const FOLDER = /^experiments\/[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

/** The command in a comment's first line, or undefined when the comment is not a command. */
export function parseCommand(body: string): Command | undefined {
  const line = body.split(/\r?\n/, 1)[0]!.trim();
  if (line !== PREFIX && !line.startsWith(`${PREFIX} `)) return undefined;
  const [verb, ...args] = line.slice(PREFIX.length).trim().split(/\s+/).filter(Boolean);
  if (verb === "cancel" && args.length === 0) return { kind: "cancel" };
  if (verb === "rerun" && args.length === 1) {
    const arg = args[0]!.replace(/\/+$/, "");
    const folder = arg.startsWith("experiments/") ? arg : `experiments/${arg}`;
    if (FOLDER.test(folder) && !folder.split("/").some((p) => p === "." || p === "..")) return { kind: "rerun", experiment: folder };
    return { kind: "help", problem: `${JSON.stringify(args[0])} is not an experiment folder` };
  }
  return { kind: "help", problem: verb ? `unknown command ${JSON.stringify([verb, ...args].join(" "))}` : undefined };
}

export interface CommentEvent {
  issue?: { number?: number; pull_request?: unknown };
  comment?: { id?: number; body?: string; user?: { login?: string; type?: string } };
}

export interface CommandOptions {
  owner: string;
  repo: string;
  event: CommentEvent;
  /** The branch the evaluate workflow is dispatched on (the default branch). */
  ref: string;
  workflow: string;
  info?: (message: string) => void;
}

export type CommandOutcome =
  | { kind: "ignored"; reason: string }
  | { kind: "refused"; login: string; permission: string }
  | { kind: "dispatched"; command: Command; runUrl?: string }
  | { kind: "help" };

const WRITE = new Set(["admin", "write"]);

export async function handleCommand(octokit: GitHubClient, options: CommandOptions): Promise<CommandOutcome> {
  const { owner, repo, event } = options;
  const number = event.issue?.number;
  const comment = event.comment;
  if (!event.issue?.pull_request || !number || !comment?.id) return { kind: "ignored", reason: "not a comment on a pull request" };
  const command = parseCommand(comment.body ?? "");
  if (!command) return { kind: "ignored", reason: "not a /crucible command" };
  const login = comment.user?.login ?? "";
  if (comment.user?.type === "Bot") return { kind: "ignored", reason: "commands from bots are not taken" };
  const reply = (body: string) => octokit.rest.issues.createComment({ owner, repo, issue_number: number, body });

  const { data: level } = await octokit.rest.repos.getCollaboratorPermissionLevel({ owner, repo, username: login });
  if (!WRITE.has(level.permission)) {
    await reply(
      `Thank you, ${escapeMarkdown(login)}. \`/crucible\` commands start or stop sandboxed runs, so only people with write ` +
        `access to this repository can use them (your access: ${escapeMarkdown(level.permission)}). A maintainer can run it for you.`,
    );
    return { kind: "refused", login, permission: level.permission };
  }
  if (command.kind === "help") {
    await reply(
      [
        command.problem ? `Sorry, I did not understand that: ${escapeMarkdown(command.problem)}.` : "Crucible commands:",
        "",
        "- `/crucible rerun experiments/<folder>`: plan that experiment again at this pull request's head " +
          "commit (it needs a reviewer's approval, like any evaluation)",
        "- `/crucible cancel`: cancel this pull request's evaluation in progress",
      ].join("\n"),
    );
    return { kind: "help" };
  }
  await octokit.rest.reactions.createForIssueComment({ owner, repo, comment_id: comment.id, content: "rocket" });
  const { data: pr } = await octokit.rest.pulls.get({ owner, repo, pull_number: number });
  const inputs: Record<string, string> = {
    "pull-request": String(number),
    "requested-by": login,
    command: command.kind === "cancel" ? "cancel" : "evaluate",
  };
  if (command.kind === "rerun") Object.assign(inputs, { "head-sha": pr.head.sha, experiment: command.experiment });
  const { data } = await octokit.rest.actions.createWorkflowDispatch({
    owner,
    repo,
    workflow_id: options.workflow,
    ref: options.ref,
    inputs,
    return_run_details: true,
  });
  const runUrl = (data as { html_url?: string } | undefined)?.html_url;
  options.info?.(`${command.kind} of #${number} for ${login}: dispatched ${options.workflow}${runUrl ? ` (${runUrl})` : ""}`);
  return { kind: "dispatched", command, ...(runUrl ? { runUrl } : {}) };
}
