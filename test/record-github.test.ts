// The GitHub client layer on its own: the evaluation comment, escaping, request retries and commit retries.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { commitFiles, createGitHubClient, escapeMarkdown, renderEvaluationComment, safeUrl } from "../actions/lib/src/github/index.js";
import { evaluationPlan } from "./support/plan.js";
import type { RunResult } from "../actions/lib/src/index.js";
import { FakeGitHub } from "./support/fake-github.js";
import { repoRoot } from "./support/repo.js";

async function helloResult(): Promise<RunResult> {
  const dir = path.join(repoRoot, "experiments/hello-sandbox/results");
  const [runId] = await readdir(dir);
  return JSON.parse(await readFile(path.join(dir, runId!, "result.json"), "utf8"));
}

const PLAN = evaluationPlan({ pullRequest: 3 });

function tableRows(markdown: string): string[] {
  return markdown.split("\n").filter((line) => line.startsWith("| ") && !line.startsWith("| ---") && !line.startsWith("| Experiment"));
}

describe("the evaluation comment", () => {
  it("shows the reviewer, before approval, the behaviours each experiment declares (they will not be alerted on)", () => {
    const entry = (dir: string, behaviours?: string[]) => ({
      experiment: `${dir}/experiment.yaml`,
      dir,
      name: path.basename(dir),
      gpus: 0,
      "runs-on": ["self-hosted", "linux", "gvisor"],
      artifact: path.basename(dir),
      image: "base",
      resources: { cpus: 1, memory: "256Mi", timeout: "60s" },
      stages: 0,
      ...(behaviours ? { behaviours } : {}),
      estimate: { minutes: 1, basis: "timeout" as const },
    });
    const markdown = renderEvaluationComment({
      kind: "plan",
      plan: evaluationPlan({ experiments: [entry("experiments/hello-sandbox", ["network-probe"]), entry("experiments/quiet")] }),
    });
    const [declaring, quiet] = tableRows(markdown);
    expect(declaring).toContain(`<br><sub>declares: ${escapeMarkdown("network-probe")}</sub>`);
    expect(quiet).not.toContain("declares");
  });

  it("shows each run's status, headline metrics against the default branch's latest run, and links", async () => {
    const hello = await helloResult();
    const withJob: RunResult = {
      ...hello,
      metrics: { ...hello.metrics, steps: 8 },
      experiment: {
        ...hello.experiment,
        headline: [
          { metric: "escapes_blocked", better: "higher" },
          { metric: "steps", better: "lower" },
        ],
      },
      provenance: {
        ...hello.provenance,
        jobUrl: "https://github.com/octo/lab/actions/runs/1/job/2",
        approvals: [{ reviewer: "reviewer", state: "approved", at: "2026-11-22T03:30:00Z" }],
      },
    };
    const markdown = renderEvaluationComment({
      kind: "results",
      plan: PLAN,
      rows: [
        { result: withJob, baseline: hello },
        { result: { ...hello, status: "timed-out", metrics: { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6 } } },
      ],
      dropped: [],
      recordedIn: "c".repeat(40),
    });
    expect(markdown).toContain("### Crucible evaluation: 1 of 2 runs succeeded");
    expect(markdown).toContain("approved by reviewer (2026-11-22 03:30:00 UTC)");
    const [first, second] = tableRows(markdown);
    expect(first).toContain("✅ succeeded");
    expect(first).toContain("escapes&#95;blocked = 5 (＝ 5)<br>steps = 8 (▲ +3 vs 5, worse)<br>+1 more");
    expect(first).toContain('<a href="https://github.com/octo/lab/actions/runs/1/job/2">job log</a>');
    expect(first).toContain(`<a href="https://example.org/site/runs/hello-sandbox/${hello.runId}/">report</a>`);
    expect(second).toContain("⏱️ timed-out");
    expect(second).toContain("a = 1<br>b = 2<br>c = 3<br>d = 4<br>+2 more");
    expect(second).not.toContain("job log");
  });

  it("keeps hostile text inert: no HTML, no links, no cell breaks, no mentions", async () => {
    const hello = await helloResult();
    const markdown = renderEvaluationComment({
      kind: "results",
      plan: PLAN,
      rows: [
        {
          result: {
            ...hello,
            status: "failed",
            statusReason:
              "a | b `c` <script>alert(1)</script> [x](https://evil.example) ![i](https://evil.example/i.png) " +
              "@admin $x$\n| injected | row |",
            metrics: { "</td><img src=x onerror=alert(1)>": 1, "|": 2 },
            provenance: { ...hello.provenance, jobUrl: 'https://ok.example/" onmouseover="alert(1)' },
          },
        },
      ],
      dropped: [{ path: "result-x/`evil`|<b>", reason: "[x](javascript:1)" }],
    });
    const rows = tableRows(markdown);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.split("|")).toHaveLength(6);
    expect(markdown).not.toMatch(/<script|<img|<\/td>|<b>|\]\(|`evil|@admin|\$x\$/);
    expect(markdown).toContain('href="https://ok.example/%22%20onmouseover=%22alert&#40;1&#41;"');
  });

  it("caps the rows so the comment stays far below GitHub's size limit", async () => {
    const hello = await helloResult();
    const markdown = renderEvaluationComment({
      kind: "results",
      plan: PLAN,
      rows: Array.from({ length: 80 }, () => ({ result: { ...hello, statusReason: "x".repeat(5000) } })),
      dropped: [],
    });
    expect(tableRows(markdown)).toHaveLength(50);
    expect(markdown).toContain("…and 30 more runs, not shown.");
    expect(markdown.length).toBeLessThan(65_536);
  });
});

describe("escaping helpers", () => {
  it("escapeMarkdown turns markdown and HTML syntax into entities and flattens lines", () => {
    expect(escapeMarkdown("a|b\n<c>")).toBe("a&#124;b &#60;c&#62;");
    expect(escapeMarkdown("@x")).toBe("&#64;&#8203;x");
  });

  it("safeUrl accepts only http(s)", () => {
    expect(safeUrl("javascript:alert(1)")).toBeNull();
    expect(safeUrl("data:text/html,hi")).toBeNull();
    expect(safeUrl("not a url")).toBeNull();
    expect(safeUrl(null)).toBeNull();
    expect(safeUrl("https://example.org/a")).toBe("https://example.org/a");
  });
});

describe("createGitHubClient", () => {
  let close: (() => void) | undefined;
  afterEach(() => close?.());

  async function serve(statuses: number[]): Promise<{ url: string; hits: () => number }> {
    let hits = 0;
    const server = createServer((_req, res) => {
      const status = statuses[Math.min(hits++, statuses.length - 1)]!;
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(status < 300 ? { ref: "refs/heads/main", object: { sha: "a".repeat(40) } } : { message: "nope" }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    close = () => server.close();
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits };
  }

  it("retries server errors a limited number of times", async () => {
    const server = await serve([502, 503, 200]);
    const octokit = createGitHubClient({ token: "t", baseUrl: server.url, retries: 2, retryDelayMs: 1 });
    const { data } = await octokit.rest.git.getRef({ owner: "o", repo: "r", ref: "heads/main" });
    expect(data.object.sha).toBe("a".repeat(40));
    expect(server.hits()).toBe(3);
  });

  it("gives up after the retries", async () => {
    const server = await serve([500]);
    const octokit = createGitHubClient({ token: "t", baseUrl: server.url, retries: 2, retryDelayMs: 1 });
    await expect(octokit.rest.git.getRef({ owner: "o", repo: "r", ref: "heads/main" })).rejects.toMatchObject({ status: 500 });
    expect(server.hits()).toBe(3);
  });

  it.each([401, 403, 404, 422])("never retries %i", async (status) => {
    const server = await serve([status, 200]);
    const octokit = createGitHubClient({ token: "t", baseUrl: server.url, retryDelayMs: 1 });
    await expect(octokit.rest.git.getRef({ owner: "o", repo: "r", ref: "heads/main" })).rejects.toMatchObject({ status });
    expect(server.hits()).toBe(1);
  });
});

describe("commitFiles", () => {
  it("stops after maxAttempts when the branch keeps moving, and says why", async () => {
    const fake = await FakeGitHub.start({ owner: "o", repo: "r", token: "t", branches: { main: { "a.txt": "a" } } });
    try {
      const octokit = createGitHubClient({ token: "t", baseUrl: fake.url, retryDelayMs: 1 });
      const retries: string[] = [];
      const files = [{ path: "results/x.txt", content: Buffer.from("x") }];
      const onRetry = (message: string) => {
        retries.push(message);
        fake.pushBeforeNextUpdate("main", { [`other-${retries.length}.txt`]: "o" });
      };
      fake.pushBeforeNextUpdate("main", { "other-0.txt": "o" });
      await expect(
        commitFiles(octokit, { owner: "o", repo: "r", branch: "main", files, message: "m", maxAttempts: 3, backoffMs: 1, onRetry }),
      ).rejects.toMatchObject({
        status: 422,
        message: expect.stringContaining("Update is not a fast forward"),
      });
      expect(retries).toHaveLength(2);
      expect(fake.files(fake.head("main")).has("results/x.txt")).toBe(false);
      expect(fake.violations).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it("refuses paths outside an ordinary repository file before calling GitHub", async () => {
    const octokit = createGitHubClient({ token: "t", baseUrl: "http://127.0.0.1:9" });
    for (const bad of ["../x", "/abs", "a//b", ".git/config", "a\\b"]) {
      await expect(
        commitFiles(octokit, { owner: "o", repo: "r", branch: "main", files: [{ path: bad, content: Buffer.from("") }], message: "m" }),
      ).rejects.toThrow(/refusing to commit/);
    }
  });
});
