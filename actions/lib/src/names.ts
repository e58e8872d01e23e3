import resultSchema from "../../../schemas/result.schema.json" with { type: "json" };

/**
 * Names a program chooses (output files, metrics, series) are kept only when they are safe wherever they
 * land: a shell, git, a file system of any platform, a Markdown table, a URL. The patterns are the result
 * schema's ($defs), so the schema stays the one place that defines them.
 */
const pattern = (name: keyof typeof resultSchema.$defs) => new RegExp((resultSchema.$defs[name] as { pattern: string }).pattern, "u");

export const PORTABLE_NAME = pattern("portableName");
export const METRIC_NAME = pattern("metricName");
export const SERIES_NAME = pattern("seriesName");
export const DISPLAY_TEXT = pattern("displayText");

// Device names Windows reserves in every folder, with or without an extension (CON, nul.txt, COM1.log).
const WINDOWS_RESERVED = /^(?:con|prn|aux|nul|com[0-9]|lpt[0-9])(?:\.|$)/i;

/** Why a file or folder name is not collected, or undefined when it is portable. */
export function portableNameProblem(name: string): string | undefined {
  if (!PORTABLE_NAME.test(name)) {
    return (
      "name is not portable: only letters, digits, '.', '_' and '-' are collected, " +
      "not starting with '.' or '-' nor ending with '.', up to 128 characters"
    );
  }
  if (WINDOWS_RESERVED.test(name)) return "name is reserved on Windows (CON, PRN, AUX, NUL, COM1-9, LPT1-9, with any extension)";
  return undefined;
}

export const METRIC_NAME_RULE = "a metric name is a letter, then up to 127 letters, digits, '.', '_' or '-'";
export const SERIES_NAME_RULE = "a series name is a letter, then up to 63 letters, digits, '.', '_' or '-'";
