import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { PROJECT_ROOT } from "../support/pulumi";
import { sourceFiles } from "../support/sources";

const read = (file: string) => fs.readFileSync(path.join(PROJECT_ROOT, file), "utf8");

// Versions measured to work offline on Node 20 and 22 (ARCHITECTURE "Toolchain"); ranges would let npm
// pick @pulumi/pulumi releases that need Node 22, TypeScript 6/7 (breaks ts-node) or the mislabelled @pulumi/command.
const PINS: Record<string, string> = {
    "@pulumi/pulumi": "3.248.0",
    "@pulumi/aws": "7.48.0",
    "typescript": "5.9.3",
    "ts-node": "10.9.2",
    "mocha": "12.0.3",
    "@types/mocha": "10.0.10",
    "@types/node": "20.19.43",
};

describe("project files", () => {
    const pkg = JSON.parse(read("package.json"));
    const deps: Record<string, string> = { ...pkg.dependencies, ...pkg.devDependencies };

    it("pins every dependency to an exact version, with the measured pins", () => {
        for (const [name, version] of Object.entries(deps)) {
            assert.match(version, /^\d+\.\d+\.\d+$/, `${name} is not pinned exactly: ${version}`);
        }
        for (const [name, version] of Object.entries(PINS)) {
            assert.strictEqual(deps[name], version, name);
        }
        if (deps["@pulumi/command"] !== undefined) {
            assert.strictEqual(deps["@pulumi/command"], "1.2.1", "npm's latest @pulumi/command is a mislabelled old build");
        }
    });

    it("commits a lockfile that matches package.json", () => {
        const lock = JSON.parse(read("package-lock.json"));
        for (const [name, version] of Object.entries(deps)) {
            assert.strictEqual(lock.packages[`node_modules/${name}`]?.version, version, `lockfile has another ${name}`);
        }
    });

    it("runs stacks/index.ts as a TypeScript nodejs program", () => {
        const project = yaml.load(read("Pulumi.yaml")) as { name: string; runtime: { name: string; options: { typescript: boolean } } };
        assert.strictEqual(project.name, "ir-forensics");
        assert.strictEqual(project.runtime.name, "nodejs");
        assert.strictEqual(project.runtime.options.typescript, true);
        assert.strictEqual(pkg.main, "stacks/index.ts");
        assert.match(read("stacks/index.ts"), /export = main\(\);/);
    });

    it("has scripts for test, typecheck and lint, and test runs all three", () => {
        for (const script of ["test", "typecheck", "lint"]) {
            assert.ok(pkg.scripts[script], script);
        }
        assert.match(pkg.scripts.test, /typecheck.*lint.*mocha/);
        assert.match(read("README.md"), /npm ci && npm test/);
        assert.match(read(".ci/run"), /npm ci[\s\S]*npm test/);
    });

    it("compiles class fields into constructors, which Lambda serialization keeps", () => {
        // Native class fields (ES2022) are dropped when Pulumi serializes a class into a callback.
        const tsconfig = JSON.parse(read("tsconfig.json"));
        assert.strictEqual(tsconfig.compilerOptions.useDefineForClassFields, false);
    });

    it("keeps functions/ free of module-level clients, Sets and Maps, which Lambda serialization breaks", () => {
        const files = sourceFiles("functions");
        assert.ok(files.length > 20, `${files.length} files`);
        for (const file of files) {
            const source = fs.readFileSync(file, "utf8");
            assert.doesNotMatch(source, /^(?:export )?const \w+\s*(?::[^=]+)?=\s*new (?:Set|Map|WeakMap|WeakSet|\w+Client)\b/m, file);
        }
    });

    it("declares one ComponentResource per component file, with a project type token and registered outputs", () => {
        const files = sourceFiles("components");
        assert.ok(files.length > 15, `${files.length} files`);
        for (const file of files) {
            const source = fs.readFileSync(file, "utf8");
            const classes = source.match(/extends pulumi\.ComponentResource/g) ?? [];
            assert.ok(classes.length <= 1, `${file} declares ${classes.length} components`);
            if (classes.length === 1) {
                assert.match(source, /super\("ir-forensics:[a-z]+:[A-Z][A-Za-z]+", name/, `${file} type token`);
                assert.match(source, /this\.registerOutputs\(/, `${file} registerOutputs`);
                assert.doesNotMatch(source, /new pulumi\.Config\(/, `${file} reads config`);
            }
        }
    });
});
