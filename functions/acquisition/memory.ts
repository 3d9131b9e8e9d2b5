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
import { createSHA256 } from "hash-wasm";
import { Readable } from "stream";
import {
    AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CompletedPart, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand,
    ListPartsCommand, PutObjectCommand, S3Client, UploadPartCommand,
} from "@aws-sdk/client-s3";
import { DescribeInstanceTypesCommand, _InstanceType } from "@aws-sdk/client-ec2";
import { DescribeInstanceInformationCommand, GetCommandInvocationCommand, SSMClient, SendCommandCommand } from "@aws-sdk/client-ssm";
import { MemberClientFactory, errorText, now } from "../shared/aws";
import type { EngineSettings, MemorySettings } from "../shared/settings";
import { StepRecorder, appendActions, describeInstance, errorCode } from "../shared/steps";
import { ActionRecord, Artifact, CaseState, InstanceRef, StepRecord } from "../shared/types";

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
    /** Parts S3 confirmed, in order from part 1 (the engine reads their ETags from S3). */
    partCount: number;
    /** What the tool read: "lime", or AVML's source (/proc/kcore, /dev/crash, /dev/mem). */
    source?: string | null;
    /** Kernel lockdown mode and Secure Boot, as the host reported them (null: unknown). */
    lockdown?: string | null;
    secureBoot?: boolean | null;
    /** /proc/sys/kernel/tainted before and after LiME was loaded. */
    taint?: { before: number; after: number | null } | null;
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
    /** The upload was aborted before anything could be uploaded (presigning or SendCommand failed). */
    aborted?: boolean;
    /** The engine's read of the completed upload, round by round. */
    verification?: Verification;
}

export interface MemoryProgress {
    caseId: string;
    instance: InstanceRef;
    startedAt: string;
    status: "awaiting-ssm" | "planned" | "not-acquirable" | "running" | "pending" | "uploaded" | "verifying" | "accepted" | "rejected" | "failed";
    reason?: string;
    managed?: ManagedState;
    /** SSM's PingStatus at the last look (ConnectionLost while the agent reconnects after the profile swap). */
    pingStatus?: string;
    /** ISO 8601: until when an agent that lost its connection is waited for. */
    ssmDeadline?: string;
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

export const DEFAULT_SSM_RECONNECT_SECONDS = 600;

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
    return { ...progress, actions: appendActions(progress.actions, rec.actions) };
}

// ---------------------------------------------------------------------------------------------
// 1. Plan

/** Is the instance SSM-managed, how big is its memory, and what does that mean for the capture. */
export async function planCapture(
    state: CaseState,
    deps: { member: MemberClientFactory; ssmFor: (instance: InstanceRef) => Promise<SSMClient>; settings?: EngineSettings & { memory?: MemorySettings }; options?: PlanOptions },
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
        const ssm = await agentState(state.instance, deps, rec);
        if (ssm.managed === "no") {
            // Not registered when the case began: SSM will not come. Registered then (the profile swap costs the
            // agent its credentials for a while): wait for it to reconnect.
            if (state.facts?.ssmAtStart === "unmanaged") {
                return done({ status: "not-acquirable", reason: "no SSM (not a managed instance when the case began)", managed: ssm.managed, pingStatus: ssm.pingStatus });
            }
            const gone = await instanceGone(state.caseId, state.instance, deps, rec);
            if (gone) {
                return done({ status: "not-acquirable", reason: `${gone}: no memory to capture`, managed: ssm.managed, pingStatus: ssm.pingStatus });
            }
            const wait = deps.settings?.memory?.ssmReconnectSeconds ?? DEFAULT_SSM_RECONNECT_SECONDS;
            return done({
                status: "awaiting-ssm", managed: ssm.managed, pingStatus: ssm.pingStatus,
                ssmDeadline: new Date(Date.now() + wait * 1000).toISOString(), reason: `waiting for the SSM agent (${ssm.pingStatus ?? "not listed"})`,
            });
        }
        return withActions(await planSizing(base, ssm.managed, deps, rec), rec);
    } catch (err) {
        return done({ status: "failed", reason: errorText(err) });
    }
}

/** Is the instance online in SSM now? When the inventory check itself fails, the capture is still tried: SendCommand then tells. */
async function agentState(instance: InstanceRef, deps: { ssmFor: (instance: InstanceRef) => Promise<SSMClient> }, rec: StepRecorder): Promise<{ managed: ManagedState; pingStatus?: string }> {
    try {
        const ssm = await deps.ssmFor(instance);
        const out = await ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: "InstanceIds", Values: [instance.instanceId] }] }));
        const info = out.InstanceInformationList?.find((i) => i.InstanceId === instance.instanceId);
        const managed: ManagedState = info?.PingStatus === "Online" ? "yes" : "no";
        rec.record("ssm:DescribeInstanceInformation", "ok", {
            target: instance.instanceId, detail: { managed, pingStatus: info?.PingStatus, platform: info?.PlatformName, agent: info?.AgentVersion },
        });
        return { managed, pingStatus: info?.PingStatus };
    } catch (err) {
        rec.record("ssm:DescribeInstanceInformation", "failed", { target: instance.instanceId, error: errorText(err), detail: { managed: "unknown" } });
        return { managed: "unknown" };
    }
}

/**
 * One more look at an agent that lost its connection: planned once it is back, not acquirable once the
 * wait is over. The state machine waits between looks (no function sleeps).
 */
export async function awaitAgent(
    progress: MemoryProgress,
    deps: { member: MemberClientFactory; ssmFor: (instance: InstanceRef) => Promise<SSMClient>; options?: PlanOptions },
): Promise<MemoryProgress> {
    const rec = new StepRecorder("memory");
    const ssm = await agentState(progress.instance, deps, rec);
    const next: MemoryProgress = { ...progress, polls: progress.polls + 1, managed: ssm.managed, pingStatus: ssm.pingStatus };
    if (ssm.managed !== "no") {
        return withActions(await planSizing({ ...next, reason: undefined }, ssm.managed, deps, rec), rec);
    }
    // An agent that will never come back (the instance ended or stopped: its memory is gone) ends the wait
    // at once, so containment is not held up for the whole reconnect window.
    const gone = await instanceGone(progress.caseId, progress.instance, deps, rec);
    if (gone) {
        return withActions({ ...next, status: "not-acquirable", reason: `${gone}: no memory to capture` }, rec);
    }
    if (progress.ssmDeadline && Date.now() > Date.parse(progress.ssmDeadline)) {
        const waited = Math.round((Date.parse(progress.ssmDeadline) - Date.parse(progress.startedAt)) / 1000);
        return withActions({ ...next, status: "not-acquirable", reason: `no SSM (the agent did not reconnect within ${waited} s; PingStatus ${ssm.pingStatus ?? "not listed"})` }, rec);
    }
    // Only the first and last looks go into the record: a reconnecting agent is polled many times.
    return { ...next, status: "awaiting-ssm" };
}

/** States in which an instance's memory is gone or going: nothing left to capture (an array: closure serialization breaks a module-level Set). */
const MEMORY_GONE_STATES = ["shutting-down", "terminated", "stopping", "stopped"];

/**
 * Why there is no memory to wait for ("the instance is terminated"), or undefined while it runs. A
 * failed look is not a reason: the wait goes on and the deadline still ends it.
 */
async function instanceGone(caseId: string, instance: InstanceRef, deps: { member: MemberClientFactory }, rec: StepRecorder): Promise<string | undefined> {
    try {
        const clients = await deps.member(instance, `irf-memory-${caseId}`);
        const found = await describeInstance(clients.ec2, instance.instanceId);
        const state = found?.instance.State?.Name;
        if (!found || (state && MEMORY_GONE_STATES.includes(state))) {
            const reason = found ? `the instance is ${state}` : "the instance is not found";
            rec.record("ec2:DescribeInstances", "ok", { target: instance.instanceId, detail: { instanceFound: !!found, state } });
            return reason;
        }
        return undefined;
    } catch (err) {
        rec.record("ec2:DescribeInstances", "failed", { target: instance.instanceId, error: errorText(err) });
        return undefined;
    }
}

/** How big the instance's memory is, and what that means for the capture. */
async function planSizing(
    base: MemoryProgress,
    managed: ManagedState,
    deps: { member: MemberClientFactory; options?: PlanOptions },
    rec: StepRecorder,
): Promise<MemoryProgress> {
    const state = { caseId: base.caseId, instance: base.instance };
    const done = (p: Partial<MemoryProgress>): MemoryProgress => ({ ...base, ...p });
    try {
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
    /** Module store client (security account): reads index.json, writes the capture's session file. */
    store: S3Client;
    /** getSignedUrl bound to a client whose credentials may read the store and write the evidence bucket. */
    presign: (command: GetObjectCommand | UploadPartCommand, expiresIn: number) => Promise<string>;
    /** SSM in the instance's account and region. */
    ssm: SSMClient;
    settings: Settings & { memory: MemorySettings };
}

/** Key of a capture's session file in the module store (expired by the store's lifecycle after a day). */
export function sessionKey(caseId: string, instanceId: string, attempt: number): string {
    return `sessions/${caseId}/${instanceId}-${attempt}.txt`;
}

/** Kernel releases of `arch` the store's index.json has LiME modules for. */
async function storeModules(store: S3Client, bucket: string, arch: string | undefined): Promise<{ arch: string; kernelRelease: string; path: string }[]> {
    const out = await store.send(new GetObjectCommand({ Bucket: bucket, Key: "index.json" }));
    const index = JSON.parse(await out.Body!.transformToString()) as { modules?: { arch?: string; kernelRelease?: string; path?: string }[] };
    return (index.modules ?? [])
        .filter((m): m is { arch: string; kernelRelease: string; path: string } => !!m.arch && !!m.kernelRelease && !!m.path && (!arch || m.arch === arch));
}

/** The document's parameters and the host script's environment variable each one sets. */
export const DOCUMENT_PARAMETERS: Record<string, string> = {
    indexUrl: "IRF_INDEX_URL",
    sessionUrl: "IRF_SESSION_URL",
    avmlUrlX8664: "IRF_AVML_URL_x86_64",
    avmlUrlArm64: "IRF_AVML_URL_arm64",
    avmlSha256X8664: "IRF_AVML_SHA256_x86_64",
    avmlSha256Arm64: "IRF_AVML_SHA256_arm64",
    partSize: "IRF_PART_SIZE",
    minBytes: "IRF_MIN_BYTES",
};

/**
 * The SSM Command document (schema 2.2) that runs acquire-memory.sh with bash, deployed in every member
 * account and region. The script is part of the document, so the member account holds (and CloudTrail
 * names) exactly what ran, and the engine's role can send this document and no other: no arbitrary
 * commands on suspect hosts. Values reach the script as environment variables set from parameters whose
 * allowed patterns admit no quote, blank or newline, so no value can leave its quotes.
 */
export function memoryDocument(scriptText: string): Record<string, unknown> {
    const marker = `IRF_SCRIPT_${createHash("sha256").update(scriptText).digest("hex").slice(0, 16)}`;
    if (scriptText.includes(marker)) {
        throw new Error("the script text contains its heredoc marker");
    }
    const url = { type: "String", allowedPattern: "^https?://[^'\\s]{1,4000}$" };
    const optionalUrl = { ...url, default: "", allowedPattern: "^(https?://[^'\\s]{1,4000})?$" };
    const sha = { type: "String", default: "", allowedPattern: "^([0-9a-f]{64})?$" };
    const count = { type: "String", allowedPattern: "^[0-9]{1,13}$" };
    const kinds: Record<string, object> = {
        indexUrl: url, sessionUrl: url, avmlUrlX8664: optionalUrl, avmlUrlArm64: optionalUrl,
        avmlSha256X8664: sha, avmlSha256Arm64: sha, partSize: count, minBytes: count,
    };
    return {
        schemaVersion: "2.2",
        description: "ir-forensics: capture this host's memory (LiME, AVML fallback) and stream it to the evidence bucket through presigned URLs",
        parameters: {
            ...Object.fromEntries(Object.keys(DOCUMENT_PARAMETERS).map((name) => [name, { ...kinds[name], description: DOCUMENT_PARAMETERS[name] }])),
            executionTimeout: { type: "String", default: "3600", allowedPattern: "^[0-9]{1,6}$", description: "seconds" },
        },
        mainSteps: [{
            action: "aws:runShellScript",
            name: "acquireMemory",
            precondition: { StringEquals: ["platformType", "Linux"] },
            inputs: {
                timeoutSeconds: "{{ executionTimeout }}",
                runCommand: [
                    "set +x",
                    ...Object.entries(DOCUMENT_PARAMETERS).map(([name, variable]) => `export ${variable}='{{ ${name} }}'`),
                    `bash -s <<'${marker}'`,
                    ...scriptText.replace(/\n$/, "").split("\n"),
                    marker,
                ],
            },
        }],
    };
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

    // No ChecksumAlgorithm: S3 would then require that checksum on every part, and a presigned UploadPart
    // cannot carry an x-amz-checksum-* header it did not sign. Each part is sent with Content-MD5 (S3 checks
    // it; Object Lock accepts it) and the whole stream's SHA-256 is compared with the engine's re-read.
    const created = await rec.attempt("s3:CreateMultipartUpload", key, () => deps.s3.send(new CreateMultipartUploadCommand({
        Bucket: evidenceBucket, Key: key, ServerSideEncryption: "aws:kms", SSEKMSKeyId: evidenceKeyArn,
        ContentType: "application/octet-stream",
    })), (out) => ({ detail: { uploadId: out.UploadId } }));
    const uploadId = created.ok ? created.value.UploadId : undefined;
    if (!uploadId) {
        return fail(created.ok ? "no upload id" : created.error);
    }
    const attempt: MemoryAttempt = { attempt: attemptNo, key, uploadId, startedAt: now(), ...(forceTool ? { forceTool } : {}) };
    next.attempts.push(attempt);

    // The modules the store has for this architecture (the host picks the one for its exact kernel).
    const store = memory.moduleStoreBucket;
    let modules: { arch: string; kernelRelease: string; path: string }[] = [];
    if (!forceTool) {
        const read = await rec.read("s3:GetObject", `${store}/index.json`, () => storeModules(deps.store, store, progress.architecture));
        modules = read.ok ? read.value : [];
    }

    // Presign (errors are recorded without the URLs: only counts go into the record). The long lists (one
    // URL per part, per module) go into a session file that the host fetches, never into the command.
    const expiresIn = sizing.presignExpirySeconds;
    const env: [string, string][] = [];
    const session: string[] = [];
    try {
        env.push(["IRF_INDEX_URL", await deps.presign(new GetObjectCommand({ Bucket: store, Key: "index.json" }), expiresIn)]);
        for (const m of modules) {
            session.push(`module ${m.arch}/${m.kernelRelease}=${await deps.presign(new GetObjectCommand({ Bucket: store, Key: m.path }), expiresIn)}`);
        }
        for (const arch of ["x86_64", "arm64"]) {
            env.push([`IRF_AVML_URL_${arch}`, await deps.presign(new GetObjectCommand({ Bucket: store, Key: `avml/${arch}/avml` }), expiresIn)]);
            const pinned = memory.avmlSha256?.[arch];
            if (pinned) {
                env.push([`IRF_AVML_SHA256_${arch}`, pinned]);
            }
        }
        for (let n = 1; n <= sizing.partCount; n++) {
            session.push(`part ${await deps.presign(new UploadPartCommand({ Bucket: evidenceBucket, Key: key, UploadId: uploadId, PartNumber: n }), expiresIn)}`);
        }
        const sessionFile = sessionKey(progress.caseId, progress.instance.instanceId, attemptNo);
        await deps.store.send(new PutObjectCommand({ Bucket: store, Key: sessionFile, Body: `${session.join("\n")}\n`, ContentType: "text/plain" }));
        env.push(
            ["IRF_SESSION_URL", await deps.presign(new GetObjectCommand({ Bucket: store, Key: sessionFile }), expiresIn)],
            ["IRF_PART_SIZE", String(sizing.partSize)], ["IRF_MIN_BYTES", String(sizing.minBytes)],
        );
        rec.record("presign", "ok", { target: key, detail: { partUrls: sizing.partCount, storeObjects: 1 + modules.length + 2 + 1, expiresIn, sessionFile } });
    } catch (err) {
        rec.record("presign", "failed", { target: key, error: errorText(err).replace(/https?:\/\/\S+/g, "<url>") });
        await abortUpload(deps.s3, evidenceBucket, key, uploadId, rec);
        attempt.aborted = true;
        return fail("presigning failed");
    }

    // The command: the project's own document (the only one the member role may send) with the URLs as
    // parameters; its allowed patterns keep every value inside its single quotes.
    const param = (name: string) => env.find(([k]) => k === name)?.[1] ?? "";
    const sent = await rec.attempt("ssm:SendCommand", progress.instance.instanceId, () => deps.ssm.send(new SendCommandCommand({
        DocumentName: memory.documentName,
        InstanceIds: [progress.instance.instanceId],
        Comment: `ir-forensics memory ${progress.caseId}`.slice(0, 100),
        // Delivery timeout (the agent must pick it up) and execution timeout (the capture itself).
        TimeoutSeconds: Math.max(30, Math.min(sizing.budgetSeconds, 2_592_000)),
        Parameters: Object.fromEntries(Object.entries(DOCUMENT_PARAMETERS).map(([name, variable]) => [name, [param(variable)]])
            .concat([["executionTimeout", [String(sizing.budgetSeconds)]]])),
    })), (out) => ({ detail: { commandId: out.Command?.CommandId, document: memory.documentName, attempt: attemptNo, forceTool } }));
    if (!sent.ok || !sent.value.Command?.CommandId) {
        await abortUpload(deps.s3, evidenceBucket, key, uploadId, rec);
        attempt.aborted = true;
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
            if (value && typeof value === "object" && typeof value.bytes === "number" && Array.isArray(value.errors)) {
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
/** A running capture's instance is looked at every this many polls: one that ended stops the wait at once. */
export const LIVENESS_EVERY_POLLS = 3;

export async function pollCapture(progress: MemoryProgress, deps: { ssm: SSMClient; member?: MemberClientFactory }): Promise<MemoryProgress> {
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
            // SSM may report a command on a terminated instance as in progress until its timeout: look at the
            // instance now and then, and stop waiting once its memory is gone (the parts uploaded are kept).
            const gone = deps.member && next.polls % LIVENESS_EVERY_POLLS === 0
                ? await instanceGone(progress.caseId, progress.instance, { member: deps.member }, rec) : undefined;
            if (gone) {
                current.poll = "failed";
                return withActions({ ...next, status: "failed", reason: `${gone}: it ended during the capture` }, rec);
            }
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

/** LiME's range header: magic "EMiL" (0x4C694D45 little-endian), version, first and last address, reserved. */
export const LIME_MAGIC = 0x4c694d45;
export const LIME_HEADER_BYTES = 32;

/** What the structure of a LiME image says: complete ranges only, or where it broke. */
export interface LimeStructure {
    ranges: number;
    /** Bytes of memory in the ranges (headers excluded). */
    dataBytes: number;
    complete: boolean;
    error?: string;
}

/** Where a LiME walk stands between two reads (JSON, so that it rides in the progress document). */
export interface LimeWalkState {
    /** Bytes of the header read so far (base64, < 32 bytes). */
    header: string;
    /** Bytes of the current range still to come (decimal: ranges may exceed 2^53). */
    remaining: string;
    offset: number;
    ranges: number;
    dataBytes: string;
    error?: string;
}

export interface LimeWalker {
    update(chunk: Buffer): void;
    finish(): LimeStructure;
    save(): LimeWalkState;
}

/**
 * Walks a LiME image as it streams (uncompressed format, version 1, as LiME and `avml --format lime`
 * write it): header, range data, header... A stream that ends inside a header or a range, or a header
 * without the magic, is not a complete capture: a truncated upload would otherwise pass every other check.
 * A walk can be saved and resumed from `from` (reads of one image spread over several invocations).
 */
export function limeWalker(onRange?: (first: bigint, last: bigint) => void, from?: LimeWalkState): LimeWalker {
    let offset = from?.offset ?? 0;
    let header = from ? Buffer.from(from.header, "base64") : Buffer.alloc(0);
    let remaining = BigInt(from?.remaining ?? 0);
    let ranges = from?.ranges ?? 0;
    let dataBytes = BigInt(from?.dataBytes ?? 0);
    let error: string | undefined = from?.error;
    return {
        update(chunk: Buffer) {
            let at = 0;
            while (!error && at < chunk.length) {
                if (remaining > 0n) {
                    const take = remaining < BigInt(chunk.length - at) ? Number(remaining) : chunk.length - at;
                    remaining -= BigInt(take);
                    at += take;
                    continue;
                }
                const need = LIME_HEADER_BYTES - header.length;
                header = Buffer.concat([header, chunk.subarray(at, at + need)]);
                at += Math.min(need, chunk.length - at);
                if (header.length < LIME_HEADER_BYTES) {
                    break;
                }
                const start = offset + at - LIME_HEADER_BYTES;
                const magic = header.readUInt32LE(0);
                const version = header.readUInt32LE(4);
                const first = header.readBigUInt64LE(8);
                const last = header.readBigUInt64LE(16);
                if (magic !== LIME_MAGIC || version !== 1 || last < first) {
                    error = `no LiME range header at byte ${start} (magic 0x${magic.toString(16)}, version ${version})`;
                    break;
                }
                onRange?.(first, last);
                remaining = last - first + 1n;
                dataBytes += remaining;
                ranges += 1;
                header = Buffer.alloc(0);
            }
            offset += chunk.length;
        },
        finish() {
            if (!error && ranges === 0) {
                error = "no LiME range in the image";
            } else if (!error && (remaining > 0n || header.length > 0)) {
                error = remaining > 0n
                    ? `truncated: range ${ranges} lacks its last ${remaining} bytes`
                    : `truncated: the stream ends inside a range header (${header.length} of ${LIME_HEADER_BYTES} bytes)`;
            }
            return { ranges, dataBytes: Number(dataBytes), complete: !error, ...(error ? { error } : {}) };
        },
        save() {
            return { header: header.toString("base64"), remaining: remaining.toString(), offset, ranges, dataBytes: dataBytes.toString(), ...(error ? { error } : {}) };
        },
    };
}

/**
 * The kernel banner LiME and AVML images carry near their start. A string, not a Buffer: callbacks are
 * serialized, and a captured module-level Buffer reaches them as a plain object (Pulumi copies its fields).
 */
const KERNEL_BANNER = "Linux version ";

/**
 * The engine's read of a completed upload, resumable: each round reads the next range of the object and
 * carries the SHA-256 state (hash-wasm's saved state: Node's hash cannot be saved), the LiME walk and the
 * banner search to the next, so that an image of any size is verified in rounds of a few minutes.
 */
export interface Verification {
    versionId?: string;
    /** The object's size (HeadObject). */
    bytes: number;
    s3Checksum?: string;
    /** Bytes read and hashed so far. */
    offset: number;
    rounds: number;
    /** Seconds spent reading, all rounds. */
    readSeconds: number;
    /** hash-wasm SHA-256 state after `offset` bytes (base64). */
    hashState?: string;
    lime?: LimeWalkState;
    bannerSeen: boolean;
    /** The last bytes read (base64), where a banner split between two reads begins. */
    tail: string;
}

/** How much one verification round reads: at most `bytes`, and it stops after `seconds`. */
export interface VerifyRoundLimits {
    bytes: number;
    seconds: number;
}

/** Default round: up to 64 GiB or 10 minutes, within the memory function's 15 and the Task state's 15. */
export const DEFAULT_VERIFY_ROUND: VerifyRoundLimits = { bytes: 64 * GiB, seconds: 600 };

function verifyLimits(settings: Partial<Pick<MemorySettings, "verifyRoundBytes" | "verifyRoundSeconds">> | undefined): VerifyRoundLimits {
    return { bytes: settings?.verifyRoundBytes ?? DEFAULT_VERIFY_ROUND.bytes, seconds: settings?.verifyRoundSeconds ?? DEFAULT_VERIFY_ROUND.seconds };
}

/** Reads the next range of the object into the verification's carried state; returns the new state. */
export async function verifyRound(s3: S3Client, bucket: string, key: string, v: Verification, limits: VerifyRoundLimits): Promise<Verification> {
    const started = Date.now();
    const hasher = await createSHA256();
    if (v.hashState) {
        hasher.load(Buffer.from(v.hashState, "base64"));
    } else {
        hasher.init();
    }
    const lime = limeWalker(undefined, v.lime);
    let tail = Buffer.from(v.tail, "base64");
    let bannerSeen = v.bannerSeen;
    let offset = v.offset;
    const end = Math.min(v.bytes, v.offset + limits.bytes);
    if (end > offset) {
        const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: v.versionId, Range: `bytes=${offset}-${end - 1}` }));
        const body = out.Body as Readable;
        try {
            for await (const chunk of body) {
                const buf = chunk as Buffer;
                hasher.update(buf);
                lime.update(buf);
                offset += buf.length;
                if (!bannerSeen) {
                    const window = Buffer.concat([tail, buf]);
                    bannerSeen = window.includes(KERNEL_BANNER, 0, "latin1");
                    tail = window.subarray(Math.max(0, window.length - (KERNEL_BANNER.length - 1)));
                }
                // Stop at a chunk boundary: the state saved below says exactly where the next round starts.
                if (Date.now() - started >= limits.seconds * 1000) {
                    break;
                }
            }
        } finally {
            body.destroy();
        }
    }
    return {
        ...v, offset, rounds: v.rounds + 1, readSeconds: v.readSeconds + (Date.now() - started) / 1000,
        hashState: Buffer.from(hasher.save()).toString("base64"), lime: lime.save(), bannerSeen, tail: tail.toString("base64"),
    };
}

/** The SHA-256 of a finished verification. */
async function verifiedSha256(v: Verification): Promise<string> {
    const hasher = await createSHA256();
    if (v.hashState) {
        hasher.load(Buffer.from(v.hashState, "base64"));
    } else {
        hasher.init();
    }
    return hasher.digest("hex");
}

type Decide = (progress: MemoryProgress, attempts: MemoryAttempt[], current: MemoryAttempt, rec: StepRecorder) => (status: MemoryProgress["status"], reasons: string[]) => MemoryProgress;

/** The attempt's end: its decision, and whether to try once more with AVML while the branch has time. */
const decider: Decide = (progress, attempts, current, rec) => (status, reasons) => {
    current.decision = { accepted: status === "accepted", reasons };
    const timeLeft = progress.deadline !== undefined && Date.now() + (progress.sizing?.budgetSeconds ?? 0) * 1000 <= Date.parse(progress.deadline) + 1000;
    const retry = status !== "accepted" && attempts.length < 2 && current.report?.tool !== "avml" && timeLeft;
    return withActions({ ...progress, attempts, status, retry, ...(reasons.length > 0 ? { reason: reasons.join("; ") } : { reason: undefined }) }, rec);
};

/** The current attempt, copied so that it can be changed without touching `progress`. */
function currentAttempt(progress: MemoryProgress): { attempts: MemoryAttempt[]; current?: MemoryAttempt } {
    const attempts = [...progress.attempts];
    const last = attempts[attempts.length - 1];
    if (!last) {
        return { attempts };
    }
    const current = { ...last };
    attempts[attempts.length - 1] = current;
    return { attempts, current };
}

/**
 * Completes the upload with the parts S3 holds and starts the engine's verification (status `verifying`):
 * the rounds of {@link verifyCapture} read the object back and decide.
 */
export async function completeUpload(progress: MemoryProgress, deps: { s3: S3Client; settings: Settings }): Promise<MemoryProgress> {
    const rec = new StepRecorder("memory");
    const { attempts, current } = currentAttempt(progress);
    if (!current) {
        return withActions({ ...progress, status: "failed", reason: progress.reason ?? "nothing to complete" }, rec);
    }
    const bucket = deps.settings.evidenceBucket;
    const report = current.report;
    const finish = decider(progress, attempts, current, rec);

    // Parts as S3 holds them (their ETags): the host report only counts them, so that it stays
    // within the 24,000 characters of stdout SSM returns, whatever the image size.
    let parts: CompletedPart[] = [];
    {
        const listed = await rec.read("s3:ListParts", current.key, async () => {
            const all: CompletedPart[] = [];
            let marker: string | undefined;
            do {
                const out = await deps.s3.send(new ListPartsCommand({ Bucket: bucket, Key: current.key, UploadId: current.uploadId, PartNumberMarker: marker }));
                for (const p of out.Parts ?? []) {
                    all.push({ PartNumber: p.PartNumber, ETag: p.ETag });
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
    current.verification = {
        versionId: head.value.VersionId ?? completed.value.VersionId, bytes: head.value.ContentLength ?? 0, s3Checksum: head.value.ChecksumSHA256,
        offset: 0, rounds: 0, readSeconds: 0, bannerSeen: false, tail: "",
    };
    return withActions({ ...progress, attempts, status: "verifying" }, rec);
}

/**
 * One round of the engine's own read of the stored image (SHA-256 of what S3 holds, streamed, never
 * buffered whole); after the last, the decision: accepted or rejected, with the memory artifact.
 */
export async function verifyCapture(
    progress: MemoryProgress,
    deps: { s3: S3Client; settings: Settings & { memory?: Partial<Pick<MemorySettings, "verifyRoundBytes" | "verifyRoundSeconds">> } },
): Promise<MemoryProgress> {
    const rec = new StepRecorder("memory");
    const { attempts, current } = currentAttempt(progress);
    if (!current?.verification) {
        return withActions({ ...progress, status: "failed", reason: progress.reason ?? "nothing to verify" }, rec);
    }
    const finish = decider(progress, attempts, current, rec);
    const round = await rec.read("s3:GetObject", current.key, () =>
        verifyRound(deps.s3, deps.settings.evidenceBucket, current.key, current.verification!, verifyLimits(deps.settings.memory)));
    if (!round.ok) {
        return finish("failed", [`GetObject: ${round.error}`]);
    }
    const v = round.value;
    current.verification = v;
    if (v.offset < v.bytes) {
        return withActions({ ...progress, attempts, status: "verifying" }, rec);
    }
    const sha256 = await verifiedSha256(v);
    const structure = limeWalker(undefined, v.lime).finish();
    const report = current.report;
    const minBytes = progress.sizing?.minBytes ?? 0;
    const reasons: string[] = [];
    if (!report) {
        reasons.push("no host report");
    }
    if (v.bytes < minBytes) {
        reasons.push(`${v.bytes} bytes < floor ${minBytes}`);
    }
    if (!report?.bannerSeen || !v.bannerSeen) {
        reasons.push(`no kernel banner (host: ${report?.bannerSeen ?? "?"}, engine: ${v.bannerSeen})`);
    }
    if (report?.sha256 !== sha256) {
        reasons.push(`SHA-256 mismatch (host ${report?.sha256 ?? "none"}, engine ${sha256})`);
    }
    if (!structure.complete) {
        reasons.push(`not a complete LiME image: ${structure.error}`);
    }
    if (report && report.bytes !== v.offset) {
        reasons.push(`size mismatch (host ${report.bytes}, stored ${v.offset})`);
    }
    const accepted = reasons.length === 0;
    const tool = report?.tool ?? "unknown";
    const verified = { rounds: v.rounds, readSeconds: Math.round(v.readSeconds * 10) / 10, mibPerSecond: v.readSeconds > 0 ? Math.round(v.bytes / MiB / v.readSeconds) : undefined };
    const next: MemoryProgress = { ...progress, attempts, artifacts: [...progress.artifacts] };
    next.artifacts.push({
        kind: "memory",
        key: current.key,
        versionId: v.versionId,
        bytes: v.bytes,
        sha256,
        s3Checksum: v.s3Checksum,
        producedBy: `${HOST_SCRIPT} ${tool} ${report?.toolVersion ?? "unknown"}`,
        at: now(),
        detail: {
            accepted, ...(accepted ? {} : { rejected: reasons }), attempt: current.attempt, hostSha256: report?.sha256, hostBytes: report?.bytes,
            bannerSeen: { host: report?.bannerSeen ?? false, engine: v.bannerSeen }, kernelRelease: report?.kernelRelease, arch: report?.arch,
            commandId: current.commandId, uploadId: current.uploadId, startedAt: current.startedAt, hostErrors: report?.errors,
            lime: structure, source: report?.source, kernel: { lockdown: report?.lockdown, secureBoot: report?.secureBoot, taint: report?.taint },
            verification: verified,
        },
    });
    // The carried state has served its purpose; the record keeps only what was verified and how.
    current.verification = { ...v, hashState: undefined, lime: undefined, tail: "" };
    rec.record("verify-capture", accepted ? "ok" : "failed", { target: current.key, detail: verified, ...(accepted ? {} : { error: reasons.join("; ") }) });
    return decider(next, attempts, current, rec)(accepted ? "accepted" : "rejected", reasons);
}

/** Completes the upload and verifies it to the end in this call (rounds back to back): tools and tests. */
export async function completeCapture(progress: MemoryProgress, deps: Parameters<typeof verifyCapture>[1]): Promise<MemoryProgress> {
    let p = await completeUpload(progress, deps);
    while (p.status === "verifying") {
        p = await verifyCapture(p, deps);
    }
    return p;
}

// ---------------------------------------------------------------------------------------------
// 5. Record

/** Kernel taint flags set by loading an out-of-tree, unsigned module (Documentation/admin-guide/tainted-kernels.rst). */
const TAINT_FLAGS: [bit: number, letter: string, meaning: string][] = [[12, "O", "out-of-tree module"], [13, "E", "unsigned module"]];

/**
 * What the case should say about the suspect kernel, from the host reports: the taint LiME caused (the
 * capture changed the host's state, as every live acquisition does) and a lockdown that kept LiME out.
 */
export function memoryNotes(attempts: MemoryAttempt[]): string[] {
    const notes: string[] = [];
    for (const a of attempts) {
        const r = a.report;
        if (!r) {
            continue;
        }
        if (r.taint && r.taint.after !== null && r.taint.after !== r.taint.before) {
            const raised = r.taint.after & ~r.taint.before;
            const named = TAINT_FLAGS.filter(([bit]) => raised & (1 << bit)).map(([, letter, meaning]) => `${letter}: ${meaning}`);
            notes.push(`attempt ${a.attempt}: loading LiME changed the suspect kernel's taint flags from ${r.taint.before} to ${r.taint.after}`
                + `${named.length > 0 ? ` (${named.join(", ")})` : ""}`);
        }
        if (r.lockdown && r.lockdown !== "none") {
            notes.push(`attempt ${a.attempt}: the kernel is in lockdown (${r.lockdown}${r.secureBoot ? ", Secure Boot on" : ""}): an unsigned LiME cannot load`
                + `${r.tool === "avml" ? `; AVML read ${r.source ?? "memory"} instead` : ""}`);
        }
    }
    return notes;
}

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
            attempts: progress.attempts.map(({ verification, ...a }) => verification ? { ...a, verification: { ...verification, hashState: undefined, lime: undefined, tail: undefined } } : a),
            notes: memoryNotes(progress.attempts),
        },
    };
    // A branch cut short while verifying still lists the stored image: evidence is never dropped, only unverified.
    const current = progress.attempts[progress.attempts.length - 1];
    const unverified: Artifact[] = progress.status === "verifying" && current?.verification ? [{
        kind: "memory", key: current.key, versionId: current.verification.versionId, bytes: current.verification.bytes, s3Checksum: current.verification.s3Checksum,
        producedBy: `${HOST_SCRIPT} ${current.report?.tool ?? "unknown"} ${current.report?.toolVersion ?? "unknown"}`, at: now(),
        detail: { accepted: false, rejected: ["verification did not finish"], verifiedBytes: current.verification.offset, hostSha256: current.report?.sha256, attempt: current.attempt },
    }] : [];
    return { step, artifacts: [...progress.artifacts, ...unverified] };
}
