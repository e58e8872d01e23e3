// A real container registry for tests: Debian's docker-registry (the CNCF distribution registry) on
// 127.0.0.1 at a free port, storing into a temporary folder. Docker treats 127.0.0.0/8 as an insecure
// registry by default, so no TLS and no daemon configuration are needed.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface LocalRegistry {
  host: string;
  stop(): Promise<void>;
}

/** Installs Debian's docker-registry package unless it is there (idempotent). */
async function ensureInstalled(): Promise<string> {
  const binary = "/usr/bin/docker-registry";
  try {
    await execFileAsync(binary, ["--version"]);
  } catch {
    await execFileAsync("apt-get", ["install", "-y", "--no-install-recommends", "docker-registry"], {
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      maxBuffer: 16 * 1024 * 1024,
    });
  }
  return binary;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startRegistry(): Promise<LocalRegistry> {
  const binary = await ensureInstalled();
  const dir = await mkdtemp(path.join(os.tmpdir(), "crucible-registry-"));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = path.join(dir, "config.yml");
  await writeFile(
    config,
    [
      "version: 0.1",
      "log: { level: error }",
      "storage:",
      `  filesystem: { rootdirectory: ${path.join(dir, "data")} }`,
      "  delete: { enabled: true }",
      "http:",
      `  addr: ${host}`,
      "",
    ].join("\n"),
  );
  const child: ChildProcess = spawn(binary, ["serve", config], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ok = await fetch(`http://${host}/v2/`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`docker-registry did not start on ${host}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
