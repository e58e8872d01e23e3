// A local stand-in for api.github.com: just the endpoints the record action uses, with an in-memory git
// object store hashed like real git, and every request and response checked against GitHub's own
// OpenAPI description (@octokit/openapi). Tests assert `violations` is empty.
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { Ajv, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";

// ---------------------------------------------------------------------------------------------------
// The contract: GitHub's OpenAPI 3.0 description
// ---------------------------------------------------------------------------------------------------

type Json = Record<string, any>;

interface Parameter {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  required?: boolean;
  schema?: Json;
  "x-multi-segment"?: boolean;
}

interface Route {
  template: string;
  pattern: RegExp;
  names: string[];
  literalLength: number;
}

export interface MatchedOperation {
  operationId: string;
  template: string;
  method: string;
  path: Record<string, string>;
  query: Record<string, unknown>;
}

const SPEC_ID = "github-openapi";

/** Resolves paths to operations and validates parameters and bodies, $refs included, with ajv. */
class OpenApiContract {
  private readonly spec: Json;
  private readonly routes: Route[];
  private readonly ajv: Ajv;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(spec: Json) {
    this.spec = spec;
    this.ajv = new Ajv({ strict: false, allErrors: true, logger: false });
    addFormats.default(this.ajv);
    // Components are registered under an id; inline schemas get their "#/components/…" refs rewritten to it.
    this.ajv.addSchema({ $id: SPEC_ID, components: spec.components });
    this.routes = Object.entries(spec.paths as Json).map(([template, item]) => {
      const multiSegment = new Set<string>();
      for (const op of Object.values(item as Json)) {
        for (const p of this.parameters((op as Json).parameters)) if (p["x-multi-segment"]) multiSegment.add(p.name);
      }
      const names: string[] = [];
      const source = template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{([^}]+)\}/g, (_, name: string) => {
        names.push(name);
        return multiSegment.has(name) ? "(.+)" : "([^/]+)";
      });
      return { template, pattern: new RegExp(`^${source}$`), names, literalLength: template.replace(/\{[^}]+\}/g, "").length };
    });
  }

  /** The operation a request addresses, and everything about the request that the description does not allow. */
  checkRequest(method: string, pathname: string, search: URLSearchParams, body: unknown): { operation?: MatchedOperation; violations: string[] } {
    const where = `${method} ${pathname}`;
    const candidates = this.routes
      .map((route) => ({ route, match: route.pattern.exec(pathname) }))
      .filter((c) => c.match && this.spec.paths[c.route.template][method.toLowerCase()])
      .sort((a, b) => b.route.literalLength - a.route.literalLength);
    const best = candidates[0];
    if (!best) return { violations: [`${where}: no such operation in GitHub's OpenAPI description`] };
    const { route, match } = best;
    const op = this.spec.paths[route.template][method.toLowerCase()] as Json;
    const violations: string[] = [];
    const operation: MatchedOperation = { operationId: op.operationId, template: route.template, method, path: {}, query: {} };
    const label = `${op.operationId} request`;

    const parameters = this.parameters(op.parameters);
    route.names.forEach((name, i) => (operation.path[name] = decodeURIComponent(match![i + 1]!)));
    for (const p of parameters.filter((p) => p.in === "path")) {
      violations.push(...this.validate(p.schema ?? {}, coerce(operation.path[p.name], p.schema), `${label} path parameter ${p.name}`));
    }
    for (const [name, raw] of search) {
      const p = parameters.find((q) => q.in === "query" && q.name === name);
      if (!p) {
        violations.push(`${label}: query parameter ${name} is not in the description`);
        continue;
      }
      operation.query[name] = coerce(raw, p.schema);
      violations.push(...this.validate(p.schema ?? {}, operation.query[name], `${label} query parameter ${name}`));
    }
    for (const p of parameters.filter((q) => q.in === "query" && q.required && !search.has(q.name))) violations.push(`${label}: required query parameter ${p.name} is missing`);

    const requestBody = op.requestBody ? this.deref(op.requestBody) : undefined;
    const schema = requestBody?.content?.["application/json"]?.schema as Json | undefined;
    if (body === undefined) {
      if (requestBody?.required) violations.push(`${label}: the body is required`);
    } else if (!schema) {
      violations.push(`${label}: the operation takes no JSON body`);
    } else {
      violations.push(...this.validate(schema, body, `${label} body`));
      // The description allows unknown keys; a key it does not name is still a client bug (a typo, a wrong API).
      const known = this.deref(schema).properties as Json | undefined;
      if (known && body && typeof body === "object") {
        for (const key of Object.keys(body)) if (!(key in known)) violations.push(`${label} body: unknown key ${key}`);
      }
    }
    return { operation, violations };
  }

  /** Everything about a response that the description does not allow for this operation. */
  checkResponse(operation: MatchedOperation, status: number, body: unknown): string[] {
    const op = this.spec.paths[operation.template][operation.method.toLowerCase()] as Json;
    const label = `${operation.operationId} response ${status}`;
    const declared = op.responses[String(status)] ?? op.responses.default;
    if (!declared) return [`${label}: status ${status} is not documented for this operation`];
    const schema = this.deref(declared).content?.["application/json"]?.schema as Json | undefined;
    if (!schema) return body === undefined ? [] : [`${label}: the description has no body for this status`];
    return this.validate(schema, body, label);
  }

  private validate(schema: Json, value: unknown, label: string): string[] {
    const key = JSON.stringify(schema);
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile(JSON.parse(key.replaceAll('"$ref":"#/components/', `"$ref":"${SPEC_ID}#/components/`)));
      this.compiled.set(key, validate);
    }
    if (validate(value)) return [];
    return (validate.errors ?? []).map((e) => `${label}: ${e.instancePath || "(top level)"} ${e.message ?? "is invalid"} ${JSON.stringify(e.params)}`);
  }

  private parameters(list: unknown): Parameter[] {
    return ((list as Json[] | undefined) ?? []).map((p) => this.deref(p) as Parameter);
  }

  /** Follows a local "#/components/…" $ref (parameters, request bodies, responses, schemas). */
  private deref(value: Json): Json {
    let current = value;
    while (typeof current?.$ref === "string") {
      current = (current.$ref as string)
        .slice(2)
        .split("/")
        .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
        .reduce((node: Json, key) => node[key], this.spec);
    }
    return current;
  }
}

/** Query and path values arrive as strings; the description types some as integers or booleans. */
function coerce(raw: string | undefined, schema: Json | undefined): unknown {
  if (raw === undefined) return raw;
  if ((schema?.type === "integer" || schema?.type === "number") && /^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  if (schema?.type === "boolean" && (raw === "true" || raw === "false")) return raw === "true";
  return raw;
}

let contract: OpenApiContract | undefined;

/** Loaded once per test process: the description is about 10 MB of JSON. */
function githubContract(): OpenApiContract {
  contract ??= new OpenApiContract(createRequire(import.meta.url)("@octokit/openapi/generated/api.github.com.json"));
  return contract;
}

// ---------------------------------------------------------------------------------------------------
// Git objects, hashed exactly as git hashes them
// ---------------------------------------------------------------------------------------------------

interface TreeEntry {
  name: string;
  mode: string;
  type: "blob" | "tree";
  sha: string;
}

interface Person {
  name: string;
  email: string;
  date: string;
}

export interface FakeCommit {
  sha: string;
  tree: string;
  parents: string[];
  message: string;
  author: Person;
  committer: Person;
}

function gitHash(type: string, content: Buffer): string {
  return createHash("sha1").update(`${type} ${content.length}\0`).update(content).digest("hex");
}

class GitStore {
  readonly blobs = new Map<string, Buffer>();
  readonly trees = new Map<string, TreeEntry[]>();
  readonly commits = new Map<string, FakeCommit>();

  putBlob(content: Buffer): string {
    const sha = gitHash("blob", content);
    this.blobs.set(sha, content);
    return sha;
  }

  putTree(entries: TreeEntry[]): string {
    // git sorts entries by name, comparing a tree's name as if it ended with "/".
    const key = (e: TreeEntry) => (e.type === "tree" ? `${e.name}/` : e.name);
    const sorted = [...entries].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    const body = Buffer.concat(sorted.map((e) => Buffer.concat([Buffer.from(`${e.mode.replace(/^0/, "")} ${e.name}\0`), Buffer.from(e.sha, "hex")])));
    const sha = gitHash("tree", body);
    this.trees.set(sha, sorted);
    return sha;
  }

  putCommit(commit: Omit<FakeCommit, "sha">): FakeCommit {
    const stamp = (p: Person) => `${p.name} <${p.email}> ${Math.floor(Date.parse(p.date) / 1000)} +0000`;
    const text = [`tree ${commit.tree}`, ...commit.parents.map((p) => `parent ${p}`), `author ${stamp(commit.author)}`, `committer ${stamp(commit.committer)}`, "", commit.message].join("\n");
    const stored = { ...commit, sha: gitHash("commit", Buffer.from(text)) };
    this.commits.set(stored.sha, stored);
    return stored;
  }

  /** path → blob sha for every file under a tree. */
  flatten(treeSha: string, prefix = ""): Map<string, string> {
    const files = new Map<string, string>();
    for (const entry of this.trees.get(treeSha) ?? []) {
      if (entry.type === "tree") for (const [p, sha] of this.flatten(entry.sha, `${prefix}${entry.name}/`)) files.set(p, sha);
      else files.set(`${prefix}${entry.name}`, entry.sha);
    }
    return files;
  }

  /** Builds nested trees from path → blob sha and returns the root tree's sha. */
  buildTree(files: Map<string, string>): string {
    const blobs: TreeEntry[] = [];
    const dirs = new Map<string, Map<string, string>>();
    for (const [p, sha] of files) {
      const slash = p.indexOf("/");
      if (slash < 0) blobs.push({ name: p, mode: "100644", type: "blob", sha });
      else {
        const dir = p.slice(0, slash);
        if (!dirs.has(dir)) dirs.set(dir, new Map());
        dirs.get(dir)!.set(p.slice(slash + 1), sha);
      }
    }
    const trees = [...dirs].map(([name, inner]): TreeEntry => ({ name, mode: "040000", type: "tree", sha: this.buildTree(inner) }));
    return this.putTree([...blobs, ...trees]);
  }

  isAncestor(ancestor: string, of: string): boolean {
    const queue = [of];
    const seen = new Set<string>();
    while (queue.length > 0) {
      const sha = queue.pop()!;
      if (sha === ancestor) return true;
      if (seen.has(sha)) continue;
      seen.add(sha);
      queue.push(...(this.commits.get(sha)?.parents ?? []));
    }
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------------

export interface RecordedRequest {
  method: string;
  path: string;
  operationId?: string;
  body?: unknown;
  status: number;
}

export interface FakeComment {
  id: number;
  issueNumber: number;
  body: string;
  login: string;
  createdAt: string;
  updatedAt: string;
}

export interface FakeStatus {
  sha: string;
  state: string;
  context: string;
  description: string | null;
  targetUrl: string | null;
}

export interface FakeGitHubOptions {
  owner: string;
  repo: string;
  token: string;
  /** Branch name → its files; each branch starts with one commit holding them. */
  branches: Record<string, Record<string, string>>;
}

const DOCS = "https://docs.github.com/rest";
const BOT = "github-actions[bot]";

export class FakeGitHub {
  readonly requests: RecordedRequest[] = [];
  /** Every way a request or a response strayed from GitHub's OpenAPI description. */
  readonly violations: string[] = [];
  readonly comments: FakeComment[] = [];
  readonly statuses: FakeStatus[] = [];
  readonly git = new GitStore();
  readonly refs = new Map<string, string>();
  url = "";
  private readonly server = createServer((req, res) => void this.handle(req, res));
  private readonly contract = githubContract();
  private pendingPush?: { branch: string; files: Record<string, string> };
  private nextId = 1000;

  private constructor(private readonly options: FakeGitHubOptions) {
    for (const [branch, files] of Object.entries(options.branches)) {
      const tree = this.git.buildTree(new Map(Object.entries(files).map(([p, c]) => [p, this.git.putBlob(Buffer.from(c))])));
      this.refs.set(`heads/${branch}`, this.commitOf(tree, [], "Initial commit").sha);
    }
  }

  static async start(options: FakeGitHubOptions): Promise<FakeGitHub> {
    const fake = new FakeGitHub(options);
    await new Promise<void>((resolve) => fake.server.listen(0, "127.0.0.1", resolve));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  head(branch: string): string {
    return this.refs.get(`heads/${branch}`)!;
  }

  commit(sha: string): FakeCommit {
    return this.git.commits.get(sha)!;
  }

  /** path → content of every file in a commit. */
  files(commitSha: string): Map<string, string> {
    const files = new Map<string, string>();
    for (const [p, sha] of this.git.flatten(this.commit(commitSha).tree)) files.set(p, this.git.blobs.get(sha)!.toString("utf8"));
    return files;
  }

  addComment(issueNumber: number, body: string, login = "someone"): void {
    const now = new Date().toISOString();
    this.comments.push({ id: this.nextId++, issueNumber, body, login, createdAt: now, updatedAt: now });
  }

  /** Someone else pushes these files to the branch just before the next ref update, which then is not a fast forward. */
  pushBeforeNextUpdate(branch: string, files: Record<string, string>): void {
    this.pendingPush = { branch, files };
  }

  private commitOf(tree: string, parents: string[], message: string, person?: Partial<Person>): FakeCommit {
    const who: Person = { name: person?.name ?? "GitHub", email: person?.email ?? "noreply@github.com", date: person?.date ?? new Date().toISOString() };
    return this.git.putCommit({ tree, parents, message, author: who, committer: who });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const record: RecordedRequest = { method: req.method ?? "GET", path: `${url.pathname}${url.search}`, status: 0 };
    this.requests.push(record);
    let body: unknown;
    if (raw !== "") {
      try {
        body = record.body = JSON.parse(raw);
      } catch {
        this.violations.push(`${record.method} ${record.path}: the body is not JSON`);
        return this.send(res, record, undefined, 400, { message: "Problems parsing JSON", documentation_url: DOCS });
      }
    }
    const { operation, violations } = this.contract.checkRequest(record.method, url.pathname, url.searchParams, body);
    this.violations.push(...violations);
    if (!operation) return this.send(res, record, undefined, 404, { message: "Not Found", documentation_url: DOCS });
    record.operationId = operation.operationId;
    if (req.headers.authorization !== `token ${this.options.token}` && req.headers.authorization !== `Bearer ${this.options.token}`) {
      return this.send(res, record, operation, 401, { message: "Bad credentials", documentation_url: DOCS, status: "401" });
    }
    const { owner, repo } = operation.path;
    if (owner !== this.options.owner || repo !== this.options.repo) return this.send(res, record, operation, 404, { message: "Not Found", documentation_url: DOCS, status: "404" });
    const [status, response, headers] = this.respond(operation, (body ?? {}) as Json);
    this.send(res, record, operation, status, response, headers);
  }

  private send(res: ServerResponse, record: RecordedRequest, operation: MatchedOperation | undefined, status: number, body: unknown, headers: Record<string, string> = {}): void {
    record.status = status;
    if (operation) this.violations.push(...this.contract.checkResponse(operation, status, body));
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  }

  private respond(op: MatchedOperation, body: Json): [number, unknown, Record<string, string>?] {
    const api = `${this.url}/repos/${this.options.owner}/${this.options.repo}`;
    const notFound: [number, unknown] = [404, { message: "Not Found", documentation_url: DOCS, status: "404" }];
    const invalid = (message: string): [number, unknown] => [422, { message, documentation_url: DOCS, status: "422" }];
    switch (op.operationId) {
      case "git/get-ref": {
        const sha = this.refs.get(op.path.ref!);
        return sha ? [200, this.refJson(op.path.ref!, sha)] : notFound;
      }
      case "git/update-ref": {
        const ref = op.path.ref!;
        const current = this.refs.get(ref);
        if (!current) return invalid("Reference does not exist");
        if (this.pendingPush && `heads/${this.pendingPush.branch}` === ref) this.applyPendingPush();
        if (!this.git.commits.has(body.sha)) return invalid("Object does not exist");
        if (!body.force && !this.git.isAncestor(this.refs.get(ref)!, body.sha)) {
          return [422, { message: "Update is not a fast forward", documentation_url: `${DOCS}/git/refs#update-a-reference`, status: "422" }];
        }
        this.refs.set(ref, body.sha);
        return [200, this.refJson(ref, body.sha)];
      }
      case "git/create-blob": {
        const content = Buffer.from(body.content, body.encoding === "base64" ? "base64" : "utf8");
        const sha = this.git.putBlob(content);
        return [201, { url: `${api}/git/blobs/${sha}`, sha }, { location: `${api}/git/blobs/${sha}` }];
      }
      case "git/create-tree": {
        if (body.base_tree && !this.git.trees.has(body.base_tree)) return invalid("base_tree is not a valid tree oid");
        const files = body.base_tree ? this.git.flatten(body.base_tree) : new Map<string, string>();
        for (const entry of body.tree as Json[]) {
          if (entry.type !== "blob" || !this.git.blobs.has(entry.sha)) return invalid(`tree.sha ${entry.sha} is not a valid blob`);
          files.set(entry.path, entry.sha);
        }
        const sha = this.git.buildTree(files);
        return [201, this.treeJson(sha)];
      }
      case "git/get-commit": {
        const commit = this.git.commits.get(op.path.commit_sha!);
        return commit ? [200, this.commitJson(commit)] : notFound;
      }
      case "git/create-commit": {
        if (!this.git.trees.has(body.tree)) return invalid("Tree SHA does not exist");
        const parents: string[] = body.parents ?? [];
        if (parents.some((p) => !this.git.commits.has(p))) return invalid("Parent SHA does not exist or is not a commit object");
        const commit = this.commitOf(body.tree, parents, body.message, body.author);
        return [201, this.commitJson(commit), { location: `${api}/git/commits/${commit.sha}` }];
      }
      case "issues/list-comments": {
        const perPage = Number(op.query.per_page ?? 30);
        const page = Number(op.query.page ?? 1);
        const all = this.comments.filter((c) => c.issueNumber === Number(op.path.issue_number));
        const pages = Math.max(1, Math.ceil(all.length / perPage));
        const links: Record<string, string> = page < pages ? { link: `<${api}/issues/${op.path.issue_number}/comments?per_page=${perPage}&page=${page + 1}>; rel="next"` } : {};
        return [200, all.slice((page - 1) * perPage, page * perPage).map((c) => this.commentJson(c)), links];
      }
      case "issues/create-comment": {
        this.addComment(Number(op.path.issue_number), body.body, BOT);
        return [201, this.commentJson(this.comments.at(-1)!)];
      }
      case "issues/update-comment": {
        const comment = this.comments.find((c) => c.id === Number(op.path.comment_id));
        if (!comment) return notFound;
        comment.body = body.body;
        comment.updatedAt = new Date().toISOString();
        return [200, this.commentJson(comment)];
      }
      case "repos/create-commit-status": {
        if (!this.git.commits.has(op.path.sha!)) return invalid(`No commit found for SHA: ${op.path.sha}`);
        const status: FakeStatus = { sha: op.path.sha!, state: body.state, context: body.context ?? "default", description: body.description ?? null, targetUrl: body.target_url ?? null };
        this.statuses.push(status);
        return [201, this.statusJson(status)];
      }
      default:
        this.violations.push(`${op.operationId}: exists on GitHub but this fake does not serve it`);
        return notFound;
    }
  }

  private applyPendingPush(): void {
    const { branch, files } = this.pendingPush!;
    this.pendingPush = undefined;
    this.push(branch, files, "A concurrent push");
  }

  /** Someone pushes a commit with these files on top of the branch. */
  push(branch: string, files: Record<string, string>, message = "A push"): void {
    const head = this.head(branch);
    const tree = this.git.flatten(this.commit(head).tree);
    for (const [p, content] of Object.entries(files)) tree.set(p, this.git.putBlob(Buffer.from(content)));
    this.refs.set(`heads/${branch}`, this.commitOf(this.git.buildTree(tree), [head], message).sha);
  }

  // Response bodies carry every field the description marks as required.

  private refJson(ref: string, sha: string): Json {
    const api = `${this.url}/repos/${this.options.owner}/${this.options.repo}`;
    return { ref: `refs/${ref}`, node_id: nodeId("REF", ref), url: `${api}/git/refs/${ref}`, object: { type: "commit", sha, url: `${api}/git/commits/${sha}` } };
  }

  private treeJson(sha: string): Json {
    const api = `${this.url}/repos/${this.options.owner}/${this.options.repo}`;
    const tree = this.git.trees.get(sha)!.map((e) => ({
      path: e.name,
      mode: e.mode,
      type: e.type,
      sha: e.sha,
      url: `${api}/git/${e.type}s/${e.sha}`,
      ...(e.type === "blob" ? { size: this.git.blobs.get(e.sha)!.length } : {}),
    }));
    return { sha, url: `${api}/git/trees/${sha}`, truncated: false, tree };
  }

  private commitJson(commit: FakeCommit): Json {
    const api = `${this.url}/repos/${this.options.owner}/${this.options.repo}`;
    const html = `https://github.com/${this.options.owner}/${this.options.repo}/commit`;
    return {
      sha: commit.sha,
      node_id: nodeId("C", commit.sha),
      url: `${api}/git/commits/${commit.sha}`,
      html_url: `${html}/${commit.sha}`,
      author: commit.author,
      committer: commit.committer,
      tree: { sha: commit.tree, url: `${api}/git/trees/${commit.tree}` },
      message: commit.message,
      parents: commit.parents.map((p) => ({ sha: p, url: `${api}/git/commits/${p}`, html_url: `${html}/${p}` })),
      verification: { verified: false, reason: "unsigned", signature: null, payload: null, verified_at: null },
    };
  }

  private commentJson(comment: FakeComment): Json {
    const api = `${this.url}/repos/${this.options.owner}/${this.options.repo}`;
    return {
      id: comment.id,
      node_id: nodeId("IC", String(comment.id)),
      url: `${api}/issues/comments/${comment.id}`,
      html_url: `https://github.com/${this.options.owner}/${this.options.repo}/pull/${comment.issueNumber}#issuecomment-${comment.id}`,
      body: comment.body,
      user: this.userJson(comment.login),
      created_at: comment.createdAt,
      updated_at: comment.updatedAt,
      issue_url: `${api}/issues/${comment.issueNumber}`,
      author_association: comment.login === BOT ? "NONE" : "CONTRIBUTOR",
      performed_via_github_app: null,
    };
  }

  private statusJson(status: FakeStatus): Json {
    const now = new Date().toISOString();
    const id = this.nextId++;
    return {
      url: `${this.url}/repos/${this.options.owner}/${this.options.repo}/statuses/${status.sha}`,
      avatar_url: null,
      id,
      node_id: nodeId("SC", String(id)),
      state: status.state,
      description: status.description,
      target_url: status.targetUrl,
      context: status.context,
      created_at: now,
      updated_at: now,
      creator: this.userJson(BOT),
    };
  }

  private userJson(login: string): Json {
    const api = `${this.url}/users/${encodeURIComponent(login)}`;
    return {
      login,
      id: 41898282,
      node_id: nodeId("U", login),
      avatar_url: "https://avatars.githubusercontent.com/in/15368?v=4",
      gravatar_id: "",
      url: api,
      html_url: `https://github.com/apps/${encodeURIComponent(login)}`,
      followers_url: `${api}/followers`,
      following_url: `${api}/following{/other_user}`,
      gists_url: `${api}/gists{/gist_id}`,
      starred_url: `${api}/starred{/owner}{/repo}`,
      subscriptions_url: `${api}/subscriptions`,
      organizations_url: `${api}/orgs`,
      repos_url: `${api}/repos`,
      events_url: `${api}/events{/privacy}`,
      received_events_url: `${api}/received_events`,
      type: login.endsWith("[bot]") ? "Bot" : "User",
      site_admin: false,
    };
  }
}

function nodeId(kind: string, key: string): string {
  return `${kind}_${Buffer.from(key).toString("base64url")}`;
}
