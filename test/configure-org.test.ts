// runner-setup/configure-org.mjs against the GitHub double: the runner group restricted to one repository
// and to the evaluate workflow on its default branch, a dry run that only reads, a second run that
// changes nothing, a group drifted by hand set right again, and what a user-owned repository gets.
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { FakeGitHub } from "./support/fake-github.js";
import { binDir, repoRoot } from "./support/repo.js";

const script = path.join(repoRoot, "runner-setup/configure-org.mjs");
const LABELS = ["self-hosted", "linux", "gvisor"];
let fake: FakeGitHub | undefined;
afterEach(async () => fake?.close());

async function configureOrg(token: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)(path.join(binDir, "node"), [script, "--org", "octo", "--repo", "lab", ...args], {
    env: { PATH: process.env.PATH, GITHUB_TOKEN: token, GITHUB_API_URL: fake!.url },
  });
}

const writes = () => fake!.requests.filter((r) => r.method !== "GET").map((r) => `${r.operationId} ${r.status}`);

describe("runner-setup/configure-org.mjs", () => {
  it("creates the group for this repository and its evaluate workflow on main; a dry run only reads; again, no change", async () => {
    fake = await FakeGitHub.start({ owner: "octo", repo: "lab", branches: { main: {} }, ownerType: "Organization", private: true });
    const owner = fake.addUser("org-owner", null);
    fake.orgOwners.add("org-owner");

    // Dry run: GET requests only, and the calls it would make, each replayed here against the double.
    const dry = await configureOrg(owner, "--dry-run");
    expect(writes()).toEqual([]);
    const calls = dry.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { method: string; path: string; body: Record<string, unknown> });
    expect(calls).toEqual([
      {
        method: "POST",
        path: "/orgs/octo/actions/runner-groups",
        body: {
          name: "crucible-evaluate",
          visibility: "selected",
          allows_public_repositories: false,
          restricted_to_workflows: true,
          selected_workflows: ["octo/lab/.github/workflows/evaluate.yml@refs/heads/main"],
          selected_repository_ids: [1],
        },
      },
    ]);
    for (const call of calls) {
      const headers = { authorization: `token ${owner}`, "content-type": "application/json" };
      await fetch(`${fake.url}${call.path}`, { method: call.method, headers, body: JSON.stringify(call.body) });
    }
    expect(writes()).toEqual(["actions/create-self-hosted-runner-group-for-org 201"]);
    expect(fake.violations).toEqual([]);

    // The real run now finds everything in place.
    const before = fake.requests.length;
    const again = await configureOrg(owner);
    expect(fake.requests.slice(before).map((r) => r.method)).toEqual(["GET", "GET", "GET"]);
    expect(again.stderr).toContain("configured the runner group crucible-evaluate of octo: only octo/lab, only octo/lab/");

    // What the group now does: an evaluate job on main gets its runners; another workflow or branch does not.
    const group = fake.runners.groups.find((g) => g.name === "crucible-evaluate")!;
    const runner = {
      ...{ id: 1, name: "r", scope: "organization" as const, groupId: group.id, labels: LABELS, workFolder: "_work" },
      ...{ status: "online" as const, busy: false, credential: "", sessionStarted: true },
    };
    const job = (workflowRef: string) => fake!.runners.queueJob({ workflowRef, labels: LABELS });
    expect(fake.runners.whyNot(runner, job("octo/lab/.github/workflows/evaluate.yml@refs/heads/main"))).toBeUndefined();
    expect(fake.runners.whyNot(runner, job("octo/lab/.github/workflows/evaluate.yml@refs/heads/pr-branch"))).toMatch(/restricted to/);
    expect(fake.runners.whyNot(runner, job("octo/lab/.github/workflows/validate.yml@refs/heads/main"))).toMatch(/restricted to/);
    expect(fake.violations).toEqual([]);
  });

  it("sets a group changed by hand right again: restrictions, public repositories, its repository list", async () => {
    const options = { owner: "octo", repo: "lab", branches: { trunk: {} }, defaultBranch: "trunk", ownerType: "Organization" as const };
    fake = await FakeGitHub.start(options);
    const owner = fake.addUser("org-owner", null);
    fake.orgOwners.add("org-owner");
    const base = fake.runners.groups[0]!;
    const drifted = { id: 50, name: "crucible-evaluate", default: false, visibility: "all" as const, repositoryIds: [1, 99] };
    fake.runners.groups.push({ ...base, ...drifted, restrictedToWorkflows: false, selectedWorkflows: [] });
    await configureOrg(owner);
    expect(writes()).toEqual([
      "actions/update-self-hosted-runner-group-for-org 200",
      "actions/set-repo-access-to-self-hosted-runner-group-in-org 204",
    ]);
    expect(fake.runners.groups.find((g) => g.id === 50)).toMatchObject({
      visibility: "selected",
      repositoryIds: [1],
      // A public repository: the group must allow public repositories to serve it at all.
      allowsPublicRepositories: true,
      restrictedToWorkflows: true,
      selectedWorkflows: ["octo/lab/.github/workflows/evaluate.yml@refs/heads/trunk"],
    });
    expect(fake.violations).toEqual([]);
  });

  it("says what a repository of a user account gets instead, and refuses a token that is not an organisation owner's", async () => {
    fake = await FakeGitHub.start({ owner: "octo", repo: "lab", token: "admin", branches: { main: {} } });
    const userAccount = expect.stringContaining("octo is a user account, not an organisation: runner groups are an organisation feature");
    await expect(configureOrg("admin")).rejects.toMatchObject({ stderr: userAccount });
    await fake.close();

    fake = await FakeGitHub.start({ owner: "octo", repo: "lab", token: "admin", branches: { main: {} }, ownerType: "Organization" });
    await expect(configureOrg("admin")).rejects.toMatchObject({ stderr: expect.stringContaining("organization owner") });
    expect(fake.runners.groups.map((g) => g.name)).toEqual(["Default"]);
  });
});
