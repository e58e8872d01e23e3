// House rules: ESLint's and typescript-eslint's recommended rules over the TypeScript of the actions,
// the site's data layer, the tests and the scripts. Formatting is prettier's (.prettierrc.json).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "**/dist/**",
      "node_modules/**",
      "site/.astro/**",
      "site/dist/**",
      "test/__kubernetes_manifests__.ts",
      "actions/lib/src/contracts/validators.js",
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    // Plain JavaScript scripts run on Node: its globals.
    files: ["**/*.mjs", "**/*.js"],
    languageOptions: {
      globals: Object.fromEntries(
        [
          "process",
          "Buffer",
          "console",
          "fetch",
          "setTimeout",
          "clearTimeout",
          "setInterval",
          "clearInterval",
          "URL",
          "AbortController",
        ].map((name) => [name, "readonly"]),
      ),
    },
  },
  {
    files: ["**/*.ts", "**/*.mjs", "**/*.js"],
    rules: {
      // Unused values are errors, except names marked unused on purpose with a leading underscore.
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" },
      ],
    },
  },
);
