/**
 * The AWSTOE component documents of imagebuilder/: structure checked against a JSON schema written from
 * the Image Builder user guide (imagebuilder/awstoe-component.schema.json), variables resolved, shell
 * blocks shellcheck-clean, downloads pinned and verified before use, and the tools proven to run.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import Ajv, { ValidateFunction } from "ajv";
import * as yaml from "js-yaml";
import { PROJECT_ROOT } from "../support/pulumi";

interface Step {
    name: string;
    action: string;
    inputs?: any;
    onFailure?: string;
}
interface Document {
    name: string;
    parameters?: Record<string, { type: string; default?: string }>[];
    constants?: Record<string, { type: string; value: string }>[];
    phases: { name: string; steps: Step[] }[];
}

const IMAGEBUILDER = path.join(PROJECT_ROOT, "imagebuilder");
const SIFT_DOCUMENT = path.join(IMAGEBUILDER, "sift-workstation.yml");

function load(file: string): Document {
    return yaml.load(fs.readFileSync(file, "utf8")) as Document;
}

function componentDocuments(): string[] {
    return fs.readdirSync(IMAGEBUILDER).filter((f) => /^sift-.*\.ya?ml$/.test(f)).map((f) => path.join(IMAGEBUILDER, f));
}

/** Declared variables with the value a build would use (parameters without a default get a sample). */
function variables(doc: Document): Record<string, string> {
    const out: Record<string, string> = {};
    for (const entry of doc.parameters ?? []) {
        for (const [name, p] of Object.entries(entry)) {
            out[name] = p.default ?? `sample-${name.toLowerCase()}`;
        }
    }
    for (const entry of doc.constants ?? []) {
        for (const [name, c] of Object.entries(entry)) {
            out[name] = c.value;
        }
    }
    return out;
}

function substitute(text: string, vars: Record<string, string>): string {
    return text.replace(/\{\{\s*([\w.:]+)\s*\}\}/g, (whole, name: string) => vars[name] ?? whole);
}

function step(doc: Document, phase: string, name: string): Step {
    const found = doc.phases.find((p) => p.name === phase)?.steps.find((s) => s.name === name);
    assert.ok(found, `no step ${phase}/${name}`);
    return found;
}

/** Shell text a step runs: ExecuteBash commands (one script), CreateFile contents that are shell scripts. */
function shellBlocks(doc: Document): { where: string; script: string }[] {
    const blocks: { where: string; script: string }[] = [];
    for (const phase of doc.phases) {
        for (const s of phase.steps) {
            if (s.action === "ExecuteBash") {
                blocks.push({ where: `${phase.name}/${s.name}`, script: `#!/bin/bash\n${s.inputs.commands.join("\n")}\n` });
            } else if (s.action === "CreateFile") {
                for (const file of s.inputs) {
                    if (/^#!.*\bbash\b/.test(file.content ?? "")) {
                        blocks.push({ where: `${phase.name}/${s.name} ${file.path}`, script: file.content });
                    }
                }
            }
        }
    }
    return blocks;
}

function semver(tag: string): number[] {
    return tag.replace(/^v/, "").split(".").map(Number);
}

function atLeast(version: string, minimum: string): boolean {
    const [a, b] = [semver(version), semver(minimum)];
    for (let i = 0; i < 3; i++) {
        if (a[i] !== b[i]) {
            return a[i] > b[i];
        }
    }
    return true;
}

describe("AWSTOE component documents", () => {
    let validate: ValidateFunction;
    before(() => {
        const ajv = new Ajv({ allErrors: true, strict: true });
        validate = ajv.compile(JSON.parse(fs.readFileSync(path.join(IMAGEBUILDER, "awstoe-component.schema.json"), "utf8")));
    });

    it("finds the SIFT document", () => {
        assert.deepStrictEqual(componentDocuments(), [SIFT_DOCUMENT]);
    });

    for (const file of componentDocuments()) {
        const label = path.basename(file);
        describe(label, () => {
            const doc = load(file);

            it("matches the AWSTOE document schema", () => {
                assert.ok(validate(doc), JSON.stringify(validate.errors, null, 2));
            });

            it("has the build, validate and test phases once each, and unique step names per phase", () => {
                assert.deepStrictEqual(doc.phases.map((p) => p.name), ["build", "validate", "test"]);
                for (const phase of doc.phases) {
                    const names = phase.steps.map((s) => s.name);
                    assert.deepStrictEqual(names, [...new Set(names)], `${phase.name} repeats a step name`);
                }
                const declared = [...(doc.parameters ?? []), ...(doc.constants ?? [])].flatMap((e) => Object.keys(e));
                assert.deepStrictEqual(declared, [...new Set(declared)], "a variable is declared twice");
            });

            it("refers only to declared parameters and constants", () => {
                const vars = variables(doc);
                const text = JSON.stringify(doc.phases);
                const used = [...text.matchAll(/\{\{\s*([\w.:]+)\s*\}\}/g)].map((m) => m[1]);
                assert.ok(used.length > 0);
                assert.deepStrictEqual(used.filter((name) => !(name in vars)), []);
            });

            it("has shellcheck-clean shell in every step", function () {
                this.timeout(60_000);
                const blocks = shellBlocks(doc);
                assert.ok(blocks.length >= 8, `only ${blocks.length} shell blocks found`);
                const dir = fs.mkdtempSync(path.join(os.tmpdir(), "awstoe-"));
                try {
                    const files = blocks.map((b, i) => {
                        const f = path.join(dir, `${String(i).padStart(2, "0")}-${b.where.replace(/[^\w.-]+/g, "_")}.sh`);
                        fs.writeFileSync(f, substitute(b.script, variables(doc)));
                        return f;
                    });
                    const result = spawnSync("shellcheck", ["--severity=style", "--shell=bash", ...files], { encoding: "utf8" });
                    assert.ok(!result.error, "shellcheck is required (README Prerequisites)");
                    assert.strictEqual(result.status, 0, `shellcheck findings:\n${result.stdout}${result.stderr}`);
                } finally {
                    fs.rmSync(dir, { recursive: true, force: true });
                }
            });
        });
    }

    describe("the schema", () => {
        const good = (): any => load(SIFT_DOCUMENT);
        const mutations: Array<[string, (d: any) => void]> = [
            ["an unknown phase", (d) => { d.phases[0].name = "install"; }],
            ["a step without an action", (d) => { delete d.phases[0].steps[0].action; }],
            ["an unknown action module", (d) => { d.phases[0].steps[0].action = "RunShell"; }],
            ["ExecuteBash without commands", (d) => { d.phases[0].steps[0].inputs = { command: "true" }; }],
            ["an unknown onFailure", (d) => { d.phases[0].steps[0].onFailure = "Retry"; }],
            ["a zero timeout", (d) => { d.phases[0].steps[0].timeoutSeconds = 0; }],
            ["a CreateFile without a path", (d) => { delete d.phases[0].steps.find((s: Step) => s.action === "CreateFile").inputs[0].path; }],
            ["a constant without a value", (d) => { delete d.constants[0].CastVersion.value; }],
            ["a parameter of another type", (d) => { d.parameters[0].ModuleStoreBucket.type = "integer"; }],
            ["an unknown top-level key", (d) => { d.version = "1.0.0"; }],
            ["no phases", (d) => { d.phases = []; }],
        ];
        for (const [what, mutate] of mutations) {
            it(`rejects ${what}`, () => {
                const doc = good();
                mutate(doc);
                assert.strictEqual(validate(doc), false);
            });
        }
    });

    describe("the SIFT workstation document", () => {
        const doc = load(SIFT_DOCUMENT);
        const vars = variables(doc);

        it("pins cast at v0.14.52 or later and checks the archive's SHA-256 before extracting it", () => {
            assert.ok(atLeast(vars.CastVersion, "v0.14.52"), `cast ${vars.CastVersion} is older than v0.14.52 (older releases no longer install SIFT)`);
            assert.match(vars.CastSha256, /^[0-9a-f]{64}$/);
            const script = substitute(step(doc, "build", "InstallCast").inputs.commands.join("\n"), vars);
            assert.ok(script.includes(`https://github.com/ekristen/cast/releases/download/${vars.CastVersion}/`), script);
            const check = script.indexOf(`echo "${vars.CastSha256}  `);
            assert.ok(check > 0 && script.includes("sha256sum --check --strict -"), "no SHA-256 check of the cast archive");
            assert.ok(check < script.indexOf("tar -x") && check < script.indexOf("install -m"), "the archive is used before its hash is checked");
            assert.match(script, /set -euo pipefail/);
        });

        it("installs SIFT in server mode through cast", () => {
            const script = step(doc, "build", "InstallSift").inputs.commands.join("\n");
            assert.match(script, /cast install --mode=server [^\n]*teamdfir\/sift-saltstack/);
        });

        it("pins Volatility 3 and installs only the sdist whose SHA-256 it checked", () => {
            assert.match(vars.Volatility3Version, /^\d+\.\d+\.\d+$/);
            assert.match(vars.Volatility3Sha256, /^[0-9a-f]{64}$/);
            const script = substitute(step(doc, "build", "InstallVolatility3").inputs.commands.join("\n"), vars);
            assert.ok(script.includes(`volatility3==${vars.Volatility3Version}`));
            assert.match(script, /--no-deps --no-binary :all:/);
            const check = script.indexOf(`echo "${vars.Volatility3Sha256}  $sdist" | sha256sum --check --strict -`);
            assert.ok(check > 0, "no SHA-256 check of the sdist");
            assert.ok(check < script.indexOf('install --no-cache-dir "$sdist"'), "installed before the check");
        });

        it("syncs the module store's symbols/ into the symbol directory vol searches first, without failing the build", () => {
            const sync = step(doc, "build", "SyncSymbols");
            assert.strictEqual(sync.onFailure, "Continue");
            assert.deepStrictEqual(sync.inputs.commands, ['/usr/local/sbin/ir-forensics-sync-symbols "{{ ModuleStoreBucket }}" "{{ SymbolsPrefix }}" "{{ ModuleStoreRegion }}"']);
            assert.strictEqual(vars.SymbolsPrefix, "symbols/");
            const files = Object.fromEntries(doc.phases[0].steps.filter((s) => s.action === "CreateFile").flatMap((s) => s.inputs).map((f: any) => [f.path, f.content]));
            assert.match(files["/usr/local/sbin/ir-forensics-sync-symbols"], /aws s3 sync --region "\$region" [^\n]*"s3:\/\/\$\{bucket\}\/\$\{prefix\}" \/opt\/volatility3\/symbols\/linux\/$/m);
            assert.match(files["/usr/local/bin/vol"], /--symbol-dirs \/opt\/volatility3\/symbols/);
            assert.ok(files["/usr/local/bin/vol"].includes(`${vars.Volatility3Home}/venv/bin/vol`));
        });

        it("installs the tools that mount ext4, XFS, NTFS and LVM evidence", () => {
            const script = step(doc, "build", "InstallMountTools").inputs.commands.join("\n");
            for (const pkg of ["e2fsprogs", "xfsprogs", "ntfs-3g", "lvm2", "ec2-instance-connect"]) {
                assert.match(script, new RegExp(`\\b${pkg}\\b`), pkg);
            }
        });

        it("proves in validate and test that the tools run", () => {
            for (const phase of ["validate", "test"]) {
                const script = step(doc, phase, "ToolsRun").inputs.commands.join("\n");
                for (const command of ["vol --help", "log2timeline.py --version", "fls -V"]) {
                    assert.ok(script.includes(command), `${phase} does not run ${command}`);
                }
                assert.ok(substitute(script, vars).includes(`grep -F "Volatility 3 Framework ${vars.Volatility3Version}"`), `${phase} does not check vol's version`);
                assert.doesNotMatch(script, /\|\| true/, `${phase} hides a failure`);
            }
        });

        it("tests on the image the same read-only mount options the workstation uses", () => {
            const test = step(doc, "test", "ReadOnlyMounts").inputs.commands.join("\n");
            const mount = fs.readFileSync(path.join(IMAGEBUILDER, "mount-evidence.sh"), "utf8");
            for (const [fs_, options] of [["ext4", "ro,noload"], ["xfs", "ro,norecovery,nouuid"]]) {
                assert.ok(test.includes(`check ${fs_} ${options}`), `test phase does not check ${fs_} ${options}`);
                assert.match(mount, new RegExp(`type=${fs_} options=${options}\\b`));
            }
        });
    });

    describe("the workstation's vol wrapper", function () {
        let dir: string;
        let wrapper: string;
        before(function () {
            const step = load(SIFT_DOCUMENT).phases.flatMap((p) => p.steps).find((st) => st.name === "VolatilityWrapper");
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "irf-vol-wrapper-"));
            wrapper = path.join(dir, "vol");
            fs.writeFileSync(wrapper, step!.inputs[0].content, { mode: 0o755 });
        });
        after(() => fs.rmSync(dir, { recursive: true, force: true }));

        /** Runs the wrapper over a stand-in Volatility that prints `output` and exits with `code`. */
        function run(args: string[], output: string, code = 0) {
            const fake = path.join(dir, "fake-vol");
            fs.writeFileSync(fake, `#!/bin/sh\nprintf '%s' '${output.replace(/'/g, "'\\''")}'\nexit ${code}\n`, { mode: 0o755 });
            return spawnSync("bash", [wrapper, ...args], { encoding: "utf8", env: { ...process.env, IRF_VOL: fake } });
        }
        const HEADER = "Volatility 3 Framework 2.28.2\n\nOFFSET (V)\tPID\tTID\tPPID\tCOMM\n\n";

        it("fails a process list with no process (symbols that do not fit, 5-level paging), with a hint", function () {
            const r = run(["-f", "x.lime", "linux.pslist"], HEADER);
            assert.strictEqual(r.status, 3);
            assert.match(r.stderr, /linux\.pslist listed no process.*banners\.Banners.*5-level paging/);
            assert.strictEqual(run(["-r", "json", "-f", "x.lime", "linux.psaux"], "[]\n").status, 3);
        });

        it("passes a process list with processes, and every other plugin through unchanged", function () {
            const r = run(["-f", "x.lime", "linux.pslist"], `${HEADER}0x9a\t1\t1\t0\tinit\n`);
            assert.strictEqual(r.status, 0, r.stderr);
            assert.match(r.stdout, /\tinit/);
            assert.strictEqual(run(["-f", "x.lime", "linux.sockstat"], HEADER).status, 0);
            assert.strictEqual(run(["-f", "x.lime", "linux.pslist"], "", 1).status, 1, "Volatility's own failure is kept");
        });
    });
});
