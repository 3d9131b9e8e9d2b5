/**
 * The module factory's orchestration: launch a short-lived builder instance per AMI (on deploy, on the
 * refresh schedule, or when the engine met a kernel without a module), terminate builders that outlive
 * their time limit, merge each build's report into index.json after checking every file's SHA-256,
 * stage the pinned AVML binaries, and send a build report to the notification topic.
 *
 * The builder itself is imagebuilder/build-modules.sh, passed in as text (user data, gzip-compressed).
 */
import { createHash, randomBytes } from "crypto";
import { gzipSync } from "zlib";
import {
    _InstanceType, DescribeImagesCommand, DescribeInstancesCommand, EC2Client, Instance, RunInstancesCommand, TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { errorText } from "../shared/aws";
import {
    Arch, avmlKey, AvmlEntry, builtKernels, isKernelRelease, lime, ModuleEntry, readIndex, safeText, symbols, updateIndex, withAvml,
    withModules,
} from "./moduleIndex";
import { settingsFromEnvironment } from "../shared/runtime";
import { BUILD_REQUEST_DETAIL_TYPE } from "../shared/buildRequests";

/** Tag every builder instance and volume carries (the sweep and the dedupe look for it). */
export const BUILDER_TAG = "ir-forensics:module-builder";
/** Tag naming the kernel a requested build is for (one pending build per kernel). */
export const REQUESTED_KERNEL_TAG = "ir-forensics:requested-kernel";
/** Minutes a builder may run past its own limit before the sweep terminates it. */
export const SWEEP_GRACE_MINUTES = 15;
export interface GitTool {
    version: string;
    repository: string;
    commit: string;
}

/** What the factory's functions are deployed with (their `IRF_SETTINGS`). */
export interface ModuleFactorySettings {
    partition: string;
    /** The module store and its region. */
    bucket: string;
    bucketRegion: string;
    /** Build reports go here (the engine's notification topic). */
    topicArn: string;
    instanceProfileArn: string;
    /** Where builders run, by region. */
    networks: Record<string, { subnetIds: string[]; securityGroupId: string; publicIp: boolean }>;
    /** The configured AMIs, by region. */
    amiIds: Record<string, string[]>;
    instanceTypes: Record<Arch, string>;
    maxBuildMinutes: number;
    maxKernelsPerBuild: number;
    rootVolumeGiB: number;
    tools: {
        lime: GitTool;
        dwarf2json: GitTool;
        avml: { version: string; urls: Record<Arch, string>; sha256: Record<Arch, string> };
    };
}

export interface BuildRequest {
    amiId: string;
    region: string;
    /** Why (deploy, schedule, engine request): recorded in the instance's tags. */
    reason: string;
    /** Kernels to build besides what the AMI's repositories offer (the engine's request). */
    wantKernels?: string[];
}

export interface LaunchedBuild {
    buildId: string;
    amiId: string;
    region: string;
    arch: Arch;
    instanceId: string;
    /** Kernels the builder is told to skip (already in the index with the current tools). */
    skipKernels: string[];
}

const AMI = /^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

function archOf(architecture: string | undefined): Arch {
    if (architecture === "x86_64") {
        return "x86_64";
    }
    if (architecture === "arm64") {
        return "arm64";
    }
    throw new Error(`unsupported AMI architecture ${architecture} (the factory builds for x86_64 and arm64)`);
}

/** Single-quoted for a POSIX shell. */
function shellQuote(value: string): string {
    return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * User data that writes the builder script to a root-only directory and runs it with its inputs,
 * logging to the console (visible with GetConsoleOutput). Gzip-compressed (cloud-init reads it as is)
 * to stay under the 16 KB user-data limit, then base64 as RunInstances wants it.
 */
export function builderUserData(script: string, env: Record<string, string>): string {
    const marker = "IRF_BUILDER_SCRIPT_EOF";
    if (script.includes(marker)) {
        throw new Error(`the builder script must not contain ${marker}`);
    }
    const exports = Object.entries(env).map(([k, v]) => {
        if (!/^IRF_[A-Z0-9_]+$/.test(k)) {
            throw new Error(`bad builder variable name ${k}`);
        }
        return `export ${k}=${shellQuote(v)}`;
    });
    const text = [
        "#!/bin/bash",
        "install -d -m 700 /root/irf-build",
        `cat >/root/irf-build/build-modules.sh <<'${marker}'`,
        script.endsWith("\n") ? script.slice(0, -1) : script,
        marker,
        ...exports,
        "exec bash /root/irf-build/build-modules.sh >/dev/console 2>&1",
        "",
    ].join("\n");
    const packed = gzipSync(Buffer.from(text, "utf8"), { level: 9 });
    if (packed.length > 16_384) {
        throw new Error(`builder user data is ${packed.length} bytes compressed; EC2 allows 16384`);
    }
    return packed.toString("base64");
}

function newBuildId(amiId: string, at: Date): string {
    return `${at.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}-${amiId}-${randomBytes(3).toString("hex")}`;
}

/**
 * Launches one builder from `request.amiId` in its region: architecture and root device from the AMI,
 * the factory's instance profile, a subnet of that region's build network, IMDSv2 only, an encrypted
 * root volume deleted with the instance, and shutdown behaviour "terminate" (the builder powers off at
 * the end and at its time limit).
 */
export async function launchBuild(
    ec2: EC2Client,
    s3: S3Client,
    settings: ModuleFactorySettings,
    script: string,
    request: BuildRequest,
    at: Date = new Date(),
    profileRetryMs = 10_000,
): Promise<LaunchedBuild> {
    if (!AMI.test(request.amiId)) {
        throw new Error(`not an AMI id: ${request.amiId}`);
    }
    const network = settings.networks[request.region];
    if (!network || network.subnetIds.length === 0) {
        throw new Error(`no build network in ${request.region}`);
    }
    const wanted = (request.wantKernels ?? []).filter(isKernelRelease);
    const images = await ec2.send(new DescribeImagesCommand({ ImageIds: [request.amiId] }));
    const image = images.Images?.[0];
    if (!image) {
        throw new Error(`AMI ${request.amiId} not found in ${request.region}`);
    }
    const arch = archOf(image.Architecture);
    const { index } = await readIndex(s3, settings.bucket, at.toISOString());
    const skipKernels = builtKernels(index, arch, { lime: settings.tools.lime.version, dwarf2json: settings.tools.dwarf2json.version });
    const buildId = newBuildId(request.amiId, at);
    const t = settings.tools;
    const userData = builderUserData(script, {
        IRF_BUCKET: settings.bucket,
        IRF_BUCKET_REGION: settings.bucketRegion,
        IRF_BUILD_ID: buildId,
        IRF_SOURCE_AMI: request.amiId,
        IRF_SOURCE_REGION: request.region,
        IRF_LIME_REPO: t.lime.repository,
        IRF_LIME_COMMIT: t.lime.commit,
        IRF_LIME_VERSION: t.lime.version,
        IRF_DWARF2JSON_REPO: t.dwarf2json.repository,
        IRF_DWARF2JSON_COMMIT: t.dwarf2json.commit,
        IRF_DWARF2JSON_VERSION: t.dwarf2json.version,
        IRF_MAX_KERNELS: String(settings.maxKernelsPerBuild),
        IRF_MAX_MINUTES: String(settings.maxBuildMinutes),
        IRF_SKIP_KERNELS: skipKernels.join(" "),
        IRF_WANT_KERNELS: wanted.join(" "),
    });
    // Spread builds over the region's subnets (and so its zones), in case one zone lacks capacity.
    const subnetId = network.subnetIds[createHash("sha256").update(buildId).digest()[0] % network.subnetIds.length];
    const rootDevice = image.RootDeviceName ?? "/dev/xvda";
    const amiRootGiB = image.BlockDeviceMappings?.find((b) => b.DeviceName === rootDevice)?.Ebs?.VolumeSize ?? 0;
    const tags = [
        { Key: "Name", Value: "ir-forensics-module-builder" },
        { Key: BUILDER_TAG, Value: "true" },
        { Key: "ir-forensics:build-id", Value: buildId },
        { Key: "ir-forensics:source-ami", Value: request.amiId },
        { Key: "ir-forensics:build-reason", Value: request.reason.slice(0, 250) },
        ...(wanted.length === 1 ? [{ Key: REQUESTED_KERNEL_TAG, Value: `${arch}/${wanted[0]}` }] : []),
    ];
    const run = new RunInstancesCommand({
        ImageId: request.amiId,
        InstanceType: settings.instanceTypes[arch] as _InstanceType,
        MinCount: 1,
        MaxCount: 1,
        IamInstanceProfile: { Arn: settings.instanceProfileArn },
        NetworkInterfaces: [{
            DeviceIndex: 0,
            SubnetId: subnetId,
            Groups: [network.securityGroupId],
            AssociatePublicIpAddress: network.publicIp,
            DeleteOnTermination: true,
        }],
        UserData: userData,
        InstanceInitiatedShutdownBehavior: "terminate",
        MetadataOptions: { HttpTokens: "required", HttpPutResponseHopLimit: 1, HttpEndpoint: "enabled" },
        BlockDeviceMappings: [{
            DeviceName: rootDevice,
            Ebs: { VolumeSize: Math.max(amiRootGiB, settings.rootVolumeGiB), VolumeType: "gp3", Encrypted: true, DeleteOnTermination: true },
        }],
        TagSpecifications: [
            { ResourceType: "instance", Tags: tags },
            { ResourceType: "volume", Tags: tags },
        ],
    });
    const out = await withProfileRetry(() => ec2.send(run), profileRetryMs);
    const instanceId = out.Instances?.[0]?.InstanceId;
    if (!instanceId) {
        throw new Error(`RunInstances for ${request.amiId} returned no instance`);
    }
    return { buildId, amiId: request.amiId, region: request.region, arch, instanceId, skipKernels };
}

/**
 * A new instance profile takes seconds to become usable by EC2 (IAM is eventually consistent): the first
 * deploy creates the profile and launches at once, so RunInstances is retried on that error only.
 */
async function withProfileRetry<T>(launch: () => Promise<T>, delayMs: number, attempts = 6): Promise<T> {
    for (let attempt = 1; ; attempt++) {
        try {
            return await launch();
        } catch (err) {
            if (attempt >= attempts || !/instance profile/i.test(errorText(err))) {
                throw err;
            }
            await new Promise((r) => setTimeout(r, delayMs));
        }
    }
}

async function builders(ec2: EC2Client, extraFilters: Array<{ Name: string; Values: string[] }> = []): Promise<Instance[]> {
    const found: Instance[] = [];
    let token: string | undefined;
    do {
        const page = await ec2.send(new DescribeInstancesCommand({
            Filters: [
                { Name: `tag:${BUILDER_TAG}`, Values: ["true"] },
                { Name: "instance-state-name", Values: ["pending", "running", "stopping", "stopped"] },
                ...extraFilters,
            ],
            NextToken: token,
        }));
        found.push(...(page.Reservations ?? []).flatMap((r) => r.Instances ?? []));
        token = page.NextToken;
    } while (token);
    return found;
}

/** Terminates builders older than their time limit plus a grace period (a builder that could not power off). */
export async function sweepBuilders(ec2: EC2Client, maxBuildMinutes: number, at: Date = new Date()): Promise<string[]> {
    const limit = at.getTime() - (maxBuildMinutes + SWEEP_GRACE_MINUTES) * 60_000;
    const overdue = (await builders(ec2))
        .filter((i) => i.InstanceId && i.LaunchTime && new Date(i.LaunchTime).getTime() < limit)
        .map((i) => i.InstanceId!);
    if (overdue.length > 0) {
        await ec2.send(new TerminateInstancesCommand({ InstanceIds: overdue }));
    }
    return overdue;
}

// ------------------------------------------------------------------------------------------ reports

export interface KernelResult {
    kernelRelease: string;
    status: "built" | "failed";
    step?: string;
    reason?: string;
}

/** What a build report says and what the indexer made of it. */
export interface BuildSummary {
    buildId: string;
    sourceAmi: string;
    sourceRegion: string;
    arch: string;
    distribution: string;
    built: Array<{ kernelRelease: string; symbols: "available" | "unavailable"; symbolsReason?: string }>;
    failed: Array<{ kernelRelease: string; step: string; reason: string }>;
    skipped: string[];
    /** Kernels asked for that this AMI's distribution does not publish. */
    notOffered: string[];
    errors: string[];
}

interface ReportKernel {
    kernelRelease?: unknown;
    status?: unknown;
    path?: unknown;
    sha256?: unknown;
    version?: unknown;
    banner?: unknown;
    builtAt?: unknown;
    symbolsStatus?: unknown;
    symbolsPath?: unknown;
    symbolsSha256?: unknown;
    symbolsReason?: unknown;
    dwarf2jsonVersion?: unknown;
    step?: unknown;
    reason?: unknown;
}

interface BuildReport {
    buildId?: unknown;
    sourceAmi?: unknown;
    sourceRegion?: unknown;
    arch?: unknown;
    distribution?: unknown;
    kernels?: ReportKernel[];
    skipped?: unknown[];
    notOffered?: unknown[];
    errors?: unknown[];
}

const str = (v: unknown): string => (typeof v === "string" ? v : "");
const REPORT_KEY = /^builds\/([A-Za-z0-9._-]{1,128})\/report\.json$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

async function objectSha256(s3: S3Client, bucket: string, key: string): Promise<string> {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const hash = createHash("sha256");
    for await (const chunk of out.Body as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
    }
    return hash.digest("hex");
}

/**
 * Merges the build report at `key` into index.json. Every module and symbol table is read back and its
 * SHA-256 compared with the report's before it is indexed: the index only ever names files whose hash
 * it states truly. Returns the summary that the build report notification carries.
 */
export async function recordBuild(s3: S3Client, bucket: string, key: string, at: () => string = () => new Date().toISOString()): Promise<BuildSummary> {
    const match = REPORT_KEY.exec(key);
    if (!match) {
        throw new Error(`not a build report key: ${key}`);
    }
    const body = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
    const report = JSON.parse(body) as BuildReport;
    const arch = str(report.arch);
    const sourceAmi = str(report.sourceAmi);
    const summary: BuildSummary = {
        buildId: match[1],
        sourceAmi,
        sourceRegion: safeText(str(report.sourceRegion), 64),
        arch: safeText(arch, 16),
        distribution: safeText(str(report.distribution), 128),
        built: [],
        failed: [],
        skipped: (report.skipped ?? []).map(str).filter(isKernelRelease),
        notOffered: (report.notOffered ?? []).map(str).filter(isKernelRelease),
        errors: (report.errors ?? []).map((e) => safeText(str(e))),
    };
    const usable = (arch === "x86_64" || arch === "arm64") && AMI.test(sourceAmi);
    if (!usable) {
        summary.errors.push(`the report names no supported architecture and source AMI (${safeText(arch, 16)}, ${safeText(sourceAmi, 32)})`);
    }
    const entries: ModuleEntry[] = [];
    for (const k of report.kernels ?? []) {
        const kr = str(k.kernelRelease);
        if (!isKernelRelease(kr)) {
            summary.errors.push(`a kernel result without a valid kernel release (${safeText(kr, 64)})`);
            continue;
        }
        if (k.status !== "built") {
            summary.failed.push({ kernelRelease: kr, step: safeText(str(k.step), 32) || "build", reason: safeText(str(k.reason)) || "no reason given" });
            continue;
        }
        if (!usable) {
            summary.failed.push({ kernelRelease: kr, step: "index", reason: "the report is not usable" });
            continue;
        }
        const a = arch as Arch;
        try {
            const entry = await verifiedEntry(s3, bucket, a, kr, k, summary, at());
            entries.push(entry);
            summary.built.push({ kernelRelease: kr, symbols: entry.symbolsStatus, ...(entry.symbolsReason ? { symbolsReason: entry.symbolsReason } : {}) });
        } catch (err) {
            summary.failed.push({ kernelRelease: kr, step: "index", reason: safeText(errorText(err)) });
        }
    }
    if (entries.length > 0) {
        await updateIndex(s3, bucket, at, (index) => withModules(index, entries, at()));
    }
    return summary;
}

async function verifiedEntry(s3: S3Client, bucket: string, arch: Arch, kr: string, k: ReportKernel, summary: BuildSummary, at: string): Promise<ModuleEntry> {
    const path = lime(arch, kr);
    if (k.path !== path) {
        throw new Error(`module path ${safeText(str(k.path), 200)} is not ${path}`);
    }
    const sha = await objectSha256(s3, bucket, path);
    if (sha !== k.sha256) {
        throw new Error(`${path} has SHA-256 ${sha}, the report says ${safeText(str(k.sha256), 64)}`);
    }
    const version = str(k.version);
    if (!/^[A-Za-z0-9._+-]{1,64}$/.test(version)) {
        throw new Error("the report gives no LiME version");
    }
    const banner = safeText(str(k.banner));
    const entry: ModuleEntry = {
        arch,
        kernelRelease: kr,
        path,
        sha256: sha,
        version,
        banner: banner.startsWith(`Linux version ${kr}`) ? banner : `Linux version ${kr}`,
        ...(summary.distribution ? { distribution: summary.distribution } : {}),
        sourceAmi: summary.sourceAmi,
        ...(summary.sourceRegion ? { sourceRegion: summary.sourceRegion } : {}),
        builtAt: TIMESTAMP.test(str(k.builtAt)) ? str(k.builtAt) : at,
        symbolsStatus: "unavailable",
    };
    if (k.symbolsStatus === "available") {
        const symbolsPath = symbols(arch, kr);
        const d2j = str(k.dwarf2jsonVersion);
        if (k.symbolsPath !== symbolsPath || !/^[A-Za-z0-9._+-]{1,64}$/.test(d2j)) {
            entry.symbolsReason = "the build report's symbol table entry is malformed";
            return entry;
        }
        const symbolsSha = await objectSha256(s3, bucket, symbolsPath);
        if (symbolsSha !== k.symbolsSha256) {
            entry.symbolsReason = `${symbolsPath} does not have the SHA-256 the build reported`;
            return entry;
        }
        return { ...entry, symbolsStatus: "available", symbolsPath, symbolsSha256: symbolsSha, dwarf2jsonVersion: d2j };
    }
    entry.symbolsReason = safeText(str(k.symbolsReason)) || "not built";
    return entry;
}

/** One SNS message per build: what was built (with or without symbols), what failed and why. */
export async function publishBuildReport(sns: SNSClient, topicArn: string, summary: BuildSummary): Promise<void> {
    const failed = summary.failed.length > 0 || summary.errors.length > 0;
    const subject = `[ir-forensics] module build ${summary.sourceAmi || summary.buildId} (${summary.arch}): ` +
        `${summary.built.length} built, ${summary.failed.length} failed`;
    await sns.send(new PublishCommand({
        TopicArn: topicArn,
        Subject: subject.replace(/[^\x20-\x7e]/g, " ").slice(0, 100),
        Message: JSON.stringify({ kind: "module-build", ...summary }, null, 2),
        MessageAttributes: { kind: { DataType: "String", StringValue: failed ? "module-build-failed" : "module-build" } },
    }));
}

// ------------------------------------------------------------------------------------------ AVML

/** Downloads a URL's bytes (fetch in Lambda; tests pass their own). */
export type Download = (url: string) => Promise<Uint8Array>;

export const fetchDownload: Download = async (url) => {
    const res = await fetch(url, { redirect: "follow" });
    if (!res.ok) {
        throw new Error(`GET ${url}: HTTP ${res.status}`);
    }
    return new Uint8Array(await res.arrayBuffer());
};

/**
 * Stages the pinned AVML binary of each architecture whose SHA-256 is configured: downloaded, refused
 * unless its SHA-256 is the configured one, stored under avml/<arch>/avml and listed in index.json.
 * Architectures already staged with that version and hash are left alone.
 */
export async function stageAvml(
    s3: S3Client,
    settings: Pick<ModuleFactorySettings, "bucket" | "tools">,
    download: Download,
    at: () => string = () => new Date().toISOString(),
): Promise<{ staged: Arch[]; unchanged: Arch[]; failed: Array<{ arch: Arch; reason: string }> }> {
    const avml = settings.tools.avml;
    const { index } = await readIndex(s3, settings.bucket, at());
    const result = { staged: [] as Arch[], unchanged: [] as Arch[], failed: [] as Array<{ arch: Arch; reason: string }> };
    const entries: AvmlEntry[] = [];
    for (const arch of ["x86_64", "arm64"] as Arch[]) {
        const expected = avml.sha256[arch];
        if (!expected) {
            continue;
        }
        if (index.avml.some((e) => e.arch === arch && e.version === avml.version && e.sha256 === expected)) {
            result.unchanged.push(arch);
            continue;
        }
        try {
            const bytes = await download(avml.urls[arch]);
            const sha = createHash("sha256").update(bytes).digest("hex");
            if (sha !== expected) {
                throw new Error(`AVML ${avml.version} for ${arch} has SHA-256 ${sha}, the configured pin is ${expected}`);
            }
            await s3.send(new PutObjectCommand({
                Bucket: settings.bucket, Key: avmlKey(arch), Body: bytes, ContentType: "application/octet-stream",
                ChecksumSHA256: Buffer.from(sha, "hex").toString("base64"),
            }));
            entries.push({ arch, path: avmlKey(arch), sha256: sha, version: avml.version, stagedAt: at() });
            result.staged.push(arch);
        } catch (err) {
            result.failed.push({ arch, reason: safeText(errorText(err)) });
        }
    }
    if (entries.length > 0) {
        await updateIndex(s3, settings.bucket, at, (i) => withAvml(i, entries, at()));
    }
    return result;
}

// ------------------------------------------------------------------------------------------ events

/** What starts builds: a deploy (one per AMI), the refresh schedule, or the engine's request. */
export type BuildEvent =
    | { action: "build"; amiId: string; region: string }
    | { action: "refresh" }
    | { action: "stage-avml" }
    | { "detail-type": typeof BUILD_REQUEST_DETAIL_TYPE; detail: { arch?: string; kernelRelease?: string; region?: string; instanceId?: string; accountId?: string } };

export interface BuildClients {
    ec2(region: string): EC2Client;
    s3: S3Client;
    sns: SNSClient;
}

export interface BuildOutcome {
    launched: LaunchedBuild[];
    failed: Array<{ amiId: string; region: string; reason: string }>;
    terminated: string[];
    skipped?: string;
}

async function launchAll(clients: BuildClients, settings: ModuleFactorySettings, script: string, requests: BuildRequest[], outcome: BuildOutcome) {
    for (const r of requests) {
        try {
            outcome.launched.push(await launchBuild(clients.ec2(r.region), clients.s3, settings, script, r));
        } catch (err) {
            outcome.failed.push({ amiId: r.amiId, region: r.region, reason: errorText(err) });
        }
    }
}

/**
 * The launcher: `build` (one AMI, from a deploy), `refresh` (every configured AMI, after terminating
 * overdue builders), and the engine's `ModuleBuildRequested` event (builders from the configured AMIs
 * of that architecture in that region, asked for that kernel, unless a module or a pending build for it
 * exists). Launch failures are reported to the topic and make the invocation fail.
 */
export async function handleBuildEvent(clients: BuildClients, settings: ModuleFactorySettings, script: string, event: BuildEvent): Promise<BuildOutcome> {
    const outcome: BuildOutcome = { launched: [], failed: [], terminated: [] };
    const configured = Object.entries(settings.amiIds).flatMap(([region, ids]) => ids.map((amiId) => ({ amiId, region })));
    if ("action" in event && event.action === "build") {
        await launchAll(clients, settings, script, [{ amiId: event.amiId, region: event.region, reason: "deploy" }], outcome);
    } else if ("action" in event && event.action === "refresh") {
        for (const region of Object.keys(settings.networks)) {
            try {
                outcome.terminated.push(...await sweepBuilders(clients.ec2(region), settings.maxBuildMinutes));
            } catch (err) {
                outcome.failed.push({ amiId: "-", region, reason: `sweep: ${errorText(err)}` });
            }
        }
        await launchAll(clients, settings, script, configured.map((c) => ({ ...c, reason: "schedule" })), outcome);
    } else if ("detail-type" in event && event["detail-type"] === BUILD_REQUEST_DETAIL_TYPE) {
        await requestedBuild(clients, settings, script, event.detail, configured, outcome);
    } else {
        throw new Error(`unknown module build event ${JSON.stringify(event).slice(0, 200)}`);
    }
    if (outcome.failed.length > 0 || outcome.terminated.length > 0) {
        await clients.sns.send(new PublishCommand({
            TopicArn: settings.topicArn,
            Subject: `[ir-forensics] module builds: ${outcome.failed.length} could not start, ${outcome.terminated.length} overdue terminated`.slice(0, 100),
            Message: JSON.stringify({ kind: "module-build-failed", ...outcome }, null, 2),
            MessageAttributes: { kind: { DataType: "String", StringValue: "module-build-failed" } },
        }));
    }
    if (outcome.failed.length > 0) {
        throw new Error(`module builds failed to start: ${outcome.failed.map((f) => `${f.amiId} (${f.region}): ${f.reason}`).join("; ")}`);
    }
    return outcome;
}

async function requestedBuild(
    clients: BuildClients,
    settings: ModuleFactorySettings,
    script: string,
    detail: { arch?: string; kernelRelease?: string; region?: string },
    configured: Array<{ amiId: string; region: string }>,
    outcome: BuildOutcome,
): Promise<void> {
    const { arch, kernelRelease: kr } = detail;
    if ((arch !== "x86_64" && arch !== "arm64") || !isKernelRelease(kr)) {
        throw new Error(`${BUILD_REQUEST_DETAIL_TYPE} needs arch (x86_64 or arm64) and kernelRelease`);
    }
    const { index } = await readIndex(clients.s3, settings.bucket, new Date().toISOString());
    if (index.modules.some((m) => m.arch === arch && m.kernelRelease === kr)) {
        outcome.skipped = `a module for ${arch}/${kr} exists`;
        return;
    }
    // Same region first: AMIs are regional, and the suspect's region is the likeliest to hold its distribution.
    const regions = detail.region && settings.amiIds[detail.region] ? [detail.region] : Object.keys(settings.amiIds);
    const requests: BuildRequest[] = [];
    for (const region of regions) {
        const ec2 = clients.ec2(region);
        const pending = await builders(ec2, [{ Name: `tag:${REQUESTED_KERNEL_TAG}`, Values: [`${arch}/${kr}`] }]);
        if (pending.length > 0) {
            outcome.skipped = `a build for ${arch}/${kr} is running (${pending.map((i) => i.InstanceId).join(", ")})`;
            return;
        }
        const ids = configured.filter((c) => c.region === region).map((c) => c.amiId);
        const images = ids.length > 0 ? (await ec2.send(new DescribeImagesCommand({ ImageIds: ids }))).Images ?? [] : [];
        for (const image of images) {
            if (image.ImageId && image.Architecture === arch) {
                requests.push({ amiId: image.ImageId, region, reason: `engine request ${arch}/${kr}`, wantKernels: [kr] });
            }
        }
    }
    if (requests.length === 0) {
        outcome.skipped = `no configured AMI of ${arch} (add one of the suspect's distribution to moduleFactory.amiIds)`;
        return;
    }
    await launchAll(clients, settings, script, requests, outcome);
}

/** The indexer: a build report landed (S3 event), or AVML is to be staged (deploy). */
export type IndexEvent =
    | { Records: Array<{ s3?: { bucket?: { name?: string }; object?: { key?: string } } }> }
    | { action: "stage-avml" };

export async function handleIndexEvent(
    clients: { s3: S3Client; sns: SNSClient },
    settings: ModuleFactorySettings,
    event: IndexEvent,
    download: Download = fetchDownload,
): Promise<{ builds: BuildSummary[]; avml?: Awaited<ReturnType<typeof stageAvml>> }> {
    if ("action" in event && event.action === "stage-avml") {
        const avml = await stageAvml(clients.s3, settings, download);
        if (avml.failed.length > 0 || avml.staged.length > 0) {
            await clients.sns.send(new PublishCommand({
                TopicArn: settings.topicArn,
                Subject: `[ir-forensics] AVML ${settings.tools.avml.version}: ${avml.staged.length} staged, ${avml.failed.length} failed`,
                Message: JSON.stringify({ kind: "avml-staging", ...avml }, null, 2),
                MessageAttributes: { kind: { DataType: "String", StringValue: avml.failed.length > 0 ? "module-build-failed" : "module-build" } },
            }));
        }
        if (avml.failed.length > 0) {
            throw new Error(`AVML staging failed: ${avml.failed.map((f) => `${f.arch}: ${f.reason}`).join("; ")}`);
        }
        return { builds: [], avml };
    }
    const builds: BuildSummary[] = [];
    for (const record of "Records" in event ? event.Records : []) {
        const key = decodeURIComponent((record.s3?.object?.key ?? "").replace(/\+/g, " "));
        if (record.s3?.bucket?.name !== settings.bucket || !REPORT_KEY.test(key)) {
            continue;
        }
        const summary = await recordBuild(clients.s3, settings.bucket, key);
        await publishBuildReport(clients.sns, settings.topicArn, summary);
        builds.push(summary);
    }
    return { builds };
}

// ------------------------------------------------------------------------------------------ Lambda

/** Callback factory of the launcher (clients made per container; one EC2 client per region). */
export function moduleBuildHandler(script: string) {
    return () => {
        const settings = settingsFromEnvironment<ModuleFactorySettings>();
        const byRegion: Record<string, EC2Client> = {};
        const clients: BuildClients = {
            ec2: (region) => (byRegion[region] ??= new EC2Client({ region, maxAttempts: 5 })),
            s3: new S3Client({ region: settings.bucketRegion }),
            sns: new SNSClient({}),
        };
        return (event: BuildEvent) => handleBuildEvent(clients, settings, script, event);
    };
}

/** Callback factory of the indexer. */
export function moduleIndexHandler() {
    const settings = settingsFromEnvironment<ModuleFactorySettings>();
    const clients = { s3: new S3Client({ region: settings.bucketRegion }), sns: new SNSClient({}) };
    return (event: IndexEvent) => handleIndexEvent(clients, settings, event);
}
