/**
 * The host end of gVisor's remote trace sink: a SOCK_SEQPACKET server the sandbox's runsc connects to
 * when the sandbox is created. The Sentry writes without blocking and counts what it could not write, so a
 * slow collector never slows the sandbox; this side bounds what it evaluates (events per second, events in
 * all, bytes) and counts everything it did not evaluate, so no event is lost silently.
 */
import type { SeqpacketServer, SeqpacketSocket } from "node-unix-socket";
import { decodeHandshake, decodeMessage, encodeHandshake, readHeader, type TraceEvent, WIRE_VERSION } from "./wire.js";
import type { CollectorLimits } from "./rules.js";
import { delay } from "../delay.js";

export interface CollectorStats {
  /** Connections from the expected sandbox (one per sandbox). */
  connections: number;
  /** Connections that did not identify as the expected sandbox; closed unread. */
  foreignConnections: number;
  messages: number;
  bytes: number;
  evaluated: number;
  dropped: {
    /** Points the Sentry could not write because this collector's socket was full (last count it reported). */
    bySandbox: number;
    byRate: number;
    byTotal: number;
    byBytes: number;
    malformed: number;
  };
  /** What went wrong with the collector itself, one sentence each. */
  problems: string[];
}

type Peer = {
  socket: SeqpacketSocket;
  state: "handshake" | "identify" | "streaming" | "closed";
  droppedBySandbox: number;
  ended: Promise<void>;
};

export class TraceCollector {
  private readonly peers: Peer[] = [];
  private expected: string | undefined;
  private windowSecond = 0;
  private windowCount = 0;
  readonly stats: CollectorStats = {
    connections: 0,
    foreignConnections: 0,
    messages: 0,
    bytes: 0,
    evaluated: 0,
    dropped: { bySandbox: 0, byRate: 0, byTotal: 0, byBytes: 0, malformed: 0 },
    problems: [],
  };

  private constructor(
    private readonly server: SeqpacketServer,
    private readonly limits: CollectorLimits,
    private readonly onEvent: (event: TraceEvent) => void,
  ) {
    this.server.on("connection", (socket: SeqpacketSocket) => this.accept(socket));
    this.server.on("error", (error: Error) => this.problem(`the trace socket failed: ${error.message}`));
  }

  /** Listens on `endpoint`; once this resolves, a sandbox can connect. */
  static async listen(endpoint: string, limits: CollectorLimits, onEvent: (event: TraceEvent) => void): Promise<TraceCollector> {
    // A native addon (SOCK_SEQPACKET has no Node API), loaded only by runs that monitor: bundles that never
    // do need not ship its binary (actions/scripts/build.mjs).
    const { SeqpacketServer } = await import("node-unix-socket");
    const collector = new TraceCollector(new SeqpacketServer(), limits, onEvent);
    collector.server.listen(endpoint, 16);
    return collector;
  }

  /** The Docker container id whose sandbox may connect; every other connection is refused. */
  expect(containerId: string): void {
    this.expected = containerId;
  }

  /** Waits up to `graceMs` for the sandbox to close its connection (it does when it exits), then stops. */
  async finish(graceMs: number): Promise<CollectorStats> {
    const open = this.peers.filter((p) => p.state !== "closed");
    if (open.length > 0) {
      const timedOut = await Promise.race([Promise.all(open.map((p) => p.ended)).then(() => false), delay(graceMs).then(() => true)]);
      if (timedOut)
        this.problem(`the sandbox's trace connection was still open ${graceMs} ms after the program ended; later events are not counted`);
    }
    for (const peer of this.peers) this.close(peer);
    this.server.close();
    this.stats.dropped.bySandbox = this.peers.reduce((sum, p) => sum + p.droppedBySandbox, 0);
    if (this.stats.connections === 0) this.problem("the sandbox never connected to the trace socket");
    return this.stats;
  }

  private accept(socket: SeqpacketSocket): void {
    let resolveEnded!: () => void;
    const peer: Peer = { socket, state: "handshake", droppedBySandbox: 0, ended: new Promise((resolve) => (resolveEnded = resolve)) };
    this.peers.push(peer);
    socket.on("data", (message: Buffer) => this.receive(peer, message));
    socket.on("error", (error: Error) => {
      if (peer.state === "streaming") this.problem(`the trace connection failed: ${error.message}`);
    });
    socket.on("end", () => this.close(peer));
    socket.on("close", () => {
      peer.state = "closed";
      resolveEnded();
    });
  }

  private receive(peer: Peer, message: Buffer): void {
    if (peer.state === "closed") return;
    if (peer.state === "handshake") {
      const version = decodeHandshake(message);
      if (version === undefined || version < 1) {
        this.problem("a sandbox sent a handshake this collector cannot read");
        return this.close(peer);
      }
      peer.state = "identify";
      peer.socket.write(Buffer.from(encodeHandshake(WIRE_VERSION)));
      return;
    }
    // The first point of a session is the container's start, sent by runsc before any program code runs:
    // it tells which sandbox is on the other end.
    if (peer.state === "identify") {
      const decoded = decodeMessage(message);
      const event = decoded.ok ? decoded.event : undefined;
      if (event?.kind !== "container-start" || !this.expected || event.id !== this.expected) {
        this.stats.foreignConnections += 1;
        return this.close(peer);
      }
      peer.state = "streaming";
      this.stats.connections += 1;
    }
    this.stats.messages += 1;
    this.stats.bytes += message.length;
    const header = readHeader(message);
    if (header) peer.droppedBySandbox = Math.max(peer.droppedBySandbox, header.droppedBySentry);
    if (this.stats.bytes > this.limits.maxBytes) {
      this.stats.dropped.byBytes += 1;
      return;
    }
    if (this.stats.evaluated >= this.limits.maxEvents) {
      this.stats.dropped.byTotal += 1;
      return;
    }
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.windowSecond) {
      this.windowSecond = second;
      this.windowCount = 0;
    }
    if (this.windowCount >= this.limits.eventsPerSecond) {
      this.stats.dropped.byRate += 1;
      return;
    }
    this.windowCount += 1;
    const decoded = decodeMessage(message);
    if (!decoded.ok) {
      this.stats.dropped.malformed += 1;
      return;
    }
    if (!decoded.event) return;
    this.stats.evaluated += 1;
    this.onEvent(decoded.event);
  }

  private close(peer: Peer): void {
    if (peer.state === "closed") return;
    peer.state = "closed";
    peer.socket.destroy();
  }

  private problem(text: string): void {
    if (!this.stats.problems.includes(text)) this.stats.problems.push(text);
  }
}
