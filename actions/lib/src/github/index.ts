// GitHub side of the loop: plain TypeScript over @octokit/rest, no @actions/*, so the CLI could use it too.
export * from "./artifacts.js";
export * from "./client.js";
export * from "./comment.js";
export * from "./commit.js";
export * from "./evaluation-comment.js";
export * from "./markdown.js";
export * from "./record.js";
export * from "./runs.js";
export * from "./status.js";
