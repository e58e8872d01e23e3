// The repository behind the GitHub double: a real bare git repository. The Git Data API writes objects
// and refs into it with git's own plumbing, so what a workflow fetches with `git fetch` and what the API
// serves are the same objects, hashed by git.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export interface Person {
  name: string;
  email: string;
  date: string;
}

export interface StoredCommit {
  sha: string;
  tree: string;
  parents: string[];
  message: string;
  author: Person;
  committer: Person;
}

export interface StoredTreeEntry {
  name: string;
  mode: string;
  type: "blob" | "tree" | "commit";
  sha: string;
  size?: number;
}

export type FileChange = string | Buffer | null;

export class GitStore {
  constructor(readonly dir: string) {}

  static create(): GitStore {
    const dir = mkdtempSync(path.join(os.tmpdir(), "crucible-github-"));
    execFileSync("git", ["init", "-q", "--bare", "-b", "main", dir]);
    const store = new GitStore(dir);
    // GitHub serves any reachable commit by SHA; workflows fetch planned commits that way.
    store.git(["config", "uploadpack.allowAnySHA1InWant", "true"]);
    return store;
  }

  git(args: string[], options: { input?: string | Buffer; env?: Record<string, string> } = {}): Buffer {
    return execFileSync("git", args, {
      cwd: this.dir,
      input: options.input,
      env: { ...process.env, ...options.env },
      maxBuffer: 512 * 1024 * 1024,
    });
  }

  private text(args: string[], options?: { input?: string | Buffer; env?: Record<string, string> }): string {
    return this.git(args, options).toString("utf8").trim();
  }

  putBlob(content: Buffer): string {
    return this.text(["hash-object", "-w", "--stdin"], { input: content });
  }

  readBlob(sha: string): Buffer | undefined {
    return this.typeOf(sha) === "blob" ? this.git(["cat-file", "blob", sha]) : undefined;
  }

  typeOf(sha: string): string | undefined {
    if (!/^[0-9a-f]{40}$/.test(sha)) return undefined;
    try {
      return this.text(["cat-file", "-t", sha]);
    } catch {
      return undefined;
    }
  }

  /** The entries of one tree (not recursive), blobs with their sizes. */
  tree(sha: string): StoredTreeEntry[] {
    const out = this.git(["ls-tree", "-l", "-z", sha]).toString("utf8");
    return out
      .split("\0")
      .filter(Boolean)
      .map((record) => {
        const tab = record.indexOf("\t");
        const [mode, type, entrySha, size] = record.slice(0, tab).split(/ +/);
        return {
          name: record.slice(tab + 1),
          mode: mode!,
          type: type as StoredTreeEntry["type"],
          sha: entrySha!,
          ...(size !== "-" ? { size: Number(size) } : {}),
        };
      });
  }

  /** path → blob sha and mode, for every file under a tree. */
  flatten(treeSha: string): Map<string, { sha: string; mode: string }> {
    const files = new Map<string, { sha: string; mode: string }>();
    for (const record of this.git(["ls-tree", "-r", "-z", treeSha]).toString("utf8").split("\0").filter(Boolean)) {
      const tab = record.indexOf("\t");
      const [mode, , sha] = record.slice(0, tab).split(" ");
      files.set(record.slice(tab + 1), { sha: sha!, mode: mode! });
    }
    return files;
  }

  /** A tree: `base` (or empty) with entries set to a blob (sha, mode) or removed (null). */
  writeTree(base: string | null, changes: Map<string, { sha: string; mode: string } | null>): string {
    const scratch = mkdtempSync(path.join(os.tmpdir(), "crucible-index-"));
    const env = { GIT_INDEX_FILE: path.join(scratch, "index") };
    try {
      if (base) this.git(["read-tree", base], { env });
      else this.git(["read-tree", "--empty"], { env });
      const lines: string[] = [];
      for (const [file, entry] of changes) lines.push(entry ? `${entry.mode} ${entry.sha}\t${file}` : `0 ${"0".repeat(40)}\t${file}`);
      if (lines.length > 0) this.git(["update-index", "--index-info"], { env, input: `${lines.join("\n")}\n` });
      return this.text(["write-tree"], { env });
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }

  putCommit(commit: Omit<StoredCommit, "sha">): StoredCommit {
    const stamp = (p: Person) => `${Math.floor(Date.parse(p.date) / 1000)} +0000`;
    const env = {
      GIT_AUTHOR_NAME: commit.author.name,
      GIT_AUTHOR_EMAIL: commit.author.email,
      GIT_AUTHOR_DATE: stamp(commit.author),
      GIT_COMMITTER_NAME: commit.committer.name,
      GIT_COMMITTER_EMAIL: commit.committer.email,
      GIT_COMMITTER_DATE: stamp(commit.committer),
    };
    const sha = this.text(["commit-tree", commit.tree, ...commit.parents.flatMap((p) => ["-p", p]), "-F", "-"], {
      env,
      input: commit.message,
    });
    return this.commit(sha)!;
  }

  commit(sha: string): StoredCommit | undefined {
    if (this.typeOf(sha) !== "commit") return undefined;
    const raw = this.git(["cat-file", "commit", sha]).toString("utf8");
    const split = raw.indexOf("\n\n");
    const headers = raw.slice(0, split).split("\n");
    const person = (line: string | undefined): Person => {
      const match = /^\S+ (.*) <(.*)> (\d+) [+-]\d{4}$/.exec(line ?? "");
      return {
        name: match?.[1] ?? "",
        email: match?.[2] ?? "",
        date: new Date(Number(match?.[3] ?? 0) * 1000).toISOString().replace(/\.000Z$/, "Z"),
      };
    };
    return {
      sha,
      tree: headers.find((h) => h.startsWith("tree "))!.slice(5),
      parents: headers.filter((h) => h.startsWith("parent ")).map((h) => h.slice(7)),
      author: person(headers.find((h) => h.startsWith("author "))),
      committer: person(headers.find((h) => h.startsWith("committer "))),
      message: raw.slice(split + 2),
    };
  }

  /** A commit on top of `parent` (or a root commit) with these files set or removed. */
  commitFiles(parent: string | null, files: Record<string, FileChange>, message: string, who: Partial<Person> = {}): string {
    const changes = new Map<string, { sha: string; mode: string } | null>();
    for (const [file, content] of Object.entries(files))
      changes.set(file, content === null ? null : { sha: this.putBlob(Buffer.from(content)), mode: "100644" });
    const tree = this.writeTree(parent ? this.commit(parent)!.tree : null, changes);
    const person: Person = { name: who.name ?? "Test", email: who.email ?? "test@example.org", date: who.date ?? new Date().toISOString() };
    return this.putCommit({ tree, parents: parent ? [parent] : [], message, author: person, committer: person }).sha;
  }

  ref(name: string): string | undefined {
    try {
      return this.text(["rev-parse", "--verify", "-q", `refs/${name}^{commit}`]);
    } catch {
      return undefined;
    }
  }

  setRef(name: string, sha: string): void {
    this.git(["update-ref", `refs/${name}`, sha]);
  }

  deleteRef(name: string): void {
    this.git(["update-ref", "-d", `refs/${name}`]);
  }

  isAncestor(ancestor: string, of: string): boolean {
    try {
      this.git(["merge-base", "--is-ancestor", ancestor, of]);
      return true;
    } catch {
      return false;
    }
  }

  /** Paths of every file in a commit. */
  paths(commitSha: string): Set<string> {
    return new Set(this.flatten(this.commit(commitSha)!.tree).keys());
  }

  /** path → text of every file in a commit, read in one `git cat-file --batch`. */
  files(commitSha: string): Map<string, string> {
    const entries = [...this.flatten(this.commit(commitSha)!.tree)];
    const out = this.git(["cat-file", "--batch"], { input: entries.map(([, { sha }]) => sha).join("\n") + "\n" });
    const files = new Map<string, string>();
    let at = 0;
    for (const [file] of entries) {
      const header = out.indexOf(0x0a, at);
      const size = Number(out.subarray(at, header).toString("utf8").split(" ")[2]);
      files.set(file, out.subarray(header + 1, header + 1 + size).toString("utf8"));
      at = header + 1 + size + 1;
    }
    return files;
  }
}
