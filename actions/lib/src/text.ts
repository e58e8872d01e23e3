/**
 * Text a sandboxed program controls is shown in many places (schemas/README.md, "Where program text
 * lands"). This is the rule they all share: characters that act on a terminal or log viewer, or that hide
 * or reorder text, are written as visible escapes; each place adds its own escaping on top.
 */

/** What an unsafe code point does: starts a terminal escape, controls a terminal or log, reorders or hides text. */
export type UnsafeKind = "escape-sequence" | "control-character" | "bidi-control" | "invisible-character";

/**
 * C0 controls but tab, DEL and C1 controls (ANSI and OSC sequences, CR, BEL, the 8-bit CSI), bidirectional
 * marks, overrides and isolates, line and paragraph separators, invisible characters (zero-width space,
 * word joiner, invisible operators, byte-order mark, interlinear annotations, tag characters) and lone
 * UTF-16 surrogates, each with its kind; undefined for every other code point. Zero-width (non-)joiners
 * stay: emoji and several scripts need them.
 */
export function unsafeKind(code: number): UnsafeKind | undefined {
  // ESC, and the 8-bit CSI and OSC introducers, start terminal escape sequences.
  if (code === 0x1b || code === 0x9b || code === 0x9d) return "escape-sequence";
  if ((code < 0x20 && code !== 0x09) || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029) {
    return "control-character";
  }
  if (code === 0x061c || code === 0x200e || code === 0x200f || (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069)) {
    return "bidi-control";
  }
  if (
    code === 0x180e ||
    code === 0x200b ||
    (code >= 0x2060 && code <= 0x2064) ||
    (code >= 0xd800 && code <= 0xdfff) ||
    code === 0xfeff ||
    (code >= 0xfff9 && code <= 0xfffb) ||
    (code >= 0xe0000 && code <= 0xe007f)
  ) {
    return "invisible-character";
  }
  return undefined;
}

export function isUnsafeCodePoint(code: number): boolean {
  return unsafeKind(code) !== undefined;
}

/** The visible form of an unsafe code point: \xNN below 0x100, \u{NNNN} above. */
export function visibleEscape(code: number): string {
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
}

const ALL_SAFE = /^[\t\x20-\x7e]*$/;

/** A string with every unsafe code point written as a visible escape; everything else is kept. */
export function escapeControls(text: string): string {
  if (ALL_SAFE.test(text)) return text;
  let out = "";
  // for…of walks code points, and yields a lone surrogate on its own.
  for (const char of text) {
    const code = char.codePointAt(0)!;
    out += isUnsafeCodePoint(code) ? visibleEscape(code) : char;
  }
  return out;
}

/** escapeControls, then cut to at most `max` characters with an ellipsis. */
export function shownText(text: string, max: number): string {
  const escaped = escapeControls(text);
  if (escaped.length <= max) return escaped;
  // Cut by code points, so no surrogate pair is split in two.
  return `${Array.from(escaped)
    .slice(0, max - 1)
    .join("")}…`;
}
