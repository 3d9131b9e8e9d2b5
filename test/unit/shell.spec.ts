import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { PROJECT_ROOT } from "../support/pulumi";

const SKIP = new Set(["node_modules", ".git", ".cache", "bin"]);

/** Every shell script of the project: by extension, or by a sh/bash shebang. */
function shellFiles(dir: string): string[] {
    const found: string[] = [];
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) {
            if (!SKIP.has(entry.name)) {
                found.push(...shellFiles(full));
            }
        } else if (entry.isFile()) {
            const head = fs.readFileSync(full, { encoding: "utf8", flag: "r" }).slice(0, 64);
            if (/\.(sh|bash)$/.test(entry.name) || /^#!.*\b(ba)?sh\b/.test(head)) {
                found.push(full);
            }
        }
    }
    return found;
}

describe("shell scripts", () => {
    it("are all shellcheck-clean", function () {
        const version = spawnSync("shellcheck", ["--version"], { encoding: "utf8" });
        if (version.error) {
            assert.fail("shellcheck is required (README Prerequisites): install it with `apt-get install shellcheck` or `brew install shellcheck`");
        }
        const files = shellFiles(PROJECT_ROOT);
        assert.ok(files.some((f) => f.endsWith(path.join(".ci", "run"))), "the CI script was not found");
        const result = spawnSync("shellcheck", ["--severity=style", "--external-sources", ...files], { encoding: "utf8", cwd: PROJECT_ROOT });
        assert.strictEqual(result.status, 0, `shellcheck findings:\n${result.stdout}${result.stderr}`);
    });
});
