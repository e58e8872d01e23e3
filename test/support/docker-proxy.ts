// A Docker API endpoint for half-configured hosts: it forwards every request to the real daemon, and lets
// a test rewrite what `GET /info` says (runtimes unregistered, wrong runtime arguments). Clients reach it
// through DOCKER_HOST, as they would a remote daemon.
import http from "node:http";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

export interface DockerProxy {
  dockerHost: string;
  close(): Promise<void>;
}

export async function startDockerProxy(
  rewriteInfo: (info: Record<string, unknown>) => Record<string, unknown>,
  upstream = "/var/run/docker.sock",
): Promise<DockerProxy> {
  const socketPath = path.join(await mkdtemp(path.join(os.tmpdir(), "crucible-docker-proxy-")), "docker.sock");
  const server = http.createServer((req, res) => {
    const forward = http.request({ socketPath: upstream, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      if (req.method === "GET" && /^(\/v[\d.]+)?\/info$/.test(req.url ?? "")) {
        const chunks: Buffer[] = [];
        answer.on("data", (c: Buffer) => chunks.push(c));
        answer.on("end", () => {
          const body = JSON.stringify(rewriteInfo(JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>));
          res.writeHead(answer.statusCode ?? 200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
          res.end(body);
        });
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on("error", (error) => res.destroy(error));
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    dockerHost: `unix://${socketPath}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
