import * as assert from "assert";
import * as fs from "fs";
import { configTables, CONFIGURATION_DOC, renderConfigurationDoc } from "../../scripts/docs/docs";
import { DEFAULTS, STACK_KEYS } from "../../stacks/config";

/** The keys of a rendered table, in order. */
function keysOf(table: string): string[] {
    return [...table.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]);
}

describe("configuration tables (npm run docs)", () => {
    it("docs/configuration.md's tables are the ones the schema renders (run npm run docs after changing the schema)", () => {
        const doc = fs.readFileSync(CONFIGURATION_DOC, "utf8");
        assert.strictEqual(renderConfigurationDoc(doc), doc);
    });

    it("list every key each stack takes, under the top-level keys of STACK_KEYS", () => {
        const tables = configTables();
        const common = keysOf(tables.common);
        assert.strictEqual(common[0], "aws:region");
        for (const role of ["forensic", "security"] as const) {
            const tops = new Set([...common, ...keysOf(tables[role])].map((k) => k.split(".")[0]));
            assert.deepStrictEqual([...STACK_KEYS[role]].sort(), [...tops].filter((k) => k !== "aws:region").sort(), role);
        }
    });

    it("show the schema's defaults", () => {
        const tables = configTables();
        const rowOf = (table: string, key: string) => table.split("\n").find((l) => l.startsWith(`| \`${key}\` |`));
        assert.match(rowOf(tables.forensic, "evidence.objectLockDays") ?? "", new RegExp(`\\| \`${DEFAULTS.evidence.objectLockDays}\` \\|`));
        assert.match(rowOf(tables.forensic, "sift.buildInstanceTypes") ?? "", /\| `\[m6i\.large, m5\.large\]` \|/);
        assert.match(rowOf(tables.security, "moduleFactory.tools.lime.commit") ?? "", new RegExp(DEFAULTS.moduleFactory.tools.lime.commit));
        assert.match(rowOf(tables.common, "accounts.forensic") ?? "", /\| required \|/);
    });

    it("fail without the markers rather than losing a table", () => {
        assert.throws(() => renderConfigurationDoc("# no tables\n"), /no <!-- config:common -->/);
    });
});
