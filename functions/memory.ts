/**
 * The memory branch of the incident state machine, as plain functions called from Task states with
 * Wait states between polls (no function sleeps):
 *
 *   planCapture → startCapture → [Wait, pollCapture]* → completeCapture → (retry? startCapture …) → memoryStepRecord
 *
 * The host side is imagebuilder/acquire-memory.sh, run by one SSM Run Command. It gets presigned URLs only
 * (no AWS credentials on the suspect host): GETs for the module store's index.json, the LiME modules the
 * engine knows and the AVML binaries, and one UploadPart URL per part of a multipart upload the engine
 * opened in the evidence bucket. Every URL is a credential: they go into the command's parameters and
 * nowhere else (not into the progress document, action records, errors or logs).
 *
 * Presigned SigV4 URLs made with temporary credentials (an assumed role, a Lambda execution role) stop
 * working when that session expires, whatever `expiresIn` says: the expiry computed here is an upper
 * bound, the real one is min(expiry, session end). The presigning client should hold credentials whose
 * session outlasts the capture budget (the Lambda role's session usually does for captures ≤ a few hours).
 */
import { createHash } from "crypto";
import { Readable } from "stream";
import {
    AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CompletedPart, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand,
    ListPartsCommand, S3Client, UploadPartCommand,
} from "@aws-sdk/client-s3";
import { DescribeInstanceTypesCommand, _InstanceType } from "@aws-sdk/client-ec2";
import { DescribeInstanceInformationCommand, GetCommandInvocationCommand, SSMClient, SendCommandCommand } from "@aws-sdk/client-ssm";
import { EngineSettings, MemberClientFactory, errorText, now } from "./aws";
import { StepRecorder, describeInstance, errorCode } from "./steps";
import { ActionRecord, Artifact, CaseState, InstanceRef, StepRecord } from "./types";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** S3 multipart limits, and the smallest part worth presigning. */
export const MIN_PART_BYTES = 8 * MiB;
export const MAX_PART_BYTES = 5 * GiB;
export const MAX_PARTS = 10_000;
/** SigV4 presigned URLs are capped here (and by the signing session's end, see the header). */
export const MAX_PRESIGN_SECONDS = 12 * 3600;
/** The host script's name, for `producedBy`. */
export const HOST_SCRIPT = "acquire-memory.sh";

export type MemoryTool = "lime" | "avml";
export type ManagedState = "yes" | "no" | "unknown";

/** Sizes and times derived from the instance's RAM. */
export interface MemorySizing {
    memoryMiB: number;
    /** Largest image expected: RAM + ~2% + 64 MiB (LiME range headers, device memory). */
    maxImageBytes: number;
    partSize: number;
    partCount: number;
    /** One capture attempt's budget, and the whole branch's (both tools). */
    budgetSeconds: number;
    presignExpirySeconds: number;
    /** A capture smaller than this is rejected. */
    minBytes: number;
}

/** What the host script prints (its one JSON line). */
export interface HostReport {
    tool: MemoryTool | null;
    toolVersion: string | null;
    kernelRelease?: string;
    arch?: string;
    bytes: number;
    sha256: string | null;
    bannerSeen: boolean;
    minBytes?: number;
    parts: { partNumber: number; etag: string; sha256b64: string; bytes: number }[];
    errors: string[];
}

/** One capture attempt (a multipart upload and the command that feeds it). */
export interface MemoryAttempt {
    attempt: number;
    key: string;
    uploadId: string;
    commandId?: string;
    startedAt: string;
    /** AVML forced (no module URLs given) on a retry after LiME. */
    forceTool?: MemoryTool;
    poll?: "pending" | "done" | "failed";
    commandStatus?: string;
    exitCode?: number;
    report?: HostReport;
    decision?: { accepted: boolean; reasons: string[] };
}

export interface MemoryProgress {
    caseId: string;
    instance: InstanceRef;
    startedAt: string;
    status: "planned" | "not-acquirable" | "running" | "pending" | "uploaded" | "accepted" | "rejected" | "failed";
    reason?: string;
    managed?: ManagedState;
    architecture?: string;
    instanceType?: string;
    sizing?: MemorySizing;
    /** ISO 8601: end of the branch's time budget. */
    deadline?: string;
    attempts: MemoryAttempt[];
    /** Set by completeCapture: run startCapture once more (AVML) — the state machine's Choice reads it. */
    retry?: boolean;
    polls: number;
    actions: ActionRecord[];
    artifacts: Artifact[];
}

export interface MemorySettings {
    documentName: string;
    /** The text of acquire-memory.sh. */
    scriptText: string;
    /** Module store bucket (security account): index.json, lime/<arch>/<kernel>/lime.ko, avml/<arch>/avml. */
    moduleStoreBucket: string;
    /** Kernel releases the store has modules for (from the module factory). */
    knownModules?: { arch: string; kernelRelease: string }[];
    /** Pinned AVML SHA-256 per arch (also in index.json; the script wants both to agree). */
    avmlSha256?: Record<string, string>;
}

export interface PlanOptions {
    /** Override the floor (default: half the RAM). */
    minBytes?: number;
    /** Override the part count limit (default 10,000). */
    maxParts?: number;
}

type Settings = Pick<EngineSettings, "evidenceBucket" | "evidenceKeyArn">;

// ---------------------------------------------------------------------------------------------
// Sizing (pure)

/** Part size, part count, time budget and presign expiry for `memoryMiB` of RAM. */
export function memorySizing(memoryMiB: number, options: PlanOptions = {}): MemorySizing {
    if (!(memoryMiB > 0)) {
        throw new Error(`memory size must be positive, got ${memoryMiB}`);
    }
    const maxParts = Math.min(options.maxParts ?? MAX_PARTS, MAX_PARTS);
    const maxImageBytes = Math.ceil(memoryMiB * MiB * 1.02) + 64 * MiB;
    // Whole MiB parts, at least 8 MiB, few enough to stay within the part limit.
    const partSize = Math.max(MIN_PART_BYTES, Math.ceil(maxImageBytes / maxParts / MiB) * MiB);
    if (partSize > MAX_PART_BYTES) {
        throw new Error(`${memoryMiB} MiB of RAM does not fit in ${maxParts} parts of at most 5 GiB`);
    }
    const partCount = Math.ceil(maxImageBytes / partSize);
    const budgetSeconds = 600 + 60 * Math.ceil(memoryMiB / 1024);
    // Margin: the command may wait for delivery, and the engine polls at intervals.
    const presignExpirySeconds = Math.min(budgetSeconds + 900, MAX_PRESIGN_SECONDS);
    const minBytes = options.minBytes ?? Math.floor((memoryMiB * MiB) / 2);
    return { memoryMiB, maxImageBytes, partSize, partCount, budgetSeconds, presignExpirySeconds, minBytes };
}

function withActions(progress: MemoryProgress, rec: StepRecorder): MemoryProgress {
    return { ...progress, actions: [...progress.actions, ...rec.actions] };
}

// ---------------------------------------------------------------------------------------------
// 1. Plan

/** Is the instance SSM-managed, how big is its memory, and what does that mean for the capture. */
export async function planCapture(
    state: CaseState,
    deps: { member: MemberClientFactory; ssmFor: (instance: InstanceRef) => Promise<SSMClient>; settings?: EngineSettings; options?: PlanOptions },
): Promise<MemoryProgress> {
    const rec = new StepRecorder("memory");
    const base: MemoryProgress = {
        caseId: state.caseId, instance: state.instance, startedAt: now(), status: "planned", attempts: [], polls: 0, actions: [], artifacts: [],
    };
    const done = (p: Partial<MemoryProgress>): MemoryProgress => withActions({ ...base, ...p }, rec);
    try {
        const platform = state.facts?.platform ?? "";
        if (/windows/i.test(platform)) {
            return done({ status: "not-acquirable", reason: `not Linux (${platform})` });
        }
        // Managed? When the inventory check itself fails, the capture is still tried: SendCommand then tells.
        let managed: ManagedState = "unknown";
        const ssm = await deps.ssmFor(state.instance);
        try {
            const out = await ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: "InstanceIds", Values: [state.instance.instanceId] }] }));
            const info = out.InstanceInformationList?.find((i) => i.InstanceId === state.instance.instanceId);
            managed = info?.PingStatus === "Online" ? "yes" : "no";
            rec.record("ssm:DescribeInstanceInformation", "ok", {
                target: state.instance.instanceId, detail: { managed, pingStatus: info?.PingStatus, platform: info?.PlatformName, agent: info?.AgentVersion },
            });
        } catch (err) {
            rec.record("ssm:DescribeInstanceInformation", "failed", {
                target: state.instance.instanceId, error: errorText(err), detail: { managed: "unknown" },
            });
        }
        if (managed === "no") {
            return done({ status: "not-acquirable", reason: "no SSM", managed });
        }

        const clients = await deps.member(state.instance, `irf-memory-${state.caseId}`);
        const found = await rec.read("ec2:DescribeInstances", state.instance.instanceId, () => describeInstance(clients.ec2, state.instance.instanceId));
        const instance = found.ok ? found.value?.instance : undefined;
        if (!instance?.InstanceType) {
            return done({ status: "failed", reason: found.ok ? "instance not found" : found.error, managed });
        }
        const instanceType = instance.InstanceType;
        const types = await rec.read("ec2:DescribeInstanceTypes", instanceType, () =>
            clients.ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: [instanceType as _InstanceType] })));
        const memoryMiB = types.ok ? types.value.InstanceTypes?.[0]?.MemoryInfo?.SizeInMiB : undefined;
        if (!memoryMiB) {
            return done({ status: "failed", reason: `memory size of ${instanceType} unknown`, managed, instanceType });
        }
        const sizing = memorySizing(memoryMiB, deps.options);
        // The branch's budget covers both tools (LiME, then AVML once).
        const deadline = new Date(Date.now() + 2 * sizing.budgetSeconds * 1000).toISOString();
        rec.record("plan", "ok", { target: state.instance.instanceId, detail: { instanceType, ...sizing } });
        return done({ status: "planned", managed, architecture: instance.Architecture, instanceType, sizing, deadline });
    } catch (err) {
        return done({ status: "failed", reason: errorText(err) });
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Start

export interface StartDeps {
    /** Evidence bucket client (forensic account). */
    s3: S3Client;
    /** getSignedUrl bound to a client whose credentials may read the store and write the evidence bucket. */
    presign: (command: GetObjectCommand | UploadPartCommand, expiresIn: number) => Promise<string>;
    /** SSM in the instance's account and region. */
    ssm: SSMClient;
    settings: Settings & { memory: MemorySettings };
}

/** Quotes a value for sh (single quotes). */
function shQuote(value: string): string {
    return `'${value.replace(/'/g, "'\\''")}'`;
}

export function memoryKey(caseId: string, instanceId: string, attempt: number): string {
    return `cases/${caseId}/memory/${instanceId}${attempt > 1 ? `.attempt${attempt}` : ""}.lime`;
}

/** Opens the multipart upload, presigns every URL and sends the command. */
export async function startCapture(progress: MemoryProgress, deps: StartDeps): Promise<MemoryProgress> {
    const rec = new StepRecorder("memory");
    const sizing = progress.sizing;
    if (!sizing || (progress.status !== "planned" && !progress.retry)) {
        return withActions({ ...progress, status: progress.status === "planned" ? "failed" : progress.status, reason: progress.reason ?? "not planned" }, rec);
    }
    const attemptNo = progress.attempts.length + 1;
    const forceTool: MemoryTool | undefined = attemptNo > 1 ? "avml" : undefined;
    const { evidenceBucket, evidenceKeyArn, memory } = deps.settings;
    const key = memoryKey(progress.caseId, progress.instance.instanceId, attemptNo);
    const next: MemoryProgress = { ...progress, retry: false, attempts: [...progress.attempts] };
    const fail = (reason: string): MemoryProgress => withActions({ ...next, status: "failed", reason }, rec);

    const created = await rec.attempt("s3:CreateMultipartUpload", key, () => deps.s3.send(new CreateMultipartUploadCommand({
        Bucket: evidenceBucket, Key: key, ChecksumAlgorithm: "SHA256", ServerSideEncryption: "aws:kms", SSEKMSKeyId: evidenceKeyArn,
        ContentType: "application/octet-stream",
    })), (out) => ({ detail: { uploadId: out.UploadId } }));
    const uploadId = created.ok ? created.value.UploadId : undefined;
    if (!uploadId) {
        return fail(created.ok ? "no upload id" : created.error);
    }
    const attempt: MemoryAttempt = { attempt: attemptNo, key, uploadId, startedAt: now(), ...(forceTool ? { forceTool } : {}) };
    next.attempts.push(attempt);

    // Presign (errors are recorded without the URLs: only counts go into the record).
    const expiresIn = sizing.presignExpirySeconds;
    const env: [string, string][] = [];
    try {
        const store = memory.moduleStoreBucket;
        env.push(["IRF_INDEX_URL", await deps.presign(new GetObjectCommand({ Bucket: store, Key: "index.json" }), expiresIn)]);
        if (!forceTool) {
            const arch = progress.architecture;
            const modules = (memory.knownModules ?? []).filter((m) => !arch || m.arch === arch);
            const lines: string[] = [];
            for (const m of modules) {
                const url = await deps.presign(new GetObjectCommand({ Bucket: store, Key: `lime/${m.arch}/${m.kernelRelease}/lime.ko` }), expiresIn);
                lines.push(`${m.arch}/${m.kernelRelease}=${url}`);
            }
            if (lines.length > 0) {
                env.push(["IRF_MODULE_URLS", lines.join("\n")]);
            }
        }
        for (const arch of ["x86_64", "arm64"]) {
            env.push([`IRF_AVML_URL_${arch}`, await deps.presign(new GetObjectCommand({ Bucket: store, Key: `avml/${arch}/avml` }), expiresIn)]);
            const pinned = memory.avmlSha256?.[arch];
            if (pinned) {
                env.push([`IRF_AVML_SHA256_${arch}`, pinned]);
            }
        }
        const partUrls: string[] = [];
        for (let n = 1; n <= sizing.partCount; n++) {
            partUrls.push(await deps.presign(new UploadPartCommand({ Bucket: evidenceBucket, Key: key, UploadId: uploadId, PartNumber: n }), expiresIn));
        }
        env.push(["IRF_PART_URLS", partUrls.join("\n")], ["IRF_PART_SIZE", String(sizing.partSize)], ["IRF_MIN_BYTES", String(sizing.minBytes)]);
        const storeObjects = 1 + (env.find(([k]) => k === "IRF_MODULE_URLS")?.[1].split("\n").length ?? 0) + 2;
        rec.record("presign", "ok", { target: key, detail: { partUrls: partUrls.length, storeObjects, expiresIn } });
    } catch (err) {
        rec.record("presign", "failed", { target: key, error: errorText(err).replace(/https?:\/\/\S+/g, "<url>") });
        await abortUpload(deps.s3, evidenceBucket, key, uploadId, rec);
        return fail("presigning failed");
    }

    // The command: exports (xtrace off, so nothing echoes them), then the script through bash's stdin.
    // Only the last JSON line of stdout is read back; the URLs never appear in the script's output.
    const marker = `IRF_SCRIPT_${createHash("sha256").update(memory.scriptText).digest("hex").slice(0, 16)}`;
    if (memory.scriptText.includes(marker)) {
        return fail("script text contains its heredoc marker");
    }
    const commands = [
        "set +x",
        ...env.map(([k, v]) => `export ${k}=${shQuote(v)}`),
        `bash -s <<'${marker}'`,
        memory.scriptText.replace(/\n$/, ""),
        marker,
    ];
    const sent = await rec.attempt("ssm:SendCommand", progress.instance.instanceId, () => deps.ssm.send(new SendCommandCommand({
        DocumentName: memory.documentName,
        InstanceIds: [progress.instance.instanceId],
        Comment: `ir-forensics memory ${progress.caseId}`.slice(0, 100),
        // Delivery timeout (the agent must pick it up) and execution timeout (the capture itself).
        TimeoutSeconds: Math.max(30, Math.min(sizing.budgetSeconds, 2_592_000)),
        Parameters: { commands, executionTimeout: [String(sizing.budgetSeconds)] },
    })), (out) => ({ detail: { commandId: out.Command?.CommandId, document: memory.documentName, attempt: attemptNo, forceTool } }));
    if (!sent.ok || !sent.value.Command?.CommandId) {
        await abortUpload(deps.s3, evidenceBucket, key, uploadId, rec);
        attempt.poll = "failed";
        return fail(sent.ok ? "SendCommand returned no command id" : sent.error);
    }
    attempt.commandId = sent.value.Command.CommandId;
    attempt.poll = "pending";
    return withActions({ ...next, status: "running" }, rec);
}

async function abortUpload(s3: S3Client, bucket: string, key: string, uploadId: string, rec: StepRecorder): Promise<void> {
    await rec.attempt("s3:AbortMultipartUpload", key, () => s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })));
}

// ---------------------------------------------------------------------------------------------
// 3. Poll

/** The last line of `text` that parses as a host report. */
export function parseHostReport(text: string | undefined): HostReport | undefined {
    const lines = (text ?? "").split("\n").map((l) => l.trim()).filter((l) => l.startsWith("{"));
    for (let i = lines.length - 1; i >= 0; i--) {
        try {
            const value = JSON.parse(lines[i]) as HostReport;
            if (value && typeof value === "object" && typeof value.bytes === "number" && Array.isArray(value.parts)) {
                return value;
            }
        } catch {
            // not the report (or truncated): keep looking
        }
    }
    return undefined;
}

// An array, not a Set: module-level Sets do not survive Lambda serialization.
const PENDING = ["Pending", "InProgress", "Delayed", "Cancelling"];

/** One look at the command: pending | done (report parsed) | failed. Never sleeps. */
export async function pollCapture(progress: MemoryProgress, deps: { ssm: SSMClient }): Promise<MemoryProgress> {
    const rec = new StepRecorder("memory");
    const attempts = [...progress.attempts];
    const current = attempts[attempts.length - 1] ? { ...attempts[attempts.length - 1] } : undefined;
    if (!current?.commandId) {
        return withActions({ ...progress, status: "failed", reason: progress.reason ?? "no command to poll" }, rec);
    }
    attempts[attempts.length - 1] = current;
    const next: MemoryProgress = { ...progress, attempts, polls: progress.polls + 1 };
    const pastDeadline = progress.deadline !== undefined && Date.now() > Date.parse(progress.deadline);
    try {
        const out = await deps.ssm.send(new GetCommandInvocationCommand({ CommandId: current.commandId, InstanceId: progress.instance.instanceId }));
        current.commandStatus = out.Status;
        current.exitCode = out.ResponseCode;
        if (out.Status && PENDING.includes(out.Status) && !pastDeadline) {
            current.poll = "pending";
            return { ...next, status: "pending" };
        }
        const report = parseHostReport(out.StandardOutputContent);
        if (report) {
            current.report = report;
            current.poll = "done";
            rec.record("ssm:GetCommandInvocation", "ok", {
                target: current.commandId, detail: { status: out.Status, exitCode: out.ResponseCode, tool: report.tool, bytes: report.bytes, errors: report.errors },
            });
            return withActions({ ...next, status: "uploaded" }, rec);
        }
        current.poll = "failed";
        const reason = pastDeadline && out.Status && PENDING.includes(out.Status) ? "time budget exceeded" : `command ${out.Status ?? "?"} without a host report`;
        rec.record("ssm:GetCommandInvocation", "failed", { target: current.commandId, error: reason, detail: { status: out.Status, exitCode: out.ResponseCode } });
        return withActions({ ...next, status: "failed", reason }, rec);
    } catch (err) {
        // Right after SendCommand the invocation may not exist yet.
        if (errorCode(err) === "InvocationDoesNotExist" && !pastDeadline) {
            current.poll = "pending";
            return { ...next, status: "pending" };
        }
        current.poll = "failed";
        rec.record("ssm:GetCommandInvocation", "failed", { target: current.commandId, error: errorText(err) });
        return withActions({ ...next, status: "failed", reason: errorText(err) }, rec);
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Complete and decide

/** SHA-256 and banner search of a stream (the banner may straddle chunks). */
async function digestStream(body: Readable): Promise<{ sha256: string; bytes: number; bannerSeen: boolean }> {
    const banner = Buffer.from("Linux version ", "latin1");
    const hash = createHash("sha256");
    let bytes = 0;
    let bannerSeen = false;
    let tail = Buffer.alloc(0);
    for await (const chunk of body) {
        const buf = chunk as Buffer;
        hash.update(buf);
        bytes += buf.length;
        if (!bannerSeen) {
            const window = Buffer.concat([tail, buf]);
            bannerSeen = window.includes(banner);
            tail = window.subarray(Math.max(0, window.length - (banner.length - 1)));
        }
    }
    return { sha256: hash.digest("hex"), bytes, bannerSeen };
}

/** Completes the upload with the host's parts, re-reads the object and accepts or rejects it. */
export async function completeCapture(progress: MemoryProgress, deps: { s3: S3Client; settings: Settings }): Promise<MemoryProgress> {
    const rec = new StepRecorder("memory");
    const attempts = [...progress.attempts];
    const current = attempts[attempts.length - 1] ? { ...attempts[attempts.length - 1] } : undefined;
    if (!current) {
        return withActions({ ...progress, status: "failed", reason: progress.reason ?? "nothing to complete" }, rec);
    }
    attempts[attempts.length - 1] = current;
    const bucket = deps.settings.evidenceBucket;
    const next: MemoryProgress = { ...progress, attempts, artifacts: [...progress.artifacts] };
    const report = current.report;
    const finish = (status: MemoryProgress["status"], reasons: string[]): MemoryProgress => {
        current.decision = { accepted: status === "accepted", reasons };
        const timeLeft = progress.deadline !== undefined && Date.now() + (progress.sizing?.budgetSeconds ?? 0) * 1000 <= Date.parse(progress.deadline) + 1000;
        const retry = status !== "accepted" && attempts.length < 2 && report?.tool !== "avml" && timeLeft;
        return withActions({ ...next, status, retry, ...(reasons.length > 0 ? { reason: reasons.join("; ") } : { reason: undefined }) }, rec);
    };

    // Parts: the host's list; ListParts when the report lost them (SSM keeps only the first 24,000 chars of stdout).
    let parts: CompletedPart[] = (report?.parts ?? []).map((p) => ({ PartNumber: p.partNumber, ETag: `"${p.etag.replace(/"/g, "")}"`, ChecksumSHA256: p.sha256b64 }));
    if (parts.length === 0) {
        const listed = await rec.read("s3:ListParts", current.key, async () => {
            const all: CompletedPart[] = [];
            let marker: string | undefined;
            do {
                const out = await deps.s3.send(new ListPartsCommand({ Bucket: bucket, Key: current.key, UploadId: current.uploadId, PartNumberMarker: marker }));
                for (const p of out.Parts ?? []) {
                    all.push({ PartNumber: p.PartNumber, ETag: p.ETag, ChecksumSHA256: p.ChecksumSHA256 });
                }
                marker = out.IsTruncated ? out.NextPartNumberMarker : undefined;
            } while (marker);
            return all;
        });
        parts = listed.ok ? listed.value : [];
    }
    if (parts.length === 0) {
        await abortUpload(deps.s3, bucket, current.key, current.uploadId, rec);
        return finish("failed", [`nothing uploaded${report?.errors?.length ? ` (${report.errors.join("; ")})` : ""}`]);
    }
    parts.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    const completed = await rec.attempt("s3:CompleteMultipartUpload", current.key, () => deps.s3.send(new CompleteMultipartUploadCommand({
        Bucket: bucket, Key: current.key, UploadId: current.uploadId, MultipartUpload: { Parts: parts },
    })), (out) => ({ detail: { parts: parts.length, versionId: out.VersionId } }));
    if (!completed.ok) {
        return finish("failed", [`CompleteMultipartUpload: ${completed.error}`]);
    }
    const head = await rec.read("s3:HeadObject", current.key, () => deps.s3.send(new HeadObjectCommand({
        Bucket: bucket, Key: current.key, VersionId: completed.value.VersionId, ChecksumMode: "ENABLED",
    })));
    if (!head.ok) {
        return finish("failed", [`HeadObject: ${head.error}`]);
    }
    const versionId = head.value.VersionId ?? completed.value.VersionId;
    // The engine's own record: SHA-256 of what S3 holds, streamed (never buffered whole).
    const engine = await rec.read("s3:GetObject", current.key, async () => {
        const out = await deps.s3.send(new GetObjectCommand({ Bucket: bucket, Key: current.key, VersionId: versionId }));
        return digestStream(out.Body as Readable);
    });
    if (!engine.ok) {
        return finish("failed", [`GetObject: ${engine.error}`]);
    }
    const bytes = head.value.ContentLength ?? engine.value.bytes;
    const minBytes = progress.sizing?.minBytes ?? 0;
    const reasons: string[] = [];
    if (!report) {
        reasons.push("no host report");
    }
    if (bytes < minBytes) {
        reasons.push(`${bytes} bytes < floor ${minBytes}`);
    }
    if (!report?.bannerSeen || !engine.value.bannerSeen) {
        reasons.push(`no kernel banner (host: ${report?.bannerSeen ?? "?"}, engine: ${engine.value.bannerSeen})`);
    }
    if (report?.sha256 !== engine.value.sha256) {
        reasons.push(`SHA-256 mismatch (host ${report?.sha256 ?? "none"}, engine ${engine.value.sha256})`);
    }
    if (report && report.bytes !== engine.value.bytes) {
        reasons.push(`size mismatch (host ${report.bytes}, stored ${engine.value.bytes})`);
    }
    const accepted = reasons.length === 0;
    const tool = report?.tool ?? "unknown";
    next.artifacts.push({
        kind: "memory",
        key: current.key,
        versionId,
        bytes,
        sha256: engine.value.sha256,
        s3Checksum: head.value.ChecksumSHA256,
        producedBy: `${HOST_SCRIPT} ${tool} ${report?.toolVersion ?? "unknown"}`,
        at: now(),
        detail: {
            accepted, ...(accepted ? {} : { rejected: reasons }), attempt: current.attempt, hostSha256: report?.sha256, hostBytes: report?.bytes,
            bannerSeen: { host: report?.bannerSeen ?? false, engine: engine.value.bannerSeen }, kernelRelease: report?.kernelRelease, arch: report?.arch,
            commandId: current.commandId, uploadId: current.uploadId, startedAt: current.startedAt, hostErrors: report?.errors,
        },
    });
    rec.record("verify-capture", accepted ? "ok" : "failed", { target: current.key, ...(accepted ? {} : { error: reasons.join("; ") }) });
    return finish(accepted ? "accepted" : "rejected", reasons);
}

// ---------------------------------------------------------------------------------------------
// 5. Record

export function memoryStepRecord(progress: MemoryProgress): { step: StepRecord; artifacts: Artifact[] } {
    const status: StepRecord["status"] = progress.status === "accepted" ? (progress.attempts.length > 1 ? "partial" : "succeeded")
        : progress.status === "not-acquirable" ? "skipped" : "failed";
    const error = progress.status === "not-acquirable" ? `memory: not acquirable (${progress.reason ?? "unknown"})`
        : status === "succeeded" ? undefined : progress.reason ?? progress.attempts.map((a) => a.decision?.reasons.join("; ")).filter(Boolean).join(" | ");
    const step: StepRecord = {
        step: "memory",
        status,
        startedAt: progress.startedAt,
        endedAt: now(),
        actions: progress.actions,
        ...(error ? { error } : {}),
        detail: {
            managed: progress.managed, instanceType: progress.instanceType, sizing: progress.sizing, polls: progress.polls,
            attempts: progress.attempts.map((a) => ({ ...a, report: a.report ? { ...a.report, parts: a.report.parts.length } : undefined })),
        },
    };
    return { step, artifacts: progress.artifacts };
}
