/**
 * Benchmark section 3: imagebuilder/acquire-memory.sh streams a generated memory image from the LiME
 * stand-in (emulator/host/host-shims) in the parts the engine would plan, to a local upload sink, with each of
 * its streamers (python3, the default, and coreutils). The reference is `sha256sum` of the same
 * page-cached file, run before, between and after the script runs (its median): the script cannot be
 * faster than one SHA-256 of the stream, and on a busy machine a single reading swings by half.
 *
 * For each run: wall time, MiB/s, ratio to sha256sum, CPU seconds of the script's process tree, the peak
 * size of its staging directory (tmpfs) and the peak resident memory of its processes (sampled every
 * 50 ms), and whether the stored stream is intact (every part's Content-MD5, the whole SHA-256, order).
 */
import { spawn, spawnSync } from "child_process";
import { createHash, randomFillSync } from "crypto";
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { memorySizing } from "../../functions/acquisition/memory";
import { pickPort } from "../../emulator/aws/moto";
import { PROJECT_ROOT } from "../../emulator/paths";
import { shimmedPath } from "../../emulator/host/ssm-host";

const MiB = 1024 * 1024;
const SCRIPT = path.join(PROJECT_ROOT, "imagebuilder", "acquire-memory.sh");
export const STREAMERS = ["python3", "coreutils"] as const;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const elapsedMs = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

/** Wall time of a command run to completion, in ms; throws when it fails. */
function timed(command: string, args: string[]): number {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(command, args, { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
    if (r.status !== 0) {
        throw new Error(`${command} ${args.join(" ")} failed: ${r.error ?? r.stderr}`);
    }
    return elapsedMs(t0);
}

/**
 * Stands in for S3 behind presigned URLs: serves the module store's index and the LiME module, and takes
 * UploadPart PUTs into a file in /dev/shm at each part's offset (parts arrive in any order). It only
 * stores while the script runs, so that its own hashing does not take the script's CPU; `check` then
 * compares every part with the Content-MD5 it came with (S3 refuses a part that differs) and the whole
 * stream with the image's SHA-256. Its ETags are opaque, as the script treats S3's.
 */
async function uploadSink(files: Record<string, Buffer>, partSize: number, storeDir: string) {
    const storedPath = path.join(storeDir, `irf-bench-sink-${process.pid}-${Date.now()}`);
    const stored = fs.openSync(storedPath, "w+");
    const parts = new Map<number, { bytes: number; contentMd5: string }>();
    const server = http.createServer((req, res) => {
        const url = new URL(req.url ?? "/", "http://127.0.0.1");
        const part = /^\/part\/(\d+)$/.exec(url.pathname);
        if (req.method === "GET" && files[url.pathname]) {
            res.end(files[url.pathname]);
        } else if (req.method === "PUT" && part) {
            const partNumber = Number(part[1]);
            const offset = (partNumber - 1) * partSize;
            let bytes = 0;
            req.on("data", (chunk: Buffer) => {
                fs.writeSync(stored, chunk, 0, chunk.length, offset + bytes);
                bytes += chunk.length;
            });
            req.on("end", () => {
                parts.set(partNumber, { bytes, contentMd5: String(req.headers["content-md5"] ?? "") });
                res.writeHead(200, { ETag: `"bench-part-${partNumber}-${bytes}"` }).end();
            });
        } else {
            res.writeHead(404).end();
        }
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    return {
        base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        reset() {
            parts.clear();
            fs.ftruncateSync(stored, 0);
        },
        /** Part count, bytes and whether the stored stream is the image, part by part and whole. */
        check(imageSha256: string) {
            const numbers = [...parts.keys()].sort((a, b) => a - b);
            const whole = createHash("sha256");
            const buffer = Buffer.alloc(partSize);
            let bytes = 0;
            let intact = numbers.every((n, i) => n === i + 1);
            for (const n of numbers) {
                const p = parts.get(n)!;
                const got = fs.readSync(stored, buffer, 0, p.bytes, (n - 1) * partSize);
                const piece = buffer.subarray(0, got);
                intact &&= got === p.bytes && createHash("md5").update(piece).digest("base64") === p.contentMd5;
                whole.update(piece);
                bytes += p.bytes;
            }
            return { parts: numbers.length, bytes, intact: intact && whole.digest("hex") === imageSha256 };
        },
        close: () => new Promise<void>((ok) => server.close(() => {
            fs.closeSync(stored);
            fs.rmSync(storedPath, { force: true });
            ok();
        })),
    };
}

/** The PIDs of `root` and everything below it, from /proc (the script's whole process tree). */
function processTree(root: number): number[] {
    const children = new Map<number, number[]>();
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) {
            continue;
        }
        try {
            const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
            const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
            children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
        } catch {
            // gone meanwhile
        }
    }
    const tree = [root];
    for (let i = 0; i < tree.length; i++) {
        tree.push(...(children.get(tree[i]) ?? []));
    }
    return tree;
}

/** Resident bytes of the processes, summed (VmRSS). */
function residentBytes(pids: number[]): number {
    let total = 0;
    for (const pid of pids) {
        try {
            const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
            total += m ? Number(m[1]) * 1024 : 0;
        } catch {
            // gone meanwhile
        }
    }
    return total;
}

/** Bytes of the files under `dir` (what the script holds in its staging tmpfs). */
function treeBytes(dir: string): number {
    let total = 0;
    let entries: fs.Dirent[];
    try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
        return 0;
    }
    for (const e of entries) {
        const p = path.join(dir, e.name);
        try {
            total += e.isDirectory() ? treeBytes(p) : e.isFile() ? fs.statSync(p).size : 0;
        } catch {
            // gone meanwhile
        }
    }
    return total;
}

interface ScriptRun {
    code: number | null;
    ms: number;
    cpuSeconds: number;
    peakStagingBytes: number;
    peakResidentBytes: number;
    report: { bytes?: number; sha256?: string; tool?: string };
    stderr: string;
}

/** Runs the host script under `bash -c '...; times'` (CPU of its whole tree), sampling its memory. */
async function runScript(env: NodeJS.ProcessEnv, staging: string): Promise<ScriptRun> {
    const t0 = process.hrtime.bigint();
    let peakStagingBytes = 0;
    let peakResidentBytes = 0;
    const child = spawn("bash", ["-c", 'bash "$0"; rc=$?; times >&2; exit $rc', SCRIPT], { env, stdio: ["ignore", "pipe", "pipe"] });
    const sampler = setInterval(() => {
        peakStagingBytes = Math.max(peakStagingBytes, treeBytes(staging));
        // The wrapper shell is idle: leave it out.
        peakResidentBytes = Math.max(peakResidentBytes, residentBytes(processTree(child.pid!).slice(1)));
    }, 50);
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((ok, fail) => {
        let out = "";
        let err = "";
        child.stdout.on("data", (d: Buffer) => { out += d.toString(); });
        child.stderr.on("data", (d: Buffer) => { err += d.toString(); });
        child.on("error", fail);
        child.on("close", (c) => ok({ code: c, stdout: out, stderr: err }));
    }).finally(() => clearInterval(sampler));
    const ms = elapsedMs(t0);
    // `times` prints the shell's own user/sys, then its children's: "0m12.345s 0m1.234s".
    const childTimes = stderr.trim().split("\n").pop() ?? "";
    const cpuSeconds = [...childTimes.matchAll(/(\d+)m([\d.]+)s/g)].reduce((s, m) => s + Number(m[1]) * 60 + Number(m[2]), 0);
    const report = JSON.parse(stdout.trim().split("\n").pop() || "{}") as ScriptRun["report"];
    return { code, ms, cpuSeconds, peakStagingBytes, peakResidentBytes, report, stderr };
}

/** A page-cached image file of `imageMiB` (random bytes, a kernel banner near the start) and its SHA-256. */
function writeImage(imagePath: string, imageMiB: number): string {
    const imageHash = createHash("sha256");
    const fd = fs.openSync(imagePath, "w");
    const chunk = Buffer.alloc(8 * MiB);
    for (let left = imageMiB * MiB, first = true; left > 0; left -= chunk.length, first = false) {
        const piece = chunk.subarray(0, Math.min(chunk.length, left));
        randomFillSync(piece);
        if (first) {
            piece.write("Linux version 6.1.0-bench (bench@localhost) #1 SMP", 4096, "latin1");
        }
        fs.writeSync(fd, piece);
        imageHash.update(piece);
    }
    fs.closeSync(fd);
    return imageHash.digest("hex");
}

export interface StreamerFigures {
    streamer: string;
    verified: boolean;
    seconds: number;
    mibps: number;
    /** Throughput ÷ sha256sum's (≥ 0.8 is the goal). */
    ratio: number;
    cpuSeconds: number;
    peakStagingMiB: number;
    peakResidentMiB: number;
}

export interface HostScriptFigures {
    imageMiB: number;
    partSizeMiB: number;
    parts: number;
    catMiBps: number;
    sha256sumMiBps: number[];
    sha256sumMedianMiBps: number;
    streamers: StreamerFigures[];
}

/** Section 3 for one image size. */
export async function hostScriptThroughput(imageMiB: number): Promise<HostScriptFigures> {
    const kernel = "6.1.0-bench";
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "irf-bench-"));
    // A real host stages in /dev/shm (memory-backed): so does the benchmark when it has one.
    const shm = fs.existsSync("/dev/shm") ? "/dev/shm" : tmp;
    const staging = fs.mkdtempSync(path.join(shm, "irf-bench-"));
    try {
        const imagePath = path.join(tmp, "memory.lime");
        const imageSha256 = writeImage(imagePath, imageMiB);
        const moduleBytes = Buffer.from("LiME module stand-in (the insmod shim serves the image)\n");
        const index = { modules: [{ arch: "x86_64", kernelRelease: kernel, path: `lime/x86_64/${kernel}/lime.ko`, sha256: createHash("sha256").update(moduleBytes).digest("hex"), version: "1.9.1" }], avml: [] };
        const sizing = memorySizing(imageMiB);
        const files: Record<string, Buffer> = { "/index.json": Buffer.from(JSON.stringify(index)), "/lime.ko": moduleBytes };
        const sink = await uploadSink(files, sizing.partSize, shm);
        const mibps = (ms: number) => Math.round((imageMiB / (ms / 1000)) * 10) / 10;
        try {
            const partUrls = Array.from({ length: sizing.partCount }, (_, i) => `${sink.base}/part/${i + 1}`);
            const env: NodeJS.ProcessEnv = {
                PATH: shimmedPath(), HOME: tmp, LANG: "C.UTF-8", TMPDIR: staging,
                FAKE_KERNEL_RELEASE: kernel, FAKE_MACHINE: "x86_64", FAKE_IMAGE: imagePath,
                FAKE_LIME_PIDFILE: path.join(tmp, "lime.pid"),
                // The stand-in gives up after this long, even mid-stream: a large image on a busy machine takes longer.
                FAKE_LIME_WAIT_MS: String(3_600_000),
                IRF_INDEX_URL: `${sink.base}/index.json`,
                IRF_MODULE_URLS: `x86_64/${kernel}=${sink.base}/lime.ko`,
                IRF_PART_URLS: partUrls.join("\n"),
                IRF_PART_SIZE: String(sizing.partSize),
                IRF_MIN_BYTES: String(Math.min(sizing.minBytes, imageMiB * MiB)),
                IRF_STAGING_DIRS: staging,
            };
            const catMs = median([0, 1, 2].map(() => timed("bash", ["-c", 'cat -- "$1" >/dev/null', "cat", imagePath])));
            const sha256sumMs = [timed("sha256sum", [imagePath])];
            const runs: Array<{ streamer: string; run: ScriptRun; stored: ReturnType<typeof sink.check> }> = [];
            for (const streamer of STREAMERS) {
                sink.reset();
                const run = await runScript({ ...env, IRF_STREAMER: streamer, IRF_LIME_PORT: String(await pickPort()) }, staging);
                const stored = sink.check(imageSha256);
                runs.push({ streamer, run, stored });
                sha256sumMs.push(timed("sha256sum", [imagePath]));
            }
            const reference = median(sha256sumMs);
            return {
                imageMiB, partSizeMiB: sizing.partSize / MiB, parts: sizing.partCount,
                catMiBps: mibps(catMs),
                sha256sumMiBps: sha256sumMs.map(mibps),
                sha256sumMedianMiBps: mibps(reference),
                streamers: runs.map(({ streamer, run, stored }) => {
                    const verified = run.code === 0 && run.report.sha256 === imageSha256 && stored.intact && stored.bytes === imageMiB * MiB;
                    if (!verified) {
                        console.error(`host script (${streamer}): exit ${run.code}, ${JSON.stringify(run.report)}, stored ${JSON.stringify(stored)}\n${run.stderr.slice(-2000)}`);
                    }
                    return {
                        streamer, verified,
                        seconds: Math.round(run.ms / 10) / 100,
                        mibps: mibps(run.ms),
                        ratio: Math.round((reference / run.ms) * 100) / 100,
                        cpuSeconds: Math.round(run.cpuSeconds * 10) / 10,
                        peakStagingMiB: Math.round((run.peakStagingBytes / MiB) * 10) / 10,
                        peakResidentMiB: Math.round(run.peakResidentBytes / MiB),
                    };
                }),
            };
        } finally {
            await sink.close();
        }
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
        fs.rmSync(staging, { recursive: true, force: true });
    }
}

/** The section's Markdown. */
export function hostScriptTable(t: HostScriptFigures, log: (line: string) => void): void {
    log(`\n## Host memory script, ${t.imageMiB} MiB image (${t.parts} parts of ${t.partSizeMiB} MiB planned, LiME stand-in, local upload sink)\n`);
    log(`\`cat image > /dev/null\` ${t.catMiBps} MiB/s; \`sha256sum image\` ${t.sha256sumMiBps.join(", ")} MiB/s (before, between and after the runs; median ${t.sha256sumMedianMiBps})\n`);
    log("| streamer | time | throughput | ÷ sha256sum | CPU | peak staging tmpfs | peak RSS | stored stream intact |");
    log("|---|---|---|---|---|---|---|---|");
    for (const s of t.streamers) {
        log(`| ${s.streamer} | ${s.seconds.toFixed(2)} s | ${s.mibps} MiB/s | ${s.ratio} | ${s.cpuSeconds} s | ${s.peakStagingMiB} MiB | ${s.peakResidentMiB} MiB | ${s.verified ? "yes" : "NO"} |`);
    }
}
