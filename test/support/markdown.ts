// Renders Markdown as GitHub does before sanitizing: CommonMark + GFM (micromark with its GFM extension,
// tag filter included) with raw HTML allowed; the HTML is then parsed into a DOM to look at elements.
import { parseHTML } from "linkedom";
import { micromark } from "micromark";
import { gfm, gfmHtml } from "micromark-extension-gfm";

export function renderGfm(markdown: string): Document {
  const html = micromark(markdown, { allowDangerousHtml: true, extensions: [gfm()], htmlExtensions: [gfmHtml()] });
  return parseHTML(`<!doctype html><html><head></head><body>${html}</body></html>`).document as unknown as Document;
}

/** Tag names (lower case) of every element in the body, in document order. */
export function elementNames(document: Document): string[] {
  return [...document.body.querySelectorAll("*")].map((e) => e.tagName.toLowerCase());
}

/** How many elements of each tag the body holds. */
export function elementCounts(document: Document): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of elementNames(document)) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}
