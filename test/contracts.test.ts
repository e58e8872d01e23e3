// The types and validators in actions/lib/src/contracts/ are generated from schemas/ and committed: they must
// be what the schemas give now, or the compiler and the validators would check an older contract.
import { describe, expect, it } from "vitest";
import { staleContracts } from "../actions/scripts/contracts.mjs";
import { validateResultDocument, validateSeriesDocument } from "../actions/lib/src/index.js";

describe("contracts generated from schemas/", () => {
  it("are committed as the schemas give them (run npm run build after changing a schema)", async () => {
    expect(await staleContracts()).toEqual([]);
  });

  it("validate with the schemas' formats and shared definitions", () => {
    expect(validateResultDocument({ startedAt: "yesterday" })).toBe(false);
    expect(validateResultDocument.errors?.find((e) => e.instancePath === "/startedAt")?.keyword).toBe("format");
    expect(validateSeriesDocument({ loss: { kind: "line", columns: ["step", "loss"], rows: [[1, 0.5]] } })).toBe(true);
    expect(validateSeriesDocument({ loss: { kind: "line", columns: ["step\u001b[2J"], rows: [] } })).toBe(false);
  });
});
