// The Kubernetes API as a runner pod reaches it: the in-cluster service account (token and CA files) and
// the API server's address from KUBERNETES_SERVICE_HOST/PORT, over node:https (a custom CA, which fetch
// cannot take without another dependency). Requests are objects in, objects out: nothing is templated.
import { readFile } from "node:fs/promises";
import https from "node:https";
import path from "node:path";
import { SandboxUnavailableError, errorMessage } from "../errors.js";

/** Where Kubernetes mounts a pod's service-account token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- objects of the Kubernetes API, read field by field where used
export type KubernetesObject = Record<string, any>;

/** A refusal of the API server, with its HTTP status and Status reason (NotFound, Forbidden, …). */
export class KubernetesApiError extends Error {
  override name = "KubernetesApiError";
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface KubernetesRequest {
  method?: "GET" | "POST" | "DELETE";
  query?: Record<string, string>;
  body?: KubernetesObject;
  signal?: AbortSignal;
}

export class KubernetesClient {
  private constructor(
    readonly server: URL,
    private readonly ca: Buffer,
    private readonly tokenFile: string,
  ) {}

  /**
   * The connection of the pod this process runs in. Every missing piece is named: outside a pod (or with
   * automountServiceAccountToken off) there is no token, and the run must not start.
   */
  static async inCluster(env: NodeJS.ProcessEnv = process.env, accountDir = SERVICE_ACCOUNT_DIR): Promise<KubernetesClient> {
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT || "443";
    if (!host) {
      throw new SandboxUnavailableError(
        "KUBERNETES_SERVICE_HOST is not set: the Kubernetes sandbox runs only in a pod " +
          "(CRUCIBLE_SANDBOX_NAMESPACE is set, so this runner is configured for one)",
      );
    }
    const tokenFile = path.join(accountDir, "token");
    const caFile = path.join(accountDir, "ca.crt");
    await readFile(tokenFile).catch((error: unknown) => {
      throw new SandboxUnavailableError(
        `no service-account token at ${tokenFile} (${errorMessage(error)}): the runner pod needs its service account's ` +
          "token mounted (automountServiceAccountToken) to create sandbox pods",
      );
    });
    const ca = await readFile(caFile).catch((error: unknown) => {
      throw new SandboxUnavailableError(`no cluster CA at ${caFile} (${errorMessage(error)}): cannot verify the API server`);
    });
    // An IPv6 service address needs brackets in a URL.
    return new KubernetesClient(new URL(`https://${host.includes(":") ? `[${host}]` : host}:${port}`), ca, tokenFile);
  }

  /** One request whose answer is a JSON object; a non-2xx answer throws KubernetesApiError. */
  async request(apiPath: string, options: KubernetesRequest = {}): Promise<KubernetesObject> {
    const response = await this.open(apiPath, options);
    const text = await readAll(response);
    const parsed = text ? (JSON.parse(text) as KubernetesObject) : {};
    if ((response.statusCode ?? 0) >= 300) throw apiError(response.statusCode ?? 0, parsed, options.method ?? "GET", apiPath);
    return parsed;
  }

  /** A streamed answer (pods/log?follow=true): each chunk as it arrives, until the server ends it or the signal aborts. */
  async stream(apiPath: string, onChunk: (chunk: Buffer) => void, options: KubernetesRequest = {}): Promise<void> {
    const response = await this.open(apiPath, options);
    if ((response.statusCode ?? 0) >= 300) {
      const text = await readAll(response);
      throw apiError(response.statusCode ?? 0, parseOr(text), "GET", apiPath);
    }
    await new Promise<void>((resolve) => {
      response.on("data", onChunk);
      response.on("end", resolve);
      response.on("close", resolve);
      response.on("error", () => resolve());
    });
  }

  private async open(apiPath: string, options: KubernetesRequest): Promise<import("node:http").IncomingMessage> {
    const url = new URL(apiPath, this.server);
    for (const [key, value] of Object.entries(options.query ?? {})) url.searchParams.append(key, value);
    // Re-read each time: projected tokens are rotated by the kubelet.
    const token = (await readFile(this.tokenFile, "utf8")).trim();
    const body = options.body ? JSON.stringify(options.body) : undefined;
    return new Promise((resolve, reject) => {
      const request = https.request(url, {
        method: options.method ?? "GET",
        ca: this.ca,
        headers: {
          authorization: `Bearer ${token}`,
          accept: "application/json",
          ...(body ? { "content-type": "application/json", "content-length": Buffer.byteLength(body) } : {}),
        },
        ...(options.signal ? { signal: options.signal } : {}),
      });
      request.on("response", resolve);
      request.on("error", (error) =>
        reject(new KubernetesApiError(0, "Unreachable", `the Kubernetes API at ${this.server.origin} is not reachable: ${error.message}`)),
      );
      request.end(body);
    });
  }
}

function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    stream.on("error", reject);
  });
}

function parseOr(text: string): KubernetesObject {
  try {
    return JSON.parse(text) as KubernetesObject;
  } catch {
    return { message: text };
  }
}

function apiError(status: number, body: KubernetesObject, method: string, apiPath: string): KubernetesApiError {
  const message = typeof body.message === "string" ? body.message : `HTTP ${status}`;
  return new KubernetesApiError(status, typeof body.reason === "string" ? body.reason : "", `${method} ${apiPath}: ${message}`);
}
