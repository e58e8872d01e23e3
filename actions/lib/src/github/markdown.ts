import { escapeControls } from "../text.js";

/** Characters that end a line in Markdown or in a viewer. */
const LINE_BREAKS = /\r\n|[\r\n\t\v\f\u0085\u2028\u2029]/g;
/** ASCII characters Markdown or HTML act on in running text (see escapeMarkdown). */
const ACTIVE = /[&<>"'`|\\[\]()*_~!#$:@]/g;
/** After these GitHub's own filters, which run on the rendered text, look for mentions, issues and emoji. */
const FILTER_TRIGGERS = "@#:";

/**
 * Makes untrusted text inert in GitHub-flavoured Markdown and the HTML GitHub allows in it: the step
 * summary and the pull-request comment (schemas/README.md, "Where program text lands").
 * - Line breaks and tabs become spaces, so text cannot end a table row, an HTML block or a paragraph.
 * - Other control, bidi and invisible characters become visible escapes (text.ts).
 * - Every ASCII character Markdown or HTML can act on in running text becomes a numeric character
 *   reference: HTML and entities, emphasis and strikethrough, code, links, images and footnotes, table
 *   cells, headings, math, and the ":" of URL autolinks ("www." loses its dot the same way). A reference
 *   is decoded to the character itself, never to markup.
 * - "@", "#" and ":" are followed by a zero-width space, so GitHub's filters make no mention, issue
 *   reference or emoji out of them.
 * The result is for running text after something of ours: not at the start of a line (a leading "-",
 * "+", "=" or "1." could start a list or underline a heading), not in a code span (which shows
 * references as written) and not in an attribute (see safeUrl).
 */
export function escapeMarkdown(text: string): string {
  return escapeControls(text.replace(LINE_BREAKS, " "))
    .replace(ACTIVE, (c) => `&#${c.charCodeAt(0)};${FILTER_TRIGGERS.includes(c) ? "&#8203;" : ""}`)
    .replace(/(www)\./gi, "$1&#46;");
}

/** An http(s) URL made safe for an href attribute, or null for anything else (javascript:, data:, garbage). */
export function safeUrl(value: string | null | undefined): string | null {
  if (!value) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return null;
  // The URL parser has percent-encoded spaces, quotes and controls; what is left to quote are references.
  return url.href.replace(/[&<>"'`|\\[\]()*_~!$]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A link whose target and text are both escaped, or null when the URL is not http(s). */
export function link(text: string, href: string | null | undefined): string | null {
  const url = safeUrl(href);
  return url ? `<a href="${url}">${escapeMarkdown(text)}</a>` : null;
}
