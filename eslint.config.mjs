// Lint rules for the whole program: typescript-eslint's recommended set, plus the few rules that
// keep infrastructure code honest (no floating promises are caught by tsc's strictness instead).
import js from "@eslint/js";
import { createNodeResolver, importX } from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

// The layout's dependency direction (docs/development.md "Layout"): each zone's `target` may not import
// from its `from`. Deployed code never imports the harness, the commands or the tests; components never
// read config; within functions/ and components/ the areas import in one direction only.
const DEPLOYED = ["./functions", "./components", "./stacks", "./bootstrap", "./policy"];
const FUNCTION_AREAS = ["shared", "response", "acquisition", "factory", "workstation"];
const COMPONENT_AREAS = ["shared", "member", "forensic", "security"];
/** `area` may import only the areas listed for it (and itself). */
const ALLOWED = {
    functions: { shared: [], acquisition: ["shared"], factory: ["shared"], workstation: ["shared", "acquisition"], response: ["shared", "acquisition", "factory", "workstation"] },
    components: { shared: [], member: ["shared"], forensic: ["shared"], security: ["shared", "member"] },
};
const areaZones = (folder, areas) => areas.map((area) => ({
    target: `./${folder}/${area}`,
    from: areas.filter((other) => other !== area && !ALLOWED[folder][area].includes(other)).map((other) => `./${folder}/${other}`),
    message: `${folder}/${area} may import only ${[...ALLOWED[folder][area], area].map((a) => `${folder}/${a}`).join(", ")} (docs/development.md "Layout")`,
})).filter((zone) => zone.from.length > 0);
const LAYOUT_ZONES = [
    { target: DEPLOYED, from: ["./emulator", "./scripts", "./test"], message: "deployed code never imports the emulator, the commands or the tests" },
    { target: "./emulator", from: ["./scripts", "./test"], message: "the emulator serves the commands and the tests, it never imports them" },
    { target: "./scripts", from: ["./test"], message: "the commands never import the tests" },
    { target: "./components", from: ["./stacks"], message: "components take typed Args and never read config: stacks/ imports components, not the other way" },
    { target: "./functions", from: ["./components", "./stacks"], message: "the Lambda logic takes its settings as parameters: it never imports components or stacks" },
    ...areaZones("functions", FUNCTION_AREAS),
    ...areaZones("components", COMPONENT_AREAS),
];

export default tseslint.config(
    { ignores: ["node_modules/**", "bin/**", ".cache/**"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        files: ["**/*.ts"],
        rules: {
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
            "eqeqeq": ["error", "always", { null: "ignore" }],
            "no-console": "off",
            "prefer-const": "error",
        },
    },
    {
        files: ["**/*.ts", "**/*.js"],
        plugins: { "import-x": importX },
        settings: {
            // Without these, dependencies that are not .js are not parsed, and no-cycle sees no cycle.
            "import-x/extensions": [".ts", ".js"],
            "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
            "import-x/resolver-next": [createNodeResolver({ extensions: [".ts", ".js", ".json"] })],
        },
        rules: {
            "import-x/no-cycle": ["error", { ignoreExternal: true }],
            "import-x/no-restricted-paths": ["error", { zones: LAYOUT_ZONES }],
        },
    },
    {
        // Tests inspect untyped JSON (recorded resource inputs, policy documents).
        files: ["test/**/*.ts"],
        rules: { "@typescript-eslint/no-explicit-any": "off" },
    },
    {
        files: ["**/*.js", "**/*.cjs"],
        rules: { "@typescript-eslint/no-require-imports": "off" },
    },
    {
        files: ["**/*.js", "**/*.mjs", "**/*.cjs"],
        languageOptions: { globals: { require: "readonly", module: "writable", process: "readonly", console: "readonly", __dirname: "readonly" } },
    },
);
