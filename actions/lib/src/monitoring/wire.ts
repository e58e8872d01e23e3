/**
 * gVisor's remote trace sink, as Debian's runsc 0.0~20221219 speaks it (runner-setup/MONITORING.md):
 * every SOCK_SEQPACKET message is an 8-byte little-endian header — header size (u16), message type (u16),
 * points the Sentry dropped so far (u32) — followed by one protobuf message. The message definitions below
 * are written from the field numbers of gVisor's pkg/sentry/seccheck/points/*.proto and checked against
 * messages captured from the installed runsc (test/monitoring-wire.test.ts).
 *
 * The Sentry is not trusted: every message may be malformed or hostile, so decoding never throws past
 * decodeMessage, every string is cut to a fixed length and every list to a fixed count.
 */
import { errorMessage } from "../errors.js";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

export const HEADER_MIN_BYTES = 8;
/** The protocol version this decoder implements; the handshake answers with it. */
export const WIRE_VERSION = 1;
/** Longest string kept from an event (paths, argv entries, process names). */
export const MAX_FIELD_CHARS = 512;
/** Most argv entries kept from one execve. */
export const MAX_ARGV = 16;

/** gvisor.common.MessageType values this collector decodes. */
export const MessageType = {
  containerStart: 1,
  sentryClone: 2,
  sentryExec: 3,
  sentryTaskExit: 5,
  syscallRaw: 6,
  syscallOpen: 7,
  syscallConnect: 10,
  syscallExecve: 11,
  syscallSocket: 12,
  syscallFork: 29,
} as const;

export interface WireHeader {
  headerBytes: number;
  messageType: number;
  /** Cumulative count of points the Sentry could not write (its socket buffer was full); wraps at 2^32. */
  droppedBySentry: number;
}

/** gvisor.common.ContextData, the fields requested in the session's context_fields. */
export interface EventContext {
  timeNs: bigint;
  threadId: number;
  threadGroupId: number;
  containerId: string;
  cwd: string;
  processName: string;
}

export type TraceEvent =
  | { kind: "container-start"; context: EventContext; id: string; args: string[] }
  | { kind: "clone"; context: EventContext }
  | { kind: "sentry-exec"; context: EventContext; binaryPath: string; argv: string[]; binaryMode: number }
  | { kind: "task-exit"; context: EventContext }
  | { kind: "syscall"; context: EventContext; sysno: number; args: bigint[]; exit?: SyscallExit }
  | { kind: "open"; context: EventContext; sysno: number; dirFd: number; dirPath: string; path: string; flags: number; exit?: SyscallExit }
  | { kind: "connect"; context: EventContext; fd: number; fdPath: string; address: Uint8Array; exit?: SyscallExit }
  | { kind: "execve"; context: EventContext; path: string; argv: string[]; exit?: SyscallExit }
  | { kind: "socket"; context: EventContext; domain: number; type: number; protocol: number; exit?: SyscallExit }
  | { kind: "fork"; context: EventContext };

export interface SyscallExit {
  result: bigint;
  errno: number;
}

export type Decoded = { ok: true; header: WireHeader; event: TraceEvent | undefined } | { ok: false; reason: string };

export function readHeader(message: Uint8Array): WireHeader | undefined {
  if (message.length < HEADER_MIN_BYTES) return undefined;
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const headerBytes = view.getUint16(0, true);
  if (headerBytes < HEADER_MIN_BYTES || headerBytes > message.length) return undefined;
  return { headerBytes, messageType: view.getUint16(2, true), droppedBySentry: view.getUint32(4, true) };
}

/** One message off the socket; unknown message types decode to `event: undefined` (newer runsc may add some). */
export function decodeMessage(message: Uint8Array): Decoded {
  const header = readHeader(message);
  if (!header) return { ok: false, reason: `a message of ${message.length} bytes has no valid header` };
  try {
    return { ok: true, header, event: decodePayload(header.messageType, message.subarray(header.headerBytes)) };
  } catch (error) {
    return { ok: false, reason: `message type ${header.messageType} does not decode: ${errorMessage(error)}` };
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

function text(reader: BinaryReader): string {
  const bytes = reader.bytes();
  return utf8.decode(bytes.length > MAX_FIELD_CHARS * 4 ? bytes.subarray(0, MAX_FIELD_CHARS * 4) : bytes).slice(0, MAX_FIELD_CHARS);
}

/** Walks the fields of one message, handing each known field to `on`, skipping the rest. */
function fields(bytes: Uint8Array, on: (field: number, wire: WireType, reader: BinaryReader) => boolean): void {
  const reader = new BinaryReader(bytes, (b) => utf8.decode(b));
  while (reader.pos < reader.len) {
    const [field, wire] = reader.tag();
    if (!on(field, wire, reader)) reader.skip(wire, field);
  }
}

function emptyContext(): EventContext {
  return { timeNs: 0n, threadId: 0, threadGroupId: 0, containerId: "", cwd: "", processName: "" };
}

function decodeContext(bytes: Uint8Array): EventContext {
  const c = emptyContext();
  fields(bytes, (field, wire, r) => {
    if (field === 1 && wire === WireType.Varint) c.timeNs = BigInt(r.int64());
    else if (field === 2 && wire === WireType.Varint) c.threadId = r.int32();
    else if (field === 4 && wire === WireType.Varint) c.threadGroupId = r.int32();
    else if (field === 6 && wire === WireType.LengthDelimited) c.containerId = text(r);
    else if (field === 8 && wire === WireType.LengthDelimited) c.cwd = text(r);
    else if (field === 9 && wire === WireType.LengthDelimited) c.processName = text(r);
    else return false;
    return true;
  });
  return c;
}

function decodeExit(bytes: Uint8Array): SyscallExit {
  const exit: SyscallExit = { result: 0n, errno: 0 };
  fields(bytes, (field, wire, r) => {
    if (field === 1 && wire === WireType.Varint) exit.result = BigInt(r.int64());
    else if (field === 2 && wire === WireType.Varint) exit.errno = Number(BigInt(r.int64()));
    else return false;
    return true;
  });
  return exit;
}

function pushLimited(list: string[], value: string): void {
  if (list.length < MAX_ARGV) list.push(value);
}

function decodePayload(type: number, payload: Uint8Array): TraceEvent | undefined {
  let context = emptyContext();
  let exit: SyscallExit | undefined;
  // Field 1 is the context and, in every syscall message, field 2 the exit (set on exit points only).
  const common = (field: number, wire: WireType, r: BinaryReader, syscall: boolean): boolean => {
    if (field === 1 && wire === WireType.LengthDelimited) context = decodeContext(r.bytes());
    else if (syscall && field === 2 && wire === WireType.LengthDelimited) exit = decodeExit(r.bytes());
    else return false;
    return true;
  };
  switch (type) {
    case MessageType.containerStart: {
      let id = "";
      const args: string[] = [];
      fields(payload, (f, w, r) => {
        if (common(f, w, r, false)) return true;
        if (f === 2 && w === WireType.LengthDelimited) id = text(r);
        else if (f === 4 && w === WireType.LengthDelimited) pushLimited(args, text(r));
        else return false;
        return true;
      });
      return { kind: "container-start", context, id, args };
    }
    case MessageType.sentryClone:
    case MessageType.sentryTaskExit:
    case MessageType.syscallFork:
      fields(payload, (f, w, r) => common(f, w, r, type === MessageType.syscallFork));
      return { kind: type === MessageType.sentryClone ? "clone" : type === MessageType.syscallFork ? "fork" : "task-exit", context };
    case MessageType.sentryExec: {
      let binaryPath = "";
      let binaryMode = 0;
      const argv: string[] = [];
      fields(payload, (f, w, r) => {
        if (common(f, w, r, false)) return true;
        if (f === 2 && w === WireType.LengthDelimited) binaryPath = text(r);
        else if (f === 3 && w === WireType.LengthDelimited) pushLimited(argv, text(r));
        else if (f === 5 && w === WireType.Varint) binaryMode = r.uint32();
        else return false;
        return true;
      });
      return { kind: "sentry-exec", context, binaryPath, argv, binaryMode };
    }
    case MessageType.syscallRaw: {
      let sysno = -1;
      const args: bigint[] = [0n, 0n, 0n, 0n, 0n, 0n];
      fields(payload, (f, w, r) => {
        if (common(f, w, r, true)) return true;
        if (f === 4 && w === WireType.Varint) sysno = Number(BigInt(r.uint64()));
        else if (f >= 5 && f <= 10 && w === WireType.Varint) args[f - 5] = BigInt(r.uint64());
        else return false;
        return true;
      });
      return { kind: "syscall", context, sysno, args, ...(exit ? { exit } : {}) };
    }
    case MessageType.syscallOpen: {
      const open = { sysno: -1, dirFd: 0, dirPath: "", path: "", flags: 0 };
      fields(payload, (f, w, r) => {
        if (common(f, w, r, true)) return true;
        if (f === 3 && w === WireType.Varint) open.sysno = Number(BigInt(r.uint64()));
        else if (f === 4 && w === WireType.Varint) open.dirFd = Number(BigInt(r.int64()));
        else if (f === 5 && w === WireType.LengthDelimited) open.dirPath = text(r);
        else if (f === 6 && w === WireType.LengthDelimited) open.path = text(r);
        else if (f === 7 && w === WireType.Varint) open.flags = r.uint32();
        else return false;
        return true;
      });
      return { kind: "open", context, ...open, ...(exit ? { exit } : {}) };
    }
    case MessageType.syscallConnect: {
      const connect = { fd: 0, fdPath: "", address: new Uint8Array() };
      fields(payload, (f, w, r) => {
        if (common(f, w, r, true)) return true;
        if (f === 4 && w === WireType.Varint) connect.fd = Number(BigInt(r.int64()));
        else if (f === 5 && w === WireType.LengthDelimited) connect.fdPath = text(r);
        else if (f === 6 && w === WireType.LengthDelimited) connect.address = r.bytes().slice(0, 128);
        else return false;
        return true;
      });
      return { kind: "connect", context, ...connect, ...(exit ? { exit } : {}) };
    }
    case MessageType.syscallExecve: {
      let path = "";
      const argv: string[] = [];
      fields(payload, (f, w, r) => {
        if (common(f, w, r, true)) return true;
        if (f === 6 && w === WireType.LengthDelimited) path = text(r);
        else if (f === 7 && w === WireType.LengthDelimited) pushLimited(argv, text(r));
        else return false;
        return true;
      });
      return { kind: "execve", context, path, argv, ...(exit ? { exit } : {}) };
    }
    case MessageType.syscallSocket: {
      const socket = { domain: 0, type: 0, protocol: 0 };
      fields(payload, (f, w, r) => {
        if (common(f, w, r, true)) return true;
        if (f === 4 && w === WireType.Varint) socket.domain = r.int32();
        else if (f === 5 && w === WireType.Varint) socket.type = r.int32();
        else if (f === 6 && w === WireType.Varint) socket.protocol = r.int32();
        else return false;
        return true;
      });
      return { kind: "socket", context, ...socket, ...(exit ? { exit } : {}) };
    }
    default:
      return undefined;
  }
}

/** The handshake both sides send once: gvisor.common.Handshake { uint32 version = 1; }. */
export function encodeHandshake(version: number): Uint8Array {
  return new BinaryWriter().tag(1, WireType.Varint).uint32(version).finish();
}

export function decodeHandshake(bytes: Uint8Array): number | undefined {
  let version: number | undefined;
  try {
    fields(bytes, (f, w, r) => {
      if (f === 1 && w === WireType.Varint) version = r.uint32();
      else return false;
      return true;
    });
  } catch {
    return undefined;
  }
  return version;
}
