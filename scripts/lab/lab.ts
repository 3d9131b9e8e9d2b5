/**
 * npm run lab: the real forensic tools meet the project's code, offline, traffic on 127.0.0.1 only.
 *
 *   npm run lab -- [--ram-mib 320] [--cases lime,avml-no-module,avml-lockdown] [--install] [--prepare] [--json]
 *
 * 1. checks what it needs (Debian's qemu-system-x86, debootstrap, the current Debian kernel with its headers,
 *    socat, the builder's tools; cargo; python3-venv) and names the command that installs what is missing
 *    (--install runs them, as root);
 * 2. builds the suspect guest (a debootstrap root whose PID 1 plants processes and shell history, then plays
 *    the SSM agent: scripts/lab/guest-init.sh), LiME with the module factory's own builder script
 *    (imagebuilder/build-modules.sh, LiME's source from Debian's lime-forensics-dkms), AVML 0.20.0 from
 *    crates.io and Volatility 3 from PyPI (the workstation's pin), all cached under .cache/lab/ (--prepare
 *    stops here); the AVML stand-in of the tests is compared with the real binary's command line;
 * 3. per case, boots the guest in QEMU (KVM when it can run a stock kernel, TCG otherwise, 5-level paging off)
 *    and runs the drill against it: both stacks deployed onto moto behind the strict layer, the response
 *    started by the tag, the engine's real memory branch sending the member Command document, which the SSM
 *    host emulator runs inside the guest; the guest's uploads leave through the instance's network gate;
 *    the engine completes and verifies the upload, and the case is verified as `npm run verify` does;
 * 4. reads every stored image with Volatility 3.
 *
 * Cases: lime (the module the builder made for the guest's kernel), avml-no-module (no module for the kernel;
 * /dev/shm noexec, so AVML runs from the script's private tmpfs), avml-lockdown (lockdown=integrity: insmod is
 * refused, the reason is named, AVML reads /proc/kcore; /dev/shm noexec too).
 *
 * The guest has 320 MiB by default: the drill's victim is the smallest instance type (t3.nano, 512 MiB), and
 * the engine rejects a capture under half the instance's memory, which a 256 MiB guest's image (255.5 MiB) is.
 *
 * Exit code 0 when every case passed, 1 when one failed (the summary names the stage), 2 on bad arguments.
 * The last line is "lab: N passed, M failed".
 */
import "../../emulator/node-compat";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { parseArgs } from "util";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import type { Readable } from "stream";
import { emptyIndex } from "../../functions/factory/moduleIndex";
import { limeWalker, parseHostReport } from "../../functions/acquisition/memory";
import { DrillReport, Progress, parseDrillArgs, runDrill } from "../drill/drill";
import { cachePath } from "../../emulator/paths";
import { AVML_STAND_IN } from "../../emulator/host/ssm-host";
import { run } from "./commands";
import { Guest, bootGuest, guestRoot } from "./guest";
import { AVML_VERSION, avml, avmlStandInConformance, buildModuleStore, stageAvml, currentKernel, dwarf2json, limeSource, prerequisites, volatility } from "./tools";

const CASES = {
    "lime": { append: "", expectTool: "lime", module: true },
    "avml-no-module": { append: "irf.shm=noexec", expectTool: "avml", module: false },
    "avml-lockdown": { append: "lockdown=integrity irf.shm=noexec", expectTool: "avml", module: true },
} as const;
type CaseName = keyof typeof CASES;

interface Stage {
    stage: string;
    ok: boolean;
    ms: number;
    detail?: string;
}

interface CaseResult {
    case: CaseName;
    ok: boolean;
    failedStage?: string;
    stages: Stage[];
    guest?: Guest["info"];
    tool?: string | null;
    source?: string | null;
    bytes?: number;
    hashes?: { host: string | null; engine?: string; verify?: string; lab?: string };
    limeWalk?: { ranges: number; matchesIomem: boolean; complete: boolean; error?: string };
    banner?: string;
    hostErrors?: string[];
    lockdown?: string | null;
    taint?: unknown;
    plugins?: Record<string, { ok: boolean; ms: number; detail: string }>;
    captureMiBps?: number;
    sha256sumMiBps?: number;
}

function usage(message: string): never {
    process.stderr.write(`lab: ${message}\n`);
    process.exit(2);
}

async function main(): Promise<void> {
    const { values } = parseArgs({
        args: process.argv.slice(2),
        options: {
            "ram-mib": { type: "string", default: "320" },
            "cases": { type: "string", default: Object.keys(CASES).join(",") },
            "install": { type: "boolean", default: false },
            "prepare": { type: "boolean", default: false },
            "json": { type: "boolean", default: false },
        },
    });
    const ramMiB = Number(values["ram-mib"]);
    if (!Number.isInteger(ramMiB) || ramMiB < 192 || ramMiB > 8192) {
        usage("--ram-mib must be an integer from 192 to 8192");
    }
    const cases = String(values.cases).split(",").filter(Boolean) as CaseName[];
    for (const c of cases) {
        if (!(c in CASES)) {
            usage(`unknown case ${c} (known: ${Object.keys(CASES).join(", ")})`);
        }
    }
    const out = values.json ? process.stderr : process.stdout;
    const log = (line: string) => out.write(`${line}\n`);
    const cacheDir = cachePath("lab");
    fs.mkdirSync(cacheDir, { recursive: true });
    const setup: Stage[] = [];
    const timed = stageRunner(setup, log, "");
    let results: CaseResult[] = [];
    let symbolsReason: string | undefined;
    try {
        const kernel = await timed("kernel", currentKernel, (k) => k);
        const missing = (await prerequisites(kernel)).filter((p) => !p.ok);
        if (missing.length > 0 && values.install) {
            const packages = [...new Set(missing.flatMap((p) => p.packages ?? []))];
            await timed("apt-get update", () => run("apt-get", ["update", "-q"]));
            await timed("install", () => run("apt-get", ["install", "-y", "-q", "--no-install-recommends", ...packages], { env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } }), () => packages.join(" "));
        }
        const still = (await prerequisites(kernel)).filter((p) => !p.ok);
        if (still.length > 0) {
            throw new StageError("prerequisites", still.map((p) => `${p.what} is missing: ${p.install}`).join("; "));
        }
        const root = await timed("guest root", () => guestRoot(cacheDir, log), (r) => path.basename(r));
        const lime = await timed("LiME source", () => limeSource(cacheDir), (l) => `lime-forensics-dkms ${l.version}`);
        const avmlTool = await timed("AVML", () => avml(cacheDir), (a) => `${AVML_VERSION}, sha256 ${a.sha256.slice(0, 16)}…${a.builtMs ? `, built in ${(a.builtMs / 1000).toFixed(1)} s` : ", cached"}`);
        await timed("AVML stand-in = AVML 0.20.0", async () => {
            const differences = await avmlStandInConformance(avmlTool.bin, AVML_STAND_IN);
            if (differences.length > 0) {
                throw new Error(differences.join("; "));
            }
        }, () => "same exit codes and messages for the old command line, --version, bad --source, missing FILENAME, unknown flag");
        const vol = await timed("Volatility 3", () => volatility(cacheDir), (v) => v.version);
        const d2j = await dwarf2json(cacheDir);
        symbolsReason = d2j.reason;
        log(d2j.bin ? `lab: dwarf2json ${d2j.bin}` : `lab: symbols: ${d2j.reason}`);
        if (values.prepare) {
            log("lab: prepared (tools built and cached; no case run)");
            return;
        }
        for (const name of cases) {
            results.push(await runLabCase(name, { kernel, root, ramMiB, cacheDir, lime, avml: avmlTool, vol: vol.vol, dwarf2json: d2j.bin, log }));
        }
    } catch (err) {
        if (!(err instanceof StageError)) {
            throw err;
        }
        log(`lab: FAILED at ${err.stage}: ${err.message}`);
        results = results.length > 0 ? results : cases.map((c) => ({ case: c, ok: false, failedStage: err.stage, stages: setup }));
    }
    for (const r of results) {
        printCase(r, log);
    }
    if (symbolsReason) {
        log(`lab: Volatility ran without a symbol table (banners only): ${symbolsReason}`);
    }
    if (values.json) {
        process.stdout.write(`${JSON.stringify({ setup, cases: results, symbols: symbolsReason ?? "available" }, null, 2)}\n`);
    }
    const passed = results.filter((r) => r.ok).length;
    log(`lab: ${passed} passed, ${results.length - passed} failed`);
    process.exitCode = passed === results.length ? 0 : 1;
}

/**
 * Runs named stages, recording each with its time; a failure is recorded, reported to `onFailure`, and
 * rethrown as a StageError that names the stage.
 */
function stageRunner(stages: Stage[], log: (line: string) => void, prefix: string, onFailure?: (stage: string) => void) {
    return async <T>(stage: string, fn: () => Promise<T>, detail?: (v: T) => string): Promise<T> => {
        const started = Date.now();
        try {
            const value = await fn();
            const ms = Date.now() - started;
            stages.push({ stage, ok: true, ms, detail: detail?.(value) });
            log(`lab: ${prefix}${stage} ok (${(ms / 1000).toFixed(1)} s)${detail ? `: ${detail(value)}` : ""}`);
            return value;
        } catch (err) {
            stages.push({ stage, ok: false, ms: Date.now() - started, detail: (err as Error).message });
            onFailure?.(stage);
            throw err instanceof StageError ? err : new StageError(stage, (err as Error).message);
        }
    };
}

class StageError extends Error {
    constructor(readonly stage: string, message: string) {
        super(message);
    }
}

interface CaseContext {
    kernel: string;
    root: string;
    ramMiB: number;
    cacheDir: string;
    lime: { dir: string; version: string };
    avml: { bin: string; sha256: string };
    vol: string;
    dwarf2json?: string;
    log: (line: string) => void;
}

/** One case: boot, drill (deploy, respond, capture in the guest, complete, verify), then Volatility. */
async function runLabCase(name: CaseName, ctx: CaseContext): Promise<CaseResult> {
    const spec = CASES[name];
    const result: CaseResult = { case: name, ok: false, stages: [] };
    const runDir = path.join(ctx.cacheDir, "runs", name);
    fs.rmSync(runDir, { recursive: true, force: true });
    fs.mkdirSync(runDir, { recursive: true });
    const stage = stageRunner(result.stages, ctx.log, `${name}: `, (failed) => { result.failedStage = failed; });
    let guest: Guest | undefined;
    try {
        guest = await stage("boot", () => bootGuest({
            kernel: `/boot/vmlinuz-${ctx.kernel}`, initrd: `/boot/initrd.img-${ctx.kernel}`, root: ctx.root, ramMiB: ctx.ramMiB,
            append: spec.append, consoleLog: path.join(runDir, "console.log"), log: ctx.log,
        }), (g) => `${g.info.kernelRelease}, ${g.info.accel}, lockdown ${g.info.lockdown}, ${g.info.ramRanges.length} RAM ranges`);
        result.guest = guest.info;
        const booted = guest;
        const imagePath = path.join(runDir, "memory.lime");
        let hostReport: ReturnType<typeof parseHostReport>;
        let captureMs = 0;
        let builderMs = 0;
        // The guest runs the commands; its report is kept as SSM returned it.
        const executor: Guest = {
            ...booted,
            async run(job, output) {
                const started = Date.now();
                let stdout = "";
                const done = await booted.run(job, { stdout: (t) => { stdout += t; output.stdout(t); }, stderr: output.stderr });
                captureMs = Date.now() - started;
                hostReport = parseHostReport(stdout) ?? hostReport;
                return done;
            },
        };
        let walk: CaseResult["limeWalk"];
        let labSha = "";
        const drillOptions = { ...parseDrillArgs(["--instances", "1", "--ram-mib", String(ctx.ramMiB), "--ssm-reregister-seconds", "5"]), json: true };
        const progress = new Progress(false, fs.createWriteStream(path.join(runDir, "drill.log")));
        const report: DrillReport = await stage("drill", () => runDrill(drillOptions, progress, {
            seedModuleStore: async (store) => {
                const started = Date.now();
                if (spec.module) {
                    await buildModuleStore({
                        cacheDir: ctx.cacheDir, kernel: ctx.kernel, endpoint: store.endpoint, bucket: store.bucket, region: store.region,
                        builderCredentials: store.builderCredentials, builder: store.builder, indexer: store.indexer,
                        limeDir: ctx.lime.dir, limeVersion: ctx.lime.version, dwarf2jsonBin: ctx.dwarf2json, avml: ctx.avml,
                    });
                } else {
                    await stageAvml(store.indexer, store.bucket, ctx.avml, emptyIndex(new Date().toISOString()));
                }
                builderMs = Date.now() - started;
            },
            victimHost: (_id, host) => ({ ...host, kernelRelease: ctx.kernel, image: Buffer.alloc(0), executor, platformName: "Debian GNU/Linux" }),
            isHostImage: async (_id, artifact, investigator) => {
                const got = await investigator.send(new GetObjectCommand({ Bucket: artifact.bucket, Key: artifact.key, VersionId: artifact.versionId }));
                const ranges: { start: bigint; end: bigint }[] = [];
                const walker = limeWalker((start, end) => ranges.push({ start, end }));
                const hash = createHash("sha256");
                const file = fs.createWriteStream(imagePath);
                for await (const chunk of got.Body as Readable) {
                    walker.update(chunk as Buffer);
                    hash.update(chunk as Buffer);
                    file.write(chunk);
                }
                await new Promise<void>((resolve) => file.end(resolve));
                const structure = walker.finish();
                labSha = hash.digest("hex");
                // LiME dumps the "System RAM" ranges of /proc/iomem as they are; AVML reading /proc/kcore dumps
                // their intersection with kcore's segments (Snapshot::find_kcore_blocks): inside them, never outside.
                const expected = booted.info.ramRanges;
                const matchesIomem = hostReport?.tool === "lime"
                    ? ranges.length === expected.length && ranges.every((r, i) => r.start === expected[i].start && r.end === expected[i].end)
                    : ranges.length > 0 && ranges.every((r) => expected.some((e) => r.start >= e.start && r.end <= e.end));
                walk = { ranges: structure.ranges, matchesIomem, complete: structure.complete, ...(structure.error ? { error: structure.error } : {}) };
                return structure.complete && matchesIomem && labSha === artifact.sha256;
            },
        }), (r) => `${r.summary.contained}/${r.summary.instances} contained, ${r.summary.artifactsVerified}/${r.summary.artifacts} artifacts verified, strict layer: ${Object.values(r.summary.strict?.refused ?? {}).reduce((n, v) => n + v, 0)} refused of ${Object.values(r.summary.strict?.requests ?? {}).reduce((n, v) => n + v, 0)} requests`);
        result.stages.push({ stage: "module store", ok: true, ms: builderMs });
        const c = report.cases[0];
        const memory = c?.artifacts.find((a) => a.kind === "memory");
        result.tool = hostReport?.tool ?? null;
        result.source = hostReport?.source ?? null;
        result.bytes = memory?.bytes;
        result.hostErrors = hostReport?.errors;
        result.lockdown = hostReport?.lockdown;
        result.taint = hostReport?.taint;
        result.hashes = { host: hostReport?.sha256 ?? null, engine: memory?.sha256, verify: memory?.storedSha256, lab: labSha };
        result.limeWalk = walk;
        result.captureMiBps = memory?.bytes && captureMs ? Math.round((memory.bytes / 1048576 / (captureMs / 1000)) * 10) / 10 : undefined;
        await stage("capture", async () => {
            const failures: string[] = [];
            if (!memory || memory.verification !== "verified") {
                failures.push(`no verified memory artifact (${c?.missing.map((m) => `${m.kind}: ${m.reason}`).join("; ") || c?.error || "none recorded"})`);
            }
            if (result.tool !== spec.expectTool) {
                failures.push(`captured with ${result.tool ?? "nothing"}, expected ${spec.expectTool}`);
            }
            const hashes = result.hashes ?? { host: null };
            if (!hashes.host || hashes.host !== hashes.engine || hashes.engine !== hashes.verify || hashes.verify !== hashes.lab) {
                failures.push(`hashes differ: host ${hashes.host}, engine ${hashes.engine}, verify ${hashes.verify}, lab ${hashes.lab}`);
            }
            if (!walk?.complete || !walk.matchesIomem) {
                failures.push(`LiME walk: ${walk ? `${walk.ranges} ranges, complete ${walk.complete}, matches /proc/iomem ${walk.matchesIomem}${walk.error ? `, ${walk.error}` : ""}` : "not done"}`);
            }
            if (name === "avml-lockdown" && !(hostReport?.errors ?? []).some((e) => /kernel lockdown \(integrity\)/.test(e))) {
                failures.push(`the lockdown refusal is not named: ${(hostReport?.errors ?? []).join("; ")}`);
            }
            if (failures.length > 0) {
                throw new Error(failures.join("; "));
            }
        }, () => `${result.tool} from ${result.source}, ${result.bytes} B, ${result.captureMiBps} MiB/s, sha256 ${result.hashes?.host?.slice(0, 16)}… (host = engine = verify = lab)`);
        // The host script's rate against one sha256sum of as many bytes, in the same guest.
        await stage("guest sha256sum", async () => {
            const bytes = memory?.bytes ?? 0;
            let text = "";
            await booted.run({
                id: `bench-${name}`, proxyUrl: "http://127.0.0.1:9", timeoutSeconds: 900,
                script: `t0=$(date +%s%N); head -c ${bytes} /dev/zero | sha256sum >/dev/null; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 ))\n`,
            }, { stdout: (t) => { text += t; }, stderr: () => undefined });
            const ms = Number(text.trim());
            result.sha256sumMiBps = ms > 0 ? Math.round((bytes / 1048576 / (ms / 1000)) * 10) / 10 : undefined;
        }, () => `${result.sha256sumMiBps} MiB/s (host script ${result.captureMiBps} MiB/s, ratio ${result.sha256sumMiBps && result.captureMiBps ? (result.captureMiBps / result.sha256sumMiBps).toFixed(2) : "?"})`);
        result.plugins = {};
        await stage("volatility", async () => {
            const banners = await timedPlugin(ctx.vol, imagePath, "banners.Banners", []);
            result.plugins!["banners.Banners"] = banners;
            result.banner = /Linux version \S+/.exec(banners.detail)?.[0];
            if (!banners.ok || !banners.detail.includes(`Linux version ${ctx.kernel}`)) {
                throw new Error(`banners.Banners did not find the guest's kernel banner: ${banners.detail.slice(0, 300)}`);
            }
        }, () => `${result.banner}`);
    } catch (err) {
        if (!result.failedStage) {
            result.failedStage = "drill";
            result.stages.push({ stage: "drill", ok: false, ms: 0, detail: (err as Error).message });
        }
        ctx.log(`lab: ${name}: FAILED at ${result.failedStage}: ${(err as Error).message}`);
    } finally {
        await guest?.stop();
    }
    result.ok = !result.failedStage;
    return result;
}

async function timedPlugin(vol: string, image: string, plugin: string, extra: string[]): Promise<{ ok: boolean; ms: number; detail: string }> {
    const started = Date.now();
    try {
        const r = await run(vol, ["-q", "-f", image, ...extra, plugin]);
        return { ok: true, ms: Date.now() - started, detail: r.stdout };
    } catch (err) {
        return { ok: false, ms: Date.now() - started, detail: (err as Error).message };
    }
}

function printCase(r: CaseResult, log: (line: string) => void): void {
    log(`\ncase ${r.case}: ${r.ok ? "PASSED" : `FAILED at ${r.failedStage}`}`);
    if (r.guest) {
        log(`  guest      ${r.guest.kernelRelease} (${r.guest.accel}), lockdown ${r.guest.lockdown}, boot ${(r.guest.bootMs / 1000).toFixed(1)} s, la57 ${r.guest.la57}`);
    }
    if (r.tool !== undefined) {
        log(`  tool       ${r.tool ?? "none"}${r.source ? ` (${r.source})` : ""}, ${r.bytes ?? 0} bytes, ${r.captureMiBps ?? "?"} MiB/s in the guest (sha256sum alone ${r.sha256sumMiBps ?? "?"} MiB/s)`);
        log(`  sha256     host ${r.hashes?.host ?? "none"}`);
        log(`             engine ${r.hashes?.engine ?? "none"}, verify ${r.hashes?.verify ?? "none"}, lab ${r.hashes?.lab ?? "none"}`);
        log(`  LiME walk  ${r.limeWalk ? `${r.limeWalk.ranges} ranges, complete ${r.limeWalk.complete}, ${r.tool === "lime" ? "=" : "within"} /proc/iomem's System RAM: ${r.limeWalk.matchesIomem}` : "not done"}`);
        log(`  banner     ${r.banner ?? "not seen"}`);
        log(`  host notes lockdown ${r.lockdown ?? "?"}, taint ${JSON.stringify(r.taint ?? null)}, errors ${JSON.stringify(r.hostErrors ?? [])}`);
    }
    for (const [plugin, p] of Object.entries(r.plugins ?? {})) {
        log(`  vol        ${plugin}: ${p.ok ? "ok" : "FAILED"} (${(p.ms / 1000).toFixed(1)} s)`);
    }
    for (const s of r.stages) {
        log(`  stage      ${s.stage}: ${s.ok ? "ok" : "FAILED"} ${(s.ms / 1000).toFixed(1)} s${!s.ok && s.detail ? ` — ${s.detail}` : ""}`);
    }
}

/** `npm run lab`: prepares the tools and runs the cases the command line names. */
export function cli(): void {
    main().catch((err: Error) => {
        process.stderr.write(`lab: ${err.stack ?? err.message}\n`);
        process.exit(1);
    });
}
