/**
 * The host-side memory acquisition script (imagebuilder/acquire-memory.sh), executed for real by bash on
 * this machine. What only a suspect host has is shimmed on PATH (emulator/host/host-shims, shared with the SSM
 * host emulator):
 *   - `uname` prints a test kernel release and machine;
 *   - `insmod` records its arguments and the SHA-256 of the module file it was given, then behaves like
 *     LiME's init: listens on 127.0.0.1:<port from path=tcp:PORT>, streams a generated test image to the
 *     first connection and exits (IRF_LIME_PORT is a free port, so parallel runs don't clash);
 *   - `rmmod` records that it ran;
 *   - `avml` is not on PATH: like the real one it is a binary in the module store (SHA-256 in index.json),
 *     which the script downloads, verifies and executes (emulator/host/host-shims/store/avml); it writes the
 *     test image to its output path.
 * The module store is a moto S3 bucket in SECURITY; the evidence bucket a versioned Object Lock bucket in
 * FORENSIC. URLs are presigned with credentials assumed into each account (moto maps assumed-role keys
 * to their account; the x-moto-account-id header cannot travel in a presigned URL).
 *
 * noexec: the script takes its staging candidates from IRF_STAGING_DIRS. The noexec case runs the script
 * in a user + mount namespace (`unshare -rm`) where the first candidate is a real tmpfs mounted noexec;
 * the second is an ordinary directory the test controls. Where user namespaces are not allowed, that
 * case is skipped with the reason shown.
 */
import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import { createHash, randomBytes } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import {
    CompleteMultipartUploadCommand,
    CreateBucketCommand,
    CreateMultipartUploadCommand,
    GetObjectCommand,
    ListPartsCommand,
    PutObjectCommand,
    PutObjectLockConfigurationCommand,
    S3Client,
    UploadPartCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { DEFAULT_REGION, clientsFor } from "../../emulator/aws/aws-clients";
import { presigningS3Client } from "../../emulator/aws/aws-clients";
import { PROJECT_ROOT } from "../../emulator/paths";
import { HostKernelState, hostKernelEnv, makeHostRoot } from "../../emulator/host/host-kernel";
import { AVML_STAND_IN, shimmedPath } from "../../emulator/host/ssm-host";
import { FORENSIC, SECURITY, useMoto } from "../support/moto";

const SCRIPT = path.join(PROJECT_ROOT, "imagebuilder", "acquire-memory.sh");
const MiB = 1024 * 1024;
const PART_SIZE = 5 * MiB; // S3's minimum for every part but the last
const KNOWN_KERNEL = "6.1.0-test";
const BANNER = `Linux version ${KNOWN_KERNEL} (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP PREEMPT_DYNAMIC`;
const LIME_VERSION = "1.9.1";
const AVML_VERSION = "0.20.0";

const sha256 = (data: Buffer | string): string => createHash("sha256").update(data).digest("hex");

interface ScriptPart {
    partNumber: number;
    etag: string;
    sha256b64: string;
    bytes: number;
}
interface ScriptResult {
    tool: string | null;
    toolVersion: string | null;
    kernelRelease: string;
    arch: string;
    bytes: number;
    sha256: string | null;
    bannerSeen: boolean;
    partCount: number;
    source: string | null;
    lockdown: string | null;
    secureBoot: boolean | null;
    taint: { before: number; after: number | null } | null;
    errors: string[];
}

async function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo;
            server.close(() => resolve(port));
        });
    });
}

/** A pseudo memory image of `size` bytes, with the kernel banner at `bannerAt` unless it is undefined. */
function makeImage(size: number, bannerAt?: number): Buffer {
    const image = randomBytes(size);
    // Random bytes could (very rarely) contain the banner's first bytes: make sure they do not.
    for (let i = image.indexOf("Linux version "); i >= 0; i = image.indexOf("Linux version ", i)) {
        image[i] = 0;
    }
    if (bannerAt !== undefined) {
        image.write(BANNER, bannerAt, "latin1");
    }
    return image;
}

const STREAMERS = ["python3", "coreutils"] as const;
type Streamer = typeof STREAMERS[number];

describe("host memory acquisition script (acquire-memory.sh)", function () {
    const moto = useMoto();
    const run = randomBytes(4).toString("hex");
    const storeBucket = `irf-modules-${run}`;
    const evidenceBucket = `irf-evidence-${run}`;
    let tmp: string;
    let store: S3Client; // presigner in SECURITY
    let evidence: S3Client; // presigner in FORENSIC
    let setupClients: ReturnType<typeof clientsFor>[] = [];
    const moduleBytes = randomBytes(64 * 1024);
    let avmlBytes: Buffer;
    let unshareWorks = false;

    /** An S3 client whose (assumed-role) credentials belong to `account`: usable for presigning. */
    const presignerFor = (account: string) => presigningS3Client(moto().endpoint, account);

    async function putObjectUrl(key: string, body: string): Promise<string> {
        await setupClients[0].s3.send(new PutObjectCommand({ Bucket: storeBucket, Key: key, Body: body }));
        return getSignedUrl(store, new GetObjectCommand({ Bucket: storeBucket, Key: key }), { expiresIn: 300 });
    }

    async function putIndex(key: string, index: unknown): Promise<string> {
        await setupClients[0].s3.send(new PutObjectCommand({ Bucket: storeBucket, Key: key, Body: JSON.stringify(index, null, 2), ContentType: "application/json" }));
        return getSignedUrl(store, new GetObjectCommand({ Bucket: storeBucket, Key: key }), { expiresIn: 300 });
    }

    before("module store (SECURITY) and evidence bucket (FORENSIC) in moto, shims", async function () {
        await moto().reset();
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "irf-acquire-"));
        avmlBytes = fs.readFileSync(AVML_STAND_IN);

        const security = clientsFor(moto().endpoint, SECURITY);
        const forensic = clientsFor(moto().endpoint, FORENSIC);
        setupClients = [security, forensic];
        await security.s3.send(new CreateBucketCommand({ Bucket: storeBucket, CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION } }));
        await forensic.s3.send(new CreateBucketCommand({
            Bucket: evidenceBucket, ObjectLockEnabledForBucket: true, CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION },
        }));
        await forensic.s3.send(new PutObjectLockConfigurationCommand({
            Bucket: evidenceBucket,
            ObjectLockConfiguration: { ObjectLockEnabled: "Enabled", Rule: { DefaultRetention: { Mode: "GOVERNANCE", Days: 1 } } },
        }));
        for (const [key, body] of [
            [`lime/x86_64/${KNOWN_KERNEL}/lime.ko`, moduleBytes],
            ["lime/x86_64/6.1.0-tampered/lime.ko", randomBytes(1024)],
            ["avml/x86_64/avml", avmlBytes],
        ] as const) {
            await security.s3.send(new PutObjectCommand({ Bucket: storeBucket, Key: key, Body: body }));
        }
        store = await presignerFor(SECURITY);
        evidence = await presignerFor(FORENSIC);

        const probe = spawnSync("unshare", ["-rm", "sh", "-c", 'd=$(mktemp -d) && mount -t tmpfs -o noexec tmpfs "$d" && umount "$d"; rc=$?; rmdir "$d"; exit $rc'], { encoding: "utf8" });
        unshareWorks = probe.status === 0;
    });

    after(function () {
        for (const c of setupClients) {
            c.s3.destroy();
        }
        store?.destroy();
        evidence?.destroy();
        if (tmp) {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });

    /** The store's index: the module for KNOWN_KERNEL, a tampered one (wrong SHA-256), and AVML. */
    function defaultIndex(): unknown {
        return {
            modules: [
                { arch: "x86_64", kernelRelease: KNOWN_KERNEL, path: `lime/x86_64/${KNOWN_KERNEL}/lime.ko`, sha256: sha256(moduleBytes), version: LIME_VERSION },
                { arch: "x86_64", kernelRelease: "6.1.0-tampered", path: "lime/x86_64/6.1.0-tampered/lime.ko", sha256: sha256("not the stored bytes"), version: LIME_VERSION },
                { arch: "arm64", kernelRelease: KNOWN_KERNEL, path: `lime/arm64/${KNOWN_KERNEL}/lime.ko`, sha256: "0".repeat(64), version: LIME_VERSION },
            ],
            avml: [{ arch: "x86_64", path: "avml/x86_64/avml", sha256: sha256(avmlBytes), version: AVML_VERSION }],
        };
    }

    interface CaseOptions {
        name: string;
        /** IRF_STREAMER for the run (default: the script's own choice, python3 here). */
        streamer?: Streamer;
        image: Buffer;
        kernel?: string;
        insmodFails?: boolean;
        /** Override IRF_STAGING_DIRS (default: one test-owned directory). */
        stagingDirs?: string[];
        /** Command prefix (e.g. unshare) and the extra script that prepares the namespace. */
        wrap?: (scriptArgs: string[]) => string[];
        partUrls?: number;
        /** The part URLs in a session file (IRF_SESSION_URL), as the engine sends them, not in IRF_PART_URLS. */
        viaSession?: boolean;
        /** Part numbers whose presigned URL is made unusable (a wrong upload id: S3 refuses the PUT). */
        brokenParts?: number[];
        extraEnv?: Record<string, string>;
        /** The host's kernel state (a fake root per case unless `root` names one to share). */
        kernelState?: HostKernelState;
        root?: string;
        /** Runs while the script runs (e.g. sends it a signal). */
        during?: (pid: number, caseDir: string) => Promise<void>;
        /** A killed run leaves its staging dir: do not require it empty. */
        leavesStaging?: boolean;
        /** Its own process group (as SSM starts a command), so that the group can be killed. */
        detached?: boolean;
    }
    interface CaseResult {
        code: number | null;
        result: ScriptResult;
        stdout: string;
        stderr: string;
        log: string[];
        uploadId: string;
        key: string;
        stagingDirs: string[];
        urls: string[];
        root: string;
    }

    async function runCase(opts: CaseOptions): Promise<CaseResult> {
        const caseDir = path.join(tmp, opts.streamer ? `${opts.streamer}-${opts.name}` : opts.name);
        fs.mkdirSync(caseDir);
        const imagePath = path.join(caseDir, "image.lime");
        fs.writeFileSync(imagePath, opts.image);
        const logPath = path.join(caseDir, "calls.log");
        fs.writeFileSync(logPath, "");
        const stagingDirs = opts.stagingDirs ?? [path.join(caseDir, "shm")];
        for (const d of stagingDirs) {
            fs.mkdirSync(d, { recursive: true });
        }

        const indexUrl = await putIndex(`index-${opts.name}.json`, defaultIndex());
        const moduleLines: string[] = [];
        for (const kr of [KNOWN_KERNEL, "6.1.0-tampered"]) {
            const url = await getSignedUrl(store, new GetObjectCommand({ Bucket: storeBucket, Key: `lime/x86_64/${kr}/lime.ko` }), { expiresIn: 300 });
            moduleLines.push(`x86_64/${kr}=${url}`);
        }
        const avmlUrl = await getSignedUrl(store, new GetObjectCommand({ Bucket: storeBucket, Key: "avml/x86_64/avml" }), { expiresIn: 300 });

        const key = `cases/${opts.name}/memory.lime`;
        const { UploadId } = await evidence.send(new CreateMultipartUploadCommand({ Bucket: evidenceBucket, Key: key, ChecksumAlgorithm: "SHA256" }));
        assert.ok(UploadId);
        const partCount = opts.partUrls ?? Math.ceil(opts.image.length / PART_SIZE) + 1; // headroom, as the engine gives
        const partUrls: string[] = [];
        for (let n = 1; n <= partCount; n++) {
            const uploadId = opts.brokenParts?.includes(n) ? `${UploadId}-unknown` : UploadId;
            partUrls.push(await getSignedUrl(evidence, new UploadPartCommand({ Bucket: evidenceBucket, Key: key, UploadId: uploadId, PartNumber: n }), { expiresIn: 300 }));
        }
        for (const url of partUrls) {
            assert.doesNotMatch(url, /x-amz-checksum|x-amz-sdk-checksum/i, "the presigned UploadPart URL must not pin a checksum");
        }

        const root = makeHostRoot(opts.root ?? path.join(caseDir, "root"), opts.kernelState);
        const env: NodeJS.ProcessEnv = {
            ...hostKernelEnv(root, opts.kernelState),
            PATH: shimmedPath(),
            HOME: caseDir,
            FAKE_KERNEL_RELEASE: opts.kernel ?? KNOWN_KERNEL,
            FAKE_MACHINE: "x86_64",
            FAKE_IMAGE: imagePath,
            FAKE_LOG: logPath,
            IRF_INDEX_URL: indexUrl,
            IRF_MODULE_URLS: moduleLines.join("\n"),
            IRF_AVML_URL_x86_64: avmlUrl,
            IRF_PART_URLS: partUrls.join("\n"),
            IRF_PART_SIZE: String(PART_SIZE),
            IRF_LIME_PORT: String(await freePort()),
            IRF_MIN_BYTES: String(1 * MiB),
            IRF_CONNECT_TIMEOUT: "20",
            IRF_STAGING_DIRS: stagingDirs.join(":"),
            FAKE_LIME_PIDFILE: path.join(caseDir, "lime.pid"),
        };
        if (opts.viaSession) {
            env.IRF_SESSION_URL = await putObjectUrl(`session-${opts.streamer ?? ""}-${opts.name}`, partUrls.map((u) => `part ${u}`).join("\n"));
            delete env.IRF_PART_URLS;
        }
        Object.assign(env, opts.extraEnv, opts.streamer ? { IRF_STREAMER: opts.streamer } : {});
        if (opts.insmodFails) {
            env.FAKE_INSMOD_FAIL = "format";
        }
        const command = opts.wrap ? opts.wrap(["bash", SCRIPT]) : ["bash", SCRIPT];
        const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
            const child = spawn(command[0], command.slice(1), { env, stdio: ["ignore", "pipe", "pipe"], detached: opts.detached ?? false });
            let out = "";
            let errText = "";
            child.stdout.on("data", (d: Buffer) => { out += d.toString(); });
            child.stderr.on("data", (d: Buffer) => { errText += d.toString(); });
            child.on("error", reject);
            child.on("close", (c) => resolve({ code: c, stdout: out, stderr: errText }));
            if (opts.during && child.pid !== undefined) {
                opts.during(child.pid, caseDir).catch(reject);
            }
        });
        if (/capturing with /.test(stderr)) {
            assert.match(stderr, new RegExp(`capturing with .* \\(${opts.streamer ?? "python3"} streamer\\)`), "the streamer asked for ran");
        }
        const lines = stdout.trim().split("\n");
        assert.strictEqual(lines.length, 1, `stdout must be exactly one JSON line, got:\n${stdout}\nstderr:\n${stderr}`);
        const result = JSON.parse(lines[0]) as ScriptResult;

        // URLs are credentials: neither the endpoint nor any signature may appear in the output.
        const host = new URL(moto().endpoint).host;
        for (const text of [stdout, stderr]) {
            assert.ok(!text.includes(host), `the script printed a URL:\n${text}`);
            assert.doesNotMatch(text, /X-Amz-(Signature|Credential|Security-Token)|https?:\/\//i, `the script printed a URL:\n${text}`);
        }
        // Staging is cleaned up.
        for (const d of opts.leavesStaging ? [] : stagingDirs) {
            if (fs.existsSync(d)) {
                assert.deepStrictEqual(fs.readdirSync(d), [], `staging dir ${d} not cleaned up`);
            }
        }
        const log = fs.readFileSync(logPath, "utf8").split("\n").filter((l) => l);
        return { code, result, stdout, stderr, log, uploadId: UploadId, key, stagingDirs, urls: [indexUrl, avmlUrl, ...partUrls], root };
    }

    /** The parts S3 holds for the case's upload (what the engine completes with: the report only counts them). */
    async function listedParts(c: CaseResult): Promise<ScriptPart[]> {
        const out = await evidence.send(new ListPartsCommand({ Bucket: evidenceBucket, Key: c.key, UploadId: c.uploadId }));
        return (out.Parts ?? []).map((p) => ({ partNumber: p.PartNumber ?? 0, etag: (p.ETag ?? "").replace(/"/g, ""), sha256b64: p.ChecksumSHA256 ?? "", bytes: p.Size ?? 0 }));
    }

    /** Completes the multipart upload with the listed parts and returns the stored bytes. */
    async function completeAndRead(c: CaseResult): Promise<Buffer> {
        const parts = await listedParts(c);
        assert.strictEqual(parts.length, c.result.partCount, "the report counts the parts S3 holds");
        completedParts.set(c, parts);
        await evidence.send(new CompleteMultipartUploadCommand({
            Bucket: evidenceBucket, Key: c.key, UploadId: c.uploadId,
            MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: `"${p.etag}"`, ChecksumSHA256: p.sha256b64 })) },
        }));
        const forensic = clientsFor(moto().endpoint, FORENSIC).s3;
        try {
            const got = await forensic.send(new GetObjectCommand({ Bucket: evidenceBucket, Key: c.key }));
            assert.ok(got.VersionId, "the evidence bucket is versioned: the object must have a version id");
            return Buffer.from(await got.Body!.transformToByteArray());
        } finally {
            forensic.destroy();
        }
    }

    /** The invariants of every successful-or-validated capture. */
    /** The parts each case's upload was completed with. */
    const completedParts = new Map<CaseResult, ScriptPart[]>();

    function assertCaptured(c: CaseResult, image: Buffer, stored: Buffer, tool: "lime" | "avml"): void {
        assert.strictEqual(c.result.tool, tool);
        assert.strictEqual(c.result.toolVersion, tool === "lime" ? LIME_VERSION : AVML_VERSION);
        assert.strictEqual(c.result.arch, "x86_64");
        assert.strictEqual(c.result.bytes, image.length);
        assert.strictEqual(c.result.sha256, sha256(image));
        assert.strictEqual(stored.length, image.length, "stored object size");
        assert.strictEqual(sha256(stored), sha256(image), "stored object SHA-256");
        assert.ok(stored.equals(image), "stored bytes differ from the image");
        assert.strictEqual(c.result.partCount, Math.ceil(image.length / PART_SIZE));
        (completedParts.get(c) ?? []).forEach((p, i) => {
            const chunk = image.subarray(i * PART_SIZE, (i + 1) * PART_SIZE);
            assert.strictEqual(p.partNumber, i + 1);
            assert.strictEqual(p.bytes, chunk.length);
            // Real S3 lists each part's SHA-256 (the upload was created with it); moto 5.2.1 lists none.
            if (p.sha256b64) {
                assert.strictEqual(p.sha256b64, createHash("sha256").update(chunk).digest("base64"), `part ${i + 1} checksum`);
            }
            assert.match(p.etag, /^[0-9a-f]{32}$/);
        });
    }

    it("is shellcheck-clean", function () {
        const r = spawnSync("shellcheck", ["--severity=style", SCRIPT], { encoding: "utf8" });
        assert.ok(!r.error, "shellcheck is required: apt-get install shellcheck");
        assert.strictEqual(r.status, 0, `shellcheck findings:\n${r.stdout}${r.stderr}`);
    });

    it("module whose SHA-256 does not match the index: not loaded, AVML instead", async function () {
        const image = makeImage(PART_SIZE + 99, 100);
        const c = await runCase({ name: "tampered", image, kernel: "6.1.0-tampered" });
        assert.strictEqual(c.code, 0, c.stderr);
        assert.ok(c.result.errors.some((e) => /SHA-256 does not match the index/.test(e)), c.result.errors.join("; "));
        assert.ok(!c.log.some((l) => l.startsWith("insmod")), "a module with a wrong hash must never reach insmod");
        assertCaptured(c, image, await completeAndRead(c), "avml");
    });

    it("insmod fails: its own message reported, nothing unloaded (nothing was loaded), AVML instead", async function () {
        const image = makeImage(PART_SIZE + 5, 0);
        const c = await runCase({ name: "insmod-fails", image, insmodFails: true });
        assert.strictEqual(c.code, 0, c.stderr);
        assert.ok(c.result.errors.some((e) => /^insmod lime failed \(exit 1\): insmod: ERROR: could not insert module .*: Invalid module format$/.test(e)), c.result.errors.join("; "));
        assert.ok(!c.log.some((l) => l.startsWith("rmmod")), "rmmod for a module that never loaded");
        assertCaptured(c, image, await completeAndRead(c), "avml");
    });

    it("bad IRF_UPLOAD_CONCURRENCY: exit 2", async function () {
        const c = await runCase({ name: "bad-concurrency", image: makeImage(PART_SIZE, 10), extraEnv: { IRF_UPLOAD_CONCURRENCY: "0" } });
        assert.strictEqual(c.code, 2, c.stderr);
        assert.ok(c.result.errors.some((e) => /IRF_UPLOAD_CONCURRENCY/.test(e)));
    });

    it("bad IRF_STREAMER: exit 2, naming the choices", async function () {
        const c = await runCase({ name: "bad-streamer", image: makeImage(PART_SIZE, 10), extraEnv: { IRF_STREAMER: "dd" } });
        assert.strictEqual(c.code, 2, c.stderr);
        assert.ok(c.result.errors.includes("IRF_STREAMER must be python3 or coreutils"), c.result.errors.join("; "));
    });

    it("LiME taints the kernel (out-of-tree, unsigned): the flags before and after are reported", async function () {
        const image = makeImage(PART_SIZE + 1, 10);
        const c = await runCase({ name: "taint", image, kernelState: { taint: 0 } });
        assert.strictEqual(c.code, 0, c.stderr);
        assert.deepStrictEqual(c.result.taint, { before: 0, after: 4096 + 8192 });
        assert.strictEqual(c.result.lockdown, "none");
        assert.strictEqual(c.result.secureBoot, false);
        assert.strictEqual(c.result.source, "lime");
        assert.ok(!fs.existsSync(path.join(c.root, "sys/module/lime")), "the module this run loaded is unloaded");
    });

    it("kernel lockdown under Secure Boot: insmod's refusal is named as lockdown, AVML captures instead", async function () {
        const image = makeImage(PART_SIZE + 3, 10);
        const c = await runCase({
            name: "lockdown", image, kernelState: { lockdown: "integrity", secureBoot: true }, extraEnv: { FAKE_INSMOD_FAIL: "lockdown" },
        });
        assert.strictEqual(c.code, 0, c.stderr);
        assert.strictEqual(c.result.lockdown, "integrity");
        assert.strictEqual(c.result.secureBoot, true);
        assert.ok(c.result.errors.some((e) => /^insmod lime refused: kernel lockdown \(integrity\) forbids unsigned modules \(Secure Boot: true\): .*Operation not permitted$/.test(e)),
            c.result.errors.join("; "));
        assertCaptured(c, image, await completeAndRead(c), "avml");
    });

    it("lockdown=confidentiality closes every source AVML reads: exit 3, no hash", async function () {
        const c = await runCase({
            name: "confidentiality", image: makeImage(PART_SIZE, 10), kernelState: { lockdown: "confidentiality" }, extraEnv: { FAKE_INSMOD_FAIL: "lockdown" },
        });
        assert.strictEqual(c.code, 3, c.stderr);
        assert.strictEqual(c.result.sha256, null);
        assert.ok(c.result.errors.some((e) => /AVML has no memory source to read .*lockdown: confidentiality/.test(e)), c.result.errors.join("; "));
        assert.ok(!c.log.some((l) => l.startsWith("avml ")), "AVML is not started without a source");
    });

    it("AVML that fails before its first byte: exit 3 and a null hash (never the SHA-256 of an empty stream)", async function () {
        // The probe sees /proc/kcore, but AVML cannot read it (e.g. a kcore restricted at read time).
        const c = await runCase({
            name: "avml-fails", image: makeImage(PART_SIZE, 10), kernel: "6.1.0-unknown", extraEnv: { FAKE_AVML_SOURCES: "" },
        });
        assert.strictEqual(c.code, 3, c.stderr);
        assert.strictEqual(c.result.tool, "avml");
        assert.strictEqual(c.result.sha256, null);
        assert.strictEqual(c.result.bytes, 0);
        assert.ok(c.result.errors.some((e) => /^avml exited with 1: locked down \/proc\/kcore$/.test(e)), c.result.errors.join("; "));
        assert.strictEqual((await listedParts(c)).length, 0);
    });

    it("a LiME a responder loaded by hand is never unloaded: reported, AVML used", async function () {
        const image = makeImage(PART_SIZE + 9, 10);
        const c = await runCase({ name: "foreign-lime", image, kernelState: { limeLoadedWithPath: "/root/mem.lime" } });
        assert.strictEqual(c.code, 0, c.stderr);
        assert.ok(c.result.errors.some((e) => /a lime module that this script did not load is already loaded/.test(e)), c.result.errors.join("; "));
        assert.ok(!c.log.some((l) => l.startsWith("rmmod") || l.startsWith("insmod")));
        assert.ok(fs.existsSync(path.join(c.root, "sys/module/lime/parameters/path")), "the responder's LiME is still loaded");
        assertCaptured(c, image, await completeAndRead(c), "avml");
    });

    // Both streamers (python3, the default, and coreutils, where python3 is missing) meet every case that
    // touches the stream: same results, same exit codes, same clean-up.
    for (const streamer of STREAMERS) {
        describe(`${streamer} streamer`, function () {
        it("LiME path: verified module loaded with timeout=0 localhostonly=1 format=lime, stream uploaded, hashed, unloaded", async function () {
            // The banner straddles the boundary of parts 1 and 2: found only by the cross-boundary check.
            const image = makeImage(2 * PART_SIZE + 12345, PART_SIZE - 6);
            const c = await runCase({ streamer, name: "lime", image });
            assert.strictEqual(c.code, 0, c.stderr);
            assert.strictEqual(c.result.kernelRelease, KNOWN_KERNEL);
            assert.strictEqual(c.result.bannerSeen, true);
            assert.deepStrictEqual(c.result.errors, []);
            assertCaptured(c, image, await completeAndRead(c), "lime");

            const insmods = c.log.filter((l) => l.startsWith("insmod "));
            assert.strictEqual(insmods.length, 1, c.log.join("\n"));
            const call = JSON.parse(insmods[0].slice("insmod ".length)) as { ko: string; koSha: string; params: string; argc: number };
            assert.strictEqual(call.argc, 2, "insmod gets the module and one quoted parameter string");
            assert.strictEqual(call.koSha, sha256(moduleBytes), "insmod was given the verified module");
            assert.ok(call.ko.startsWith(c.stagingDirs[0] + path.sep), `module staged in ${call.ko}, not in the staging dir`);
            const params = call.params.split(" ");
            for (const p of ["format=lime", "localhostonly=1", "timeout=0", `path=tcp:${/path=tcp:(\d+)/.exec(call.params)?.[1]}`]) {
                assert.ok(params.includes(p), `insmod parameters "${call.params}" lack ${p}`);
            }
            assert.deepStrictEqual(c.log.filter((l) => l.startsWith("rmmod")), ["rmmod lime"], "LiME unloaded once");
            assert.ok(!c.log.some((l) => l.startsWith("avml")), "AVML must not run when LiME works");
        });

        it("no module for the running kernel: falls back to AVML (SHA-256 checked, executed from staging, FIFO output)", async function () {
            const image = makeImage(PART_SIZE + 777, 4096);
            const c = await runCase({ streamer, name: "no-module", image, kernel: "6.1.0-unknown" });
            assert.strictEqual(c.code, 0, c.stderr);
            assert.strictEqual(c.result.kernelRelease, "6.1.0-unknown");
            assert.strictEqual(c.result.bannerSeen, true);
            assert.ok(c.result.errors.some((e) => /no LiME module in the index for x86_64\/6\.1\.0-unknown/.test(e)), c.result.errors.join("; "));
            assertCaptured(c, image, await completeAndRead(c), "avml");
            assert.ok(!c.log.some((l) => l.startsWith("insmod")), "no insmod without a module");
            const avml = c.log.filter((l) => l.startsWith("avml "));
            assert.strictEqual(avml.length, 1);
            const call = JSON.parse(avml[0].slice(5)) as { self: string; args: string[] };
            assert.ok(call.self.startsWith(c.stagingDirs[0] + path.sep), `AVML ran from ${call.self}`);
            // AVML 0.20's command line, with the one source probed up front (never its rewrite-on-retry loop).
            assert.deepStrictEqual(call.args.slice(0, 3), ["acquire", "--source", "/proc/kcore"]);
            assert.strictEqual(call.args.length, 4);
            assert.ok(call.args[3].startsWith(c.stagingDirs[0] + path.sep), "AVML writes into a FIFO in the staging dir");
            assert.strictEqual(c.result.source, "/proc/kcore");
        });

        it("image without a kernel banner: bannerSeen false, exit 5, parts still uploaded and kept as evidence", async function () {
            const image = makeImage(PART_SIZE + 4242);
            const c = await runCase({ streamer, name: "no-banner", image });
            assert.strictEqual(c.code, 5, c.stderr);
            assert.strictEqual(c.result.bannerSeen, false);
            assert.ok(c.result.errors.some((e) => /no Linux kernel banner/.test(e)));
            assertCaptured(c, image, await completeAndRead(c), "lime");
            assert.deepStrictEqual(c.log.filter((l) => l.startsWith("rmmod")), ["rmmod lime"]);
        });

        it("python3 as the HTTP client (hosts without curl): same capture", async function () {
            const image = makeImage(PART_SIZE + 31337, 2 * MiB);
            const c = await runCase({ streamer, name: "python3", image, extraEnv: { IRF_HTTP_CLIENT: "python3" } });
            assert.strictEqual(c.code, 0, c.stderr);
            assertCaptured(c, image, await completeAndRead(c), "lime");
        });

        it("goes out through http_proxy, as the host's network path (an egress proxy, the lab's gate) asks", async function () {
            // A forward proxy that relays absolute-form requests and counts them: every part must pass it.
            const seen: string[] = [];
            const proxy = http.createServer((req, res) => {
                const target = new URL(req.url ?? "");
                seen.push(`${req.method} ${target.pathname}`);
                const upstream = http.request({ host: target.hostname, port: target.port, method: req.method, path: target.pathname + target.search, headers: req.headers }, (up) => {
                    res.writeHead(up.statusCode ?? 502, up.headers);
                    up.pipe(res);
                });
                upstream.on("error", () => res.writeHead(502).end());
                req.pipe(upstream);
            });
            await new Promise<void>((ok) => proxy.listen(0, "127.0.0.1", ok));
            try {
                const image = makeImage(2 * PART_SIZE + 99, 10);
                const port = (proxy.address() as net.AddressInfo).port;
                const c = await runCase({ streamer, name: "proxied", image, extraEnv: { http_proxy: `http://127.0.0.1:${port}`, no_proxy: "" } });
                assert.strictEqual(c.code, 0, c.stderr);
                assertCaptured(c, image, await completeAndRead(c), "lime");
                assert.strictEqual(seen.filter((l) => l.startsWith("PUT ")).length, 3, seen.join("\n"));
            } finally {
                await new Promise((ok) => proxy.close(ok));
            }
        });

        it("a large host's part URLs (from the session file, over the 128 KiB one environment variable may hold) reach the streamer", async function () {
            const image = makeImage(2 * PART_SIZE + 7, 10);
            const c = await runCase({ streamer, name: "many-urls", image, partUrls: 300, viaSession: true });
            assert.ok(c.urls.slice(2).join("\n").length > 128 * 1024, `${c.urls.slice(2).join("\n").length} characters of URLs`);
            assert.strictEqual(c.code, 0, c.stderr);
            assertCaptured(c, image, await completeAndRead(c), "lime");
        });

        it("capture below IRF_MIN_BYTES: exit 4", async function () {
            const image = makeImage(64 * 1024, 10);
            const c = await runCase({ streamer, name: "too-small", image });
            assert.strictEqual(c.code, 4, c.stderr);
            assert.strictEqual(c.result.bytes, image.length);
            assert.strictEqual(c.result.bannerSeen, true);
            assert.ok(c.result.errors.some((e) => /below the floor/.test(e)));
        });

        it("stream larger than the presigned parts: exit 7, no whole-stream hash claimed", async function () {
            const image = makeImage(3 * PART_SIZE, 10);
            const c = await runCase({ streamer, name: "out-of-parts", image, partUrls: 2 });
            assert.strictEqual(c.code, 7, c.stderr);
            assert.strictEqual(c.result.sha256, null);
            assert.strictEqual(c.result.partCount, 2);
            assert.ok(c.result.errors.some((e) => /larger than the 2 presigned parts/.test(e)));
            assert.deepStrictEqual(c.log.filter((l) => l.startsWith("rmmod")), ["rmmod lime"]);
        });

        it("a part upload that fails: exit 6 with the part named, the parts in flight waited for, nothing left in staging", async function () {
            const image = makeImage(5 * PART_SIZE, 10);
            const c = await runCase({ streamer, name: "part-fails", image, brokenParts: [2], extraEnv: { IRF_UPLOAD_CONCURRENCY: "3" } });
            assert.strictEqual(c.code, 6, c.stderr);
            assert.strictEqual(c.result.sha256, null);
            assert.ok(c.result.errors.some((e) => /upload of part 2 failed/.test(e)), c.result.errors.join("; "));
            assert.deepStrictEqual(c.log.filter((l) => l.startsWith("rmmod")), ["rmmod lime"]);
        });

        it("AVML that fails mid-capture: exit 9, the parts it uploaded reported, no stream hash", async function () {
            const c = await runCase({
                streamer, name: "avml-breaks", image: makeImage(3 * PART_SIZE, 10), kernel: "6.1.0-unknown",
                extraEnv: { FAKE_AVML_SOURCES: "", FAKE_AVML_BROKEN: "/proc/kcore" },
            });
            assert.strictEqual(c.code, 9, c.stderr);
            assert.strictEqual(c.result.sha256, null);
            assert.strictEqual(c.result.bytes, 1 << 20, "the shim's source breaks after 1 MiB");
            const parts = await listedParts(c);
            assert.strictEqual(c.result.partCount, parts.length);
            assert.strictEqual(parts.reduce((n, p) => n + p.bytes, 0), c.result.bytes);
        });

        it("SIGTERM mid-dump (SSM's cancel or timeout): acted on at once, the uploaded parts reported, LiME unloaded, nothing left running", async function () {
            const image = makeImage(12 * PART_SIZE, 10);
            let limePid = 0;
            const c = await runCase({
                streamer, name: "sigterm", image, extraEnv: { FAKE_STREAM_MS_PER_MIB: "150" },
                during: async (pid, caseDir) => {
                    // Once two parts are confirmed, cancel.
                    for (let i = 0; i < 600 && fs.readdirSync(path.join(caseDir, "shm")).every((d) => {
                        const done = path.join(caseDir, "shm", d, "done");
                        return !fs.existsSync(path.join(done, "2"));
                    }); i++) {
                        await new Promise((r) => setTimeout(r, 50));
                    }
                    limePid = Number(fs.readFileSync(path.join(caseDir, "lime.pid"), "utf8"));
                    process.kill(pid, "SIGTERM");
                },
            });
            assert.strictEqual(c.code, 1, c.stderr);
            assert.ok(c.result.errors.includes("interrupted by a signal"), c.result.errors.join("; "));
            const parts = await listedParts(c);
            assert.ok(parts.length >= 2 && parts.length < 12, `the dump went on after the signal: ${parts.length} parts`);
            assert.strictEqual(c.result.partCount, parts.length, "the report counts what S3 holds");
            assert.strictEqual(c.result.bytes, parts.reduce((n, p) => n + p.bytes, 0));
            assert.strictEqual(c.result.sha256, null, "a partial stream has no whole-stream hash");
            assert.ok(!fs.existsSync(path.join(c.root, "sys/module/lime")), "LiME unloaded");
            assert.throws(() => process.kill(limePid, 0), "the LiME stand-in is still running");
        });

        it("after a SIGKILL mid-dump, the next run unloads the LiME the killed one left, removes its staging, and captures with LiME", async function () {
            const image = makeImage(8 * PART_SIZE, 10);
            const root = path.join(tmp, `${streamer}-sigkill-root`);
            const shm = path.join(tmp, `${streamer}-sigkill-shm`);
            const killed = await runCase({
                streamer, name: "sigkill-1", image, root, stagingDirs: [shm], leavesStaging: true, extraEnv: { FAKE_STREAM_MS_PER_MIB: "150" },
                during: async (pid) => {
                    for (let i = 0; i < 600 && !fs.existsSync(path.join(root, "sys/module/lime")); i++) {
                        await new Promise((r) => setTimeout(r, 50));
                    }
                    await new Promise((r) => setTimeout(r, 300));
                    // What SSM does to the command's process group at its timeout.
                    process.kill(-pid, "SIGKILL");
                },
                detached: true,
            }).catch((e: Error) => e);
            // A SIGKILLed script prints nothing: runCase's one-line check fails, as it should.
            assert.ok(killed instanceof Error, "a killed script cannot have printed its report");
            assert.ok(fs.existsSync(path.join(root, "sys/module/lime")), "the killed run left LiME loaded (as the real kernel keeps it)");
            assert.strictEqual(fs.readdirSync(shm).filter((d) => d.startsWith("irf-mem.")).length, 1);

            const c = await runCase({ streamer, name: "sigkill-2", image, root, stagingDirs: [shm] });
            assert.strictEqual(c.code, 0, c.stderr);
            assert.match(c.stderr, /unloaded the LiME module a killed run left loaded/);
            assert.match(c.stderr, /removed the staging dir of a killed run/);
            assertCaptured(c, image, await completeAndRead(c), "lime");
        });
        });
    }

    describe("staging when /tmp-like directories are noexec", function () {
        /** Runs the script in a user+mount namespace where staging dir 0 is a tmpfs mounted noexec. */
        const inNoexecNamespace = (noexecDir: string) => (args: string[]): string[] => [
            "unshare", "-rm", "bash", "-c",
            '/bin/mount -t tmpfs -o noexec,nosuid,nodev,size=64m tmpfs "$0" || exit 99; exec "$@"',
            noexecDir, ...args,
        ];

        beforeEach(function () {
            if (!unshareWorks) {
                this.skip(); // user namespaces are not allowed here: a real noexec mount cannot be made
            }
        });

        it("LiME loads from a noexec staging dir; AVML is staged in the next exec-able candidate", async function () {
            const image = makeImage(PART_SIZE + 10, 50);
            const noexec = path.join(tmp, "noexec-avml", "shm");
            const execDir = path.join(tmp, "noexec-avml", "run");
            const c = await runCase({
                name: "noexec-avml", image, kernel: "6.1.0-unknown",
                stagingDirs: [noexec, execDir], wrap: inNoexecNamespace(noexec),
            });
            assert.strictEqual(c.code, 0, c.stderr);
            assertCaptured(c, image, await completeAndRead(c), "avml");
            const call = JSON.parse(c.log.find((l) => l.startsWith("avml "))!.slice(5)) as { self: string; args: string[] };
            assert.ok(call.self.startsWith(execDir + path.sep), `AVML must run from the exec-able dir, ran from ${call.self}`);
            assert.ok(call.args[3].startsWith(noexec + path.sep), "the FIFO stays in the first (noexec) staging dir");
        });

        it("LiME works with only a noexec staging dir", async function () {
            const image = makeImage(PART_SIZE + 10, 50);
            const noexec = path.join(tmp, "noexec-lime", "shm");
            const c = await runCase({ name: "noexec-lime", image, stagingDirs: [noexec], wrap: inNoexecNamespace(noexec) });
            assert.strictEqual(c.code, 0, c.stderr);
            assertCaptured(c, image, await completeAndRead(c), "lime");
        });

        it("no module and only noexec staging (Debian's /run, a CIS /dev/shm): AVML runs from a private tmpfs the script mounts, then unmounts", async function () {
            const image = makeImage(PART_SIZE + 10, 50);
            const noexec = path.join(tmp, "noexec-only", "shm");
            const c = await runCase({ name: "noexec-only", image, kernel: "6.1.0-unknown", stagingDirs: [noexec], wrap: inNoexecNamespace(noexec) });
            assert.strictEqual(c.code, 0, c.stderr);
            assertCaptured(c, image, await completeAndRead(c), "avml");
            const call = JSON.parse(c.log.find((l) => l.startsWith("avml "))!.slice(5)) as { self: string };
            assert.match(call.self, new RegExp(`^${noexec}/irf-mem\\.[^/]+/exec/avml$`), `AVML ran from ${call.self}`);
            assert.match(c.stderr, /staging AVML in a private tmpfs/);
        });

        it("no module, only noexec staging and no way to mount: exit 3 with the reason, AVML never executed", async function () {
            const image = makeImage(PART_SIZE + 10, 50);
            const noexec = path.join(tmp, "noexec-nomount", "shm");
            const noMount = path.join(tmp, "nomount-bin");
            fs.mkdirSync(noMount, { recursive: true });
            fs.writeFileSync(path.join(noMount, "mount"), "#!/bin/sh\necho 'mount: permission denied' >&2\nexit 32\n", { mode: 0o755 });
            const c = await runCase({
                name: "noexec-nomount", image, kernel: "6.1.0-unknown", stagingDirs: [noexec], wrap: inNoexecNamespace(noexec),
                extraEnv: { PATH: `${noMount}:${shimmedPath()}` },
            });
            assert.strictEqual(c.code, 3, c.stderr);
            assert.strictEqual(c.result.tool, null);
            assert.strictEqual(c.result.sha256, null);
            assert.ok(c.result.errors.some((e) => /all noexec, and no private tmpfs could be mounted/.test(e)), c.result.errors.join("; "));
            assert.ok(!c.log.some((l) => l.startsWith("avml")));
        });
    });
});
