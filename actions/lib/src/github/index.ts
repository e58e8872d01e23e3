// The GitHub entry: the GitOps loop (gitops/: plans, evaluations, requests, commands, results branches) and
// the GitHub side it talks to, plain TypeScript over @octokit/rest with no @actions/*, so the CLI could use
// it too. No dockerode: the actions that only talk to GitHub import this entry and the core one.
export * from "./artifacts.js";
export * from "./client.js";
export * from "./comment.js";
export * from "./commit.js";
export * from "./evaluation-comment.js";
export * from "./markdown.js";
export * from "./record.js";
export * from "./runs.js";
export * from "./status.js";
export * from "../gitops/commands.js";
export * from "../gitops/evaluation.js";
export * from "../gitops/git.js";
export * from "../gitops/history.js";
export * from "../gitops/plan.js";
export * from "../gitops/request.js";
export * from "../gitops/results-branch.js";
export * from "../gitops/templates.js";
export * from "../gitops/trigger.js";
