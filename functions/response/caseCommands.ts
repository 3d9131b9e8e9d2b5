/**
 * The responder's case commands (`npm run cases -- list | show | release`, scripts/cases.ts) as plain
 * async functions taking SDK clients: the case table and the state machine of the security account, the
 * evidence bucket of the forensic account, and the instance's account through a member role.
 *
 * - `listCases`: every case the evidence bucket (`cases/<id>/manifest.json`) or the case table (registry
 *   items, fallback records) knows, one summary each.
 * - `showCase`: one case's timeline, artifacts (verified as `npm run verify` does), failures, trigger, and
 *   the instance as it is now (`containmentOnInstance`).
 * - `releaseCase`: puts back what the case recorded at isolation (each ENI's groups, the instance profile),
 *   lifts the instance's revocation entries, optionally Auto Scaling and load balancer membership
 *   (`rejoin`) and the protections (`unprotect`), tags `SecurityIncidentStatus=Released`, marks the registry
 *   released and writes the release into the manifest as a new Object Lock version. Each change is reported
 *   as it is made, so that a failure half-way says what was changed.
 */
import { AttachInstancesCommand } from "@aws-sdk/client-auto-scaling";
import { AttributeValue, DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import {
    AssociateIamInstanceProfileCommand, CreateTagsCommand, DescribeSecurityGroupsCommand, DisassociateIamInstanceProfileCommand, EC2Client,
    ModifyInstanceAttributeCommand, ModifyInstanceAttributeRequest, ModifyNetworkInterfaceAttributeCommand, ReplaceIamInstanceProfileAssociationCommand,
} from "@aws-sdk/client-ec2";
import { RegisterInstancesWithLoadBalancerCommand } from "@aws-sdk/client-elastic-load-balancing";
import { RegisterTargetsCommand, TargetDescription } from "@aws-sdk/client-elastic-load-balancing-v2";
import { GetObjectCommand, S3Client, paginateListObjectsV2 } from "@aws-sdk/client-s3";
import { DescribeExecutionCommand, SFNClient } from "@aws-sdk/client-sfn";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { MemberClientFactory, MemberClients, errorText } from "../shared/aws";
import type { EngineSettings } from "../shared/settings";
import { ContainmentView, containmentOnInstance } from "./containmentCheck";
import { putEvidenceJson } from "./evidence";
import { profileNameOf } from "./isolation";
import type { Manifest } from "./record";
import { RegistryRecord, STATUS_RELEASED, getCaseRecord, getInstanceRecord, instanceKey, markReleased, putCaseRecord, registryRecordOf, withLease } from "./registry";
import { removeRevokedInstance } from "./revocation";
import { GROUP_NAMES } from "./securityGroups";
import { currentProfileAssociation, describeInstance, instanceArn } from "../shared/steps";
import { ActionRecord, Artifact, CASES_PREFIX, CASE_TAG, InstanceRef, STATUS_TAG, StepRecord } from "../shared/types";
import { ArtifactCheck, verifyCase } from "../acquisition/verify";

/** The member role the commands assume by default (path and name; components/member/memberIrAutomation.ts RELEASER_ROLE_NAME). */
export const DEFAULT_RELEASER_ROLE = "/ir-forensics/ir-forensics-releaser";

/** The tag value a released instance carries (the opener reports it and acts on nothing). */
export const STATUS_RELEASED_TAG = "Released";

/** Where the commands find the engine, and the member-side names containment uses. */
export interface CaseCommandConfig {
    /** The case table (security account). */
    table: string;
    /** The evidence bucket (forensic account). */
    bucket: string;
    /** The incident state machine: a case's execution is `<machine>:<case id>`. */
    stateMachineArn?: string;
    /** The evidence key a new manifest version is written under (default: the key of the current version). */
    evidenceKeyArn?: string;
    partition: string;
    member: Pick<EngineSettings["member"], "containedProfileName" | "irProfileName">;
}

export interface CaseCommandClients {
    dynamodb: DynamoDBClient;
    s3: S3Client;
    sts: STSClient;
    sfn?: SFNClient;
    /** EC2 of the forensic account in the evidence region: evidence snapshots are checked when given. */
    forensicEc2?: EC2Client;
    /** Clients in the instance's account and region (a member role assumed from the security account). */
    member: MemberClientFactory;
}

/** A command failed: one line naming what was asked and why; `changes` lists what was changed before. */
export class CaseCommandError extends Error {
    constructor(message: string, public readonly changes: ReleaseChange[] = []) {
        super(message);
        this.name = "CaseCommandError";
    }
}

/** Runs one AWS request; a failure becomes a CaseCommandError naming `what`. */
async function asked<T>(what: string, run: () => Promise<T>, changes: ReleaseChange[] = []): Promise<T> {
    try {
        return await run();
    } catch (err) {
        if (err instanceof CaseCommandError) {
            throw err;
        }
        throw new CaseCommandError(`${what}: ${errorText(err)}`.replace(/\s*\n\s*/g, " "), changes);
    }
}

const errName = (err: unknown): string | undefined => (err as { name?: string; Code?: string } | undefined)?.name;

// ------------------------------------------------------------------------------------------ case ids

const CASE_ID = /^(\d{12})-([a-z]{2}(?:-[a-z]+)+-\d+)-(i-[0-9a-f]{8,17})-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** The instance and opening time a case id names (`<account>-<region>-<instance>-<YYYYMMDDTHHMMSSZ>`). */
export function parseCaseId(caseId: string): { instance: InstanceRef; openedAt: string } {
    const m = CASE_ID.exec(caseId);
    if (!m) {
        throw new CaseCommandError(`"${caseId}" is not a case id (<account>-<region>-<instance>-<YYYYMMDDTHHMMSSZ>)`);
    }
    return { instance: { accountId: m[1], region: m[2], instanceId: m[3] }, openedAt: `${m[4]}-${m[5]}-${m[6]}T${m[7]}:${m[8]}:${m[9]}Z` };
}

/** `7d`, `12h`, `30m` in milliseconds. */
export function parseDuration(text: string): number {
    const m = /^(\d+)([dhm])$/.exec(text.trim());
    if (!m) {
        throw new CaseCommandError(`--since "${text}" is not a duration (e.g. 7d, 12h, 30m)`);
    }
    return Number(m[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000 }[m[2] as "d" | "h" | "m"];
}

// ------------------------------------------------------------------------------------------ reading a case

/** A release as the manifest records it. */
export interface ReleaseRecord {
    /** `released`: every change was made; `partial`: the command stopped at `error`. */
    status: "released" | "partial";
    releasedAt: string;
    releasedBy: { arn: string; account?: string; userId?: string };
    reason: string;
    rejoin: boolean;
    unprotect: boolean;
    changes: ReleaseChange[];
    /** What the release left as it was (not rejoined, protection kept, ENIs the case did not record). */
    kept: string[];
    error?: string;
}

export type CaseManifest = Manifest & { releases?: ReleaseRecord[] };

export interface ExecutionView {
    status?: string;
    startDate?: string;
    stopDate?: string;
    error?: string;
}

export interface CaseRecordView {
    caseId: string;
    instance: InstanceRef;
    openedAt: string;
    manifest?: CaseManifest;
    /** Where the record came from: the evidence bucket, or the case table's fallback record. */
    source?: "bucket" | "case-table";
    manifestKey: string;
    manifestVersionId?: string;
    /** The key the current manifest version is encrypted under. */
    manifestKmsKeyId?: string;
    /** Why the bucket's manifest could not be read (the fallback record may stand in). */
    manifestError?: string;
    /** Why the engine kept the record in the case table. */
    fallbackWriteError?: string;
    /** The instance's registry item (it may name a later case). */
    registry?: RegistryRecord;
    execution?: ExecutionView;
}

export const manifestKeyOf = (caseId: string): string => `${CASES_PREFIX}${caseId}/manifest.json`;

async function readManifestObject(s3: S3Client, bucket: string, caseId: string): Promise<{ manifest?: CaseManifest; versionId?: string; kmsKeyId?: string; error?: string; missing?: boolean }> {
    try {
        const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: manifestKeyOf(caseId) }));
        return { manifest: JSON.parse(await out.Body?.transformToString() ?? "{}") as CaseManifest, versionId: out.VersionId, kmsKeyId: out.SSEKMSKeyId };
    } catch (err) {
        if (errName(err) === "NoSuchKey") {
            return { missing: true };
        }
        return { error: `s3:GetObject s3://${bucket}/${manifestKeyOf(caseId)}: ${errorText(err)}` };
    }
}

async function describeExecution(sfn: SFNClient | undefined, stateMachineArn: string | undefined, caseId: string): Promise<ExecutionView | undefined> {
    if (!sfn || !stateMachineArn) {
        return undefined;
    }
    const executionArn = `${stateMachineArn.replace(":stateMachine:", ":execution:")}:${caseId}`;
    try {
        const out = await sfn.send(new DescribeExecutionCommand({ executionArn }));
        return { status: out.status, startDate: out.startDate?.toISOString(), stopDate: out.stopDate?.toISOString(), ...(out.error ? { error: [out.error, out.cause].filter(Boolean).join(": ") } : {}) };
    } catch (err) {
        if (errName(err) === "ExecutionDoesNotExist") {
            return { status: "NONE" };
        }
        return { error: `states:DescribeExecution ${executionArn}: ${errorText(err)}` };
    }
}

/** Reads everything recorded about one case; an unknown case id, or a record nobody may read, throws. */
export async function readCase(clients: CaseCommandClients, config: CaseCommandConfig, caseId: string): Promise<CaseRecordView> {
    const { instance, openedAt } = parseCaseId(caseId);
    const [object, fallback, registry, execution] = await Promise.all([
        readManifestObject(clients.s3, config.bucket, caseId),
        asked(`dynamodb:GetItem on table ${config.table} (the case's fallback record)`, () => getCaseRecord(clients.dynamodb, config.table, caseId)),
        asked(`dynamodb:GetItem on table ${config.table} (the instance's registry item)`, () => getInstanceRecord(clients.dynamodb, config.table, instance)),
        describeExecution(clients.sfn, config.stateMachineArn, caseId),
    ]);
    const view: CaseRecordView = {
        caseId, instance, openedAt, manifestKey: manifestKeyOf(caseId), registry, execution,
        ...(object.error ? { manifestError: object.error } : {}),
        ...(fallback?.writeError ? { fallbackWriteError: fallback.writeError } : {}),
    };
    const fromTable = fallback?.record as CaseManifest | undefined;
    // The newer of the two records stands (a fallback is written when the bucket refused a later version).
    if (object.manifest && (!fromTable || (object.manifest.updatedAt ?? "") >= (fromTable.updatedAt ?? ""))) {
        Object.assign(view, { manifest: object.manifest, source: "bucket", manifestVersionId: object.versionId, manifestKmsKeyId: object.kmsKeyId });
    } else if (fromTable) {
        Object.assign(view, { manifest: fromTable, source: "case-table", manifestKmsKeyId: object.kmsKeyId });
    }
    if (!view.manifest) {
        const owned = registry && (registry.caseId === caseId || registry.containedBy === caseId);
        const executed = execution?.status && execution.status !== "NONE";
        if (object.error && !owned && !executed) {
            throw new CaseCommandError(`case ${caseId}: ${object.error}`);
        }
        if (!owned && !executed) {
            throw new CaseCommandError(`unknown case ${caseId}: no manifest at s3://${config.bucket}/${manifestKeyOf(caseId)}, no record in table ${config.table}`
                + `${config.stateMachineArn ? `, no execution of ${config.stateMachineArn}` : ""}`);
        }
    }
    return view;
}

// ------------------------------------------------------------------------------------------ list

/**
 * Every instance item and every fallback case record of the table (`cases list`); finding items are
 * skipped. One Scan, paginated (the engine never scans: this lives here, not in registry.ts): the table holds one item per instance ever handled.
 */
export async function scanRegistry(db: DynamoDBClient, table: string): Promise<{ instances: RegistryRecord[]; caseRecords: { caseId: string; record: unknown; writeError: string; updatedAt: string }[] }> {
    const instances: RegistryRecord[] = [];
    const caseRecords: { caseId: string; record: unknown; writeError: string; updatedAt: string }[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
        const out = await db.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start, ConsistentRead: true }));
        for (const raw of out.Items ?? []) {
            const item = raw as Record<string, { S?: string; SS?: string[] }>;
            const key = item.instanceKey?.S ?? "";
            if (key.startsWith("case#") && item.record?.S) {
                caseRecords.push({ caseId: key.slice("case#".length), record: JSON.parse(item.record.S), writeError: item.writeError?.S ?? "", updatedAt: item.updatedAt?.S ?? "" });
            } else if (/^\d{12}#[^#]+#i-[0-9a-f]+$/.test(key)) {
                instances.push(registryRecordOf(item));
            }
        }
        start = out.LastEvaluatedKey;
    } while (start);
    return { instances, caseRecords };
}


export interface StepTime {
    step: string;
    status: string;
    /** Milliseconds from the case's opening to the end of the step's last attempt. */
    atMs: number | null;
    attempts: number;
}

export interface CaseSummary {
    caseId: string;
    instanceId: string;
    accountId: string;
    region: string;
    mode?: string;
    /** How the case was asked for: source, requested mode, the tag value as set. */
    trigger: string;
    /** running | contained | uncontained | instance-missing | released | unknown */
    status: string;
    /** The execution (or the manifest) says the case is still being worked on. */
    running: boolean;
    /** The case still owns its instance (acquiring, contained or not contained) and was not released. */
    open: boolean;
    openedAt: string;
    steps: StepTime[];
    /** Artifacts with evidence behind them (an object with a digest, an evidence snapshot), of those recorded. */
    artifacts: { evidenced: number; recorded: number };
    failures: number;
    record: "bucket" | "case-table" | "none";
    recordError?: string;
}

/** The step times of a manifest, in the order the steps first ran. */
export function stepTimes(manifest: CaseManifest | undefined, openedAt: string): StepTime[] {
    const order: string[] = [];
    const byStep = new Map<string, StepRecord[]>();
    for (const s of manifest?.steps ?? []) {
        if (!byStep.has(s.step)) {
            order.push(s.step);
            byStep.set(s.step, []);
        }
        byStep.get(s.step)?.push(s);
    }
    return order.map((step) => {
        const runs = byStep.get(step) ?? [];
        const last = runs[runs.length - 1];
        const end = Date.parse(last?.endedAt ?? "");
        return { step, status: last?.status ?? "?", atMs: Number.isNaN(end) ? null : end - Date.parse(openedAt), attempts: runs.length };
    });
}

const evidenced = (a: Artifact): boolean => a.kind === "disk-snapshot"
    ? typeof (a.detail as { evidenceSnapshotId?: unknown } | undefined)?.evidenceSnapshotId === "string"
    : typeof a.sha256 === "string" && a.sha256.length > 0;

const owns = (registry: RegistryRecord | undefined, caseId: string): boolean =>
    registry !== undefined && (registry.caseId === caseId || registry.containedBy === caseId);

/** The case's standing: released, running (the registry's claim), or what the manifest says. */
function statusOf(caseId: string, manifest: CaseManifest | undefined, registry: RegistryRecord | undefined, execution?: ExecutionView): { status: string; running: boolean; open: boolean } {
    const released = (manifest?.releases ?? []).some((r) => r.status === "released") || registry?.releasedCase === caseId;
    const executing = execution?.status === "RUNNING" || execution?.status === "PENDING_REDRIVE";
    const claimRunning = owns(registry, caseId) && registry?.status === "running";
    const running = executing || claimRunning || (!execution?.status && manifest?.status === "running" && owns(registry, caseId));
    const open = owns(registry, caseId) && (registry?.status as string | undefined) !== STATUS_RELEASED && !released;
    let status: string = manifest?.status ?? (claimRunning ? "running" : "unknown");
    if (status === "running" && owns(registry, caseId) && registry?.status === "contained") {
        // Contained while the copy chain goes on.
        status = "contained";
    }
    return { status: released ? "released" : status, running, open };
}

function triggerText(manifest: CaseManifest | undefined, registry: RegistryRecord | undefined): string {
    const t = manifest?.trigger;
    if (!t) {
        return registry?.mode ?? "?";
    }
    return [t.source, t.requested, t.rawValue ? `"${t.rawValue}"` : ""].filter(Boolean).join(" ");
}

export function summarize(caseId: string, manifest: CaseManifest | undefined, registry: RegistryRecord | undefined, record: CaseSummary["record"], recordError?: string, execution?: ExecutionView): CaseSummary {
    const { instance, openedAt } = parseCaseId(caseId);
    const artifacts = manifest?.artifacts ?? [];
    return {
        caseId, instanceId: instance.instanceId, accountId: instance.accountId, region: instance.region, mode: manifest?.mode ?? registry?.mode,
        trigger: triggerText(manifest, registry),
        ...statusOf(caseId, manifest, registry, execution),
        openedAt: manifest?.openedAt ?? openedAt,
        steps: stepTimes(manifest, manifest?.openedAt ?? openedAt),
        artifacts: { evidenced: artifacts.filter(evidenced).length, recorded: artifacts.length },
        failures: manifest?.failures?.length ?? 0,
        record,
        ...(recordError ? { recordError } : {}),
    };
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
    const results: R[] = new Array(items.length);
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
        while (next < items.length) {
            const i = next++;
            results[i] = await fn(items[i]);
        }
    }));
    return results;
}

export interface ListOptions {
    /** Only cases that still own their instance and were not released. */
    open?: boolean;
    /** Only cases opened this many milliseconds before `now` or later. */
    sinceMs?: number;
    now?: Date;
}

/** Every case the bucket and the case table know, newest first. */
export async function listCases(clients: CaseCommandClients, config: CaseCommandConfig, options: ListOptions = {}): Promise<CaseSummary[]> {
    const ids = new Set<string>();
    await asked(`s3:ListBucket s3://${config.bucket}/${CASES_PREFIX}`, async () => {
        for await (const page of paginateListObjectsV2({ client: clients.s3 }, { Bucket: config.bucket, Prefix: CASES_PREFIX, Delimiter: "/" })) {
            for (const p of page.CommonPrefixes ?? []) {
                ids.add((p.Prefix ?? "").slice(CASES_PREFIX.length).replace(/\/$/, ""));
            }
        }
    });
    const table = await asked(`dynamodb:Scan on table ${config.table}`, () => scanRegistry(clients.dynamodb, config.table));
    const byInstance = new Map(table.instances.map((r) => [r.instanceKey, r]));
    const fallbacks = new Map(table.caseRecords.map((r) => [r.caseId, r]));
    for (const r of table.instances) {
        [r.caseId, r.containedBy].filter((x): x is string => !!x).forEach((x) => ids.add(x));
    }
    table.caseRecords.forEach((r) => ids.add(r.caseId));
    const since = options.sinceMs !== undefined ? (options.now ?? new Date()).getTime() - options.sinceMs : undefined;
    const wanted = [...ids].filter((id) => CASE_ID.test(id)).filter((id) => since === undefined || Date.parse(parseCaseId(id).openedAt) >= since);
    const summaries = await mapLimit(wanted, 8, async (caseId) => {
        const registry = byInstance.get(instanceKey(parseCaseId(caseId).instance));
        const object = await readManifestObject(clients.s3, config.bucket, caseId);
        const fallback = fallbacks.get(caseId)?.record as CaseManifest | undefined;
        if (object.manifest && (!fallback || (object.manifest.updatedAt ?? "") >= (fallback.updatedAt ?? ""))) {
            return summarize(caseId, object.manifest, registry, "bucket");
        }
        if (fallback) {
            return summarize(caseId, fallback, registry, "case-table", object.error ?? fallbacks.get(caseId)?.writeError);
        }
        return summarize(caseId, undefined, registry, "none", object.error);
    });
    return summaries.filter((s) => !options.open || s.open).sort((a, b) => b.openedAt.localeCompare(a.openedAt) || a.caseId.localeCompare(b.caseId));
}

// ------------------------------------------------------------------------------------------ show

export interface ArtifactView {
    kind: string;
    target: string;
    versionId?: string;
    bytes?: number;
    sha256?: string;
    /** verified | mismatch | missing | no-digest | snapshot-ok | snapshot-missing | snapshot-not-evidenced | unchecked | not-verified */
    verification: string;
    problems: string[];
}

export interface CaseView extends CaseSummary {
    manifestKey: string;
    manifestVersionId?: string;
    fallbackWriteError?: string;
    executionStatus?: string;
    timeline: { step: string; status: string; startedAt: string; endedAt: string; error?: string; failedActions: { action: string; target?: string; error?: string }[] }[];
    artifactChecks: ArtifactView[];
    failureList: { step: string; action?: string; target?: string; error: string }[];
    triggeredBy: { source?: string; eventTime?: string; rawValue?: string; identity?: unknown };
    findings?: string[];
    releases: ReleaseRecord[];
    /** The instance as it is now (read from the instance itself). */
    instanceNow?: ContainmentView;
    instanceError?: string;
}

/** What containment recorded: the roles whose credentials it denied to the instance. */
export function revokedRolesOf(manifest: CaseManifest | undefined): string[] {
    const roles = (manifest?.steps ?? []).filter((s) => s.step === "containment")
        .flatMap((s) => (Array.isArray(s.detail?.revokedRoles) ? s.detail?.revokedRoles as string[] : []));
    return [...new Set(roles)];
}

/** One case in full; `verify: false` skips re-reading the artifacts. */
export async function showCase(clients: CaseCommandClients, config: CaseCommandConfig, caseId: string, options: { verify?: boolean } = {}): Promise<CaseView> {
    const record = await readCase(clients, config, caseId);
    const { manifest } = record;
    const summary = summarize(caseId, manifest, record.registry, record.source ?? "none", record.manifestError, record.execution);
    const artifacts = manifest?.artifacts ?? [];
    let checks: ArtifactCheck[] | undefined;
    let notVerified = options.verify === false ? "not verified (--no-verify)" : "";
    if (options.verify !== false && record.source === "bucket") {
        const verification = await verifyCase(caseId, { s3: clients.s3, bucket: config.bucket, ec2: clients.forensicEc2 });
        checks = verification.error ? undefined : verification.artifacts;
        notVerified = verification.error ?? "";
    } else if (options.verify !== false) {
        notVerified = "not verified: the manifest is not in the evidence bucket";
    }
    const artifactChecks: ArtifactView[] = artifacts.map((a, i) => {
        const c = checks?.[i];
        const snapshot = (a.detail as { evidenceSnapshotId?: string } | undefined)?.evidenceSnapshotId;
        return {
            kind: a.kind, target: a.key ?? snapshot ?? "", versionId: a.versionId, bytes: a.bytes, sha256: a.sha256,
            verification: c ? (c.verdict === "unchecked" && a.kind === "disk-snapshot" && !clients.forensicEc2 ? "unchecked (no forensic account credentials)" : c.verdict) : "not-verified",
            problems: c ? c.problems : notVerified ? [notVerified] : [],
        };
    });
    const view: CaseView = {
        ...summary,
        manifestKey: record.manifestKey,
        manifestVersionId: record.manifestVersionId,
        ...(record.fallbackWriteError ? { fallbackWriteError: record.fallbackWriteError } : {}),
        executionStatus: record.execution?.status ?? record.execution?.error,
        timeline: (manifest?.steps ?? []).map((s) => ({
            step: s.step, status: s.status, startedAt: s.startedAt, endedAt: s.endedAt, ...(s.error ? { error: s.error } : {}),
            failedActions: s.actions.filter((a: ActionRecord) => a.outcome === "failed").map((a) => ({ action: a.action, target: a.target, error: a.error })),
        })),
        artifactChecks,
        failureList: manifest?.failures ?? [],
        triggeredBy: {
            source: manifest?.trigger?.source, eventTime: manifest?.trigger?.eventTime, rawValue: manifest?.trigger?.rawValue,
            identity: manifest?.trigger?.identity ?? (manifest?.steps ?? []).find((s) => s.step === "triage")?.detail?.identity ?? null,
        },
        ...(record.registry?.addedFindings && owns(record.registry, caseId) ? { findings: record.registry.addedFindings } : {}),
        releases: manifest?.releases ?? [],
    };
    try {
        const member = await clients.member(record.instance, `irf-show-${record.instance.instanceId}`);
        view.instanceNow = await containmentOnInstance(member, record.instance, { partition: config.partition, member: memberSettings(config) },
            { revokedRoleNames: revokedRolesOf(manifest), caseId });
    } catch (err) {
        view.instanceError = `reading instance ${record.instance.instanceId} in ${record.instance.accountId}/${record.instance.region}: ${errorText(err)}`.replace(/\s*\n\s*/g, " ");
    }
    return view;
}

function memberSettings(config: CaseCommandConfig): EngineSettings["member"] {
    return { responderRolePath: "", responderRoleName: "", protectedRolePathPrefix: "", ...config.member };
}

// ------------------------------------------------------------------------------------------ release

export interface ReleaseChange {
    /** The API call (or registry/manifest write) made. */
    action: string;
    target: string;
    detail?: Record<string, unknown>;
}

/** What the case recorded about the instance before the engine changed it. */
export interface ReleasePlan {
    /** ENI id → the security group ids it had before isolation. */
    groups: Record<string, string[]>;
    /** The instance profile it had (null: none). */
    profile: { profileArn: string } | null;
    /** Roles whose credentials containment denied to the instance. */
    revokedRoles: string[];
    autoScalingGroup?: string;
    targetGroups: { targetGroupArn: string; targets: TargetDescription[] }[];
    classicLoadBalancers: string[];
    /** Instance attributes the engine changed, with their previous values. */
    protections: { attribute: string; previous: unknown }[];
}

const isGroupMap = (v: unknown): v is Record<string, string[]> =>
    typeof v === "object" && v !== null && !Array.isArray(v) && Object.values(v).every((g) => Array.isArray(g) && g.every((x) => typeof x === "string"));

/** The state to put back, from the case's isolation step (containment's, for a contain-only case). */
export function releasePlan(manifest: CaseManifest, instanceId: string): ReleasePlan {
    const steps = manifest.steps ?? [];
    const isolation = steps.filter((s) => s.step === "isolation");
    const containment = steps.filter((s) => s.step === "containment");
    const recordedGroups = [...isolation, ...containment].map((s) => s.detail?.previousGroups).find(isGroupMap);
    if (!recordedGroups) {
        throw new CaseCommandError(`case ${manifest.caseId} recorded no previous security groups (detail.previousGroups of its isolation or containment step)`);
    }
    const withProfile = [
        ...containment.filter((s) => s.detail && "originalProfile" in s.detail).map((s) => s.detail?.originalProfile),
        ...isolation.filter((s) => s.detail && "previousProfile" in s.detail).map((s) => s.detail?.previousProfile),
    ];
    if (withProfile.length === 0) {
        throw new CaseCommandError(`case ${manifest.caseId} recorded no previous instance profile (detail.originalProfile of containment, detail.previousProfile of isolation)`);
    }
    const recorded = withProfile[0] as { profileArn?: unknown } | null;
    const profile = recorded && typeof recorded.profileArn === "string" ? { profileArn: recorded.profileArn } : null;
    const actions = steps.flatMap((s) => s.actions ?? []);
    const ok = (a: ActionRecord) => a.outcome === "ok";
    const protections = new Map<string, unknown>();
    for (const a of actions.filter((x) => x.action === "ec2:ModifyInstanceAttribute" && ok(x) && x.target?.startsWith(`${instanceId}/`))) {
        const attribute = (a.target ?? "").slice(instanceId.length + 1);
        if (attribute !== "blockDeviceMapping" && !protections.has(attribute) && a.detail && "previous" in a.detail) {
            protections.set(attribute, a.detail.previous);
        }
    }
    const detailOf = (key: string) => [...isolation, ...containment].map((s) => s.detail?.[key]).find((v) => v !== undefined);
    const asg = detailOf("autoScalingGroup");
    return {
        groups: recordedGroups,
        profile,
        revokedRoles: revokedRolesOf(manifest),
        ...(typeof asg === "string" && actions.some((a) => a.action === "autoscaling:DetachInstances" && ok(a) && a.target === asg) ? { autoScalingGroup: asg } : {}),
        targetGroups: actions.filter((a) => a.action === "elasticloadbalancing:DeregisterTargets" && ok(a) && a.target)
            .map((a) => ({ targetGroupArn: a.target as string, targets: ((a.detail?.targets ?? []) as TargetDescription[]) })),
        classicLoadBalancers: [...new Set(actions.filter((a) => a.action === "elasticloadbalancing:DeregisterInstancesFromLoadBalancer" && ok(a) && a.target).map((a) => a.target as string))],
        protections: [...protections].map(([attribute, previous]) => ({ attribute, previous })),
    };
}

export interface ReleaseOptions {
    reason: string;
    /** Put Auto Scaling and load balancer membership back. */
    rejoin?: boolean;
    /** Put termination/stop protection and the shutdown behaviour back as they were. */
    unprotect?: boolean;
    /** Called as each change is made (the CLI prints it at once). */
    onChange?: (change: ReleaseChange) => void;
    /** Pause before checking that a revocation write survived concurrent writers (default 1000 ms). */
    revocationSettleMs?: number;
}

export interface ReleaseResult {
    caseId: string;
    instance: InstanceRef;
    release: ReleaseRecord;
    manifestVersionId?: string;
    /** The instance as it is after the release. */
    instanceNow: ContainmentView;
}

const LIVE_EXECUTION = ["RUNNING", "PENDING_REDRIVE"];

const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x));

/** Why the case cannot be released now; undefined when it can. */
function refusal(record: CaseRecordView): string | undefined {
    const { caseId, registry, execution } = record;
    if (registry && registry.caseId === caseId && registry.status === "running") {
        return `case ${caseId} is still acquiring (registry status running${execution?.status ? `, execution ${execution.status}` : ""}): wait for it to end, or stop its execution first`;
    }
    if (execution?.status && LIVE_EXECUTION.includes(execution.status)) {
        return `case ${caseId} is still acquiring (execution ${execution.status}): wait for it to end, or stop its execution first`;
    }
    if (execution?.error && !execution.status) {
        return `cannot tell whether case ${caseId} is still running: ${execution.error}`;
    }
    if (registry && !owns(registry, caseId)) {
        return `instance ${record.instance.instanceId} now belongs to case ${registry.caseId} (${registry.status}): release that case instead`;
    }
    if ((record.manifest?.releases ?? []).some((r) => r.status === "released") || (registry?.releasedCase === caseId && (registry.status as string) === STATUS_RELEASED)) {
        return `case ${caseId} was released already${registry?.releasedAt ? ` at ${registry.releasedAt} by ${registry.releasedBy}` : ""}`;
    }
    if (!record.manifest) {
        return `case ${caseId} has no record to restore from (${record.manifestError ?? "no manifest and no fallback record"})`;
    }
    return undefined;
}

/**
 * Releases the instance of `caseId`: restores what the case recorded, lifts the revocation, tags it
 * `Released`, marks the registry released and records the release in the manifest. Throws a
 * CaseCommandError (with the changes already made) at the first refused call.
 */
export async function releaseCase(clients: CaseCommandClients, config: CaseCommandConfig, caseId: string, options: ReleaseOptions): Promise<ReleaseResult> {
    if (!options.reason?.trim()) {
        throw new CaseCommandError("release needs --reason \"…\" (it is written into the case's manifest)");
    }
    const record = await readCase(clients, config, caseId);
    const refused = refusal(record);
    if (refused) {
        throw new CaseCommandError(`release refused: ${refused}`);
    }
    const manifest = record.manifest as CaseManifest;
    const { instance } = record;
    const id = instance.instanceId;
    const plan = releasePlan(manifest, id);
    const keyArn = config.evidenceKeyArn ?? record.manifestKmsKeyId;
    if (!keyArn) {
        throw new CaseCommandError("release: the evidence key is unknown (the manifest is not in the bucket): pass --evidence-key (evidenceKeyArn in the stack outputs)");
    }
    const caller = await asked("sts:GetCallerIdentity", () => clients.sts.send(new GetCallerIdentityCommand({})));
    const releasedBy = { arn: caller.Arn ?? "unknown", account: caller.Account, userId: caller.UserId };
    const releasedAt = new Date().toISOString();
    const changes: ReleaseChange[] = [];
    const kept: string[] = [];
    const change = (c: ReleaseChange) => {
        changes.push(c);
        options.onChange?.(c);
    };
    const step = <T>(what: string, run: () => Promise<T>) => asked(what, run, changes);
    const release = (status: ReleaseRecord["status"], error?: string): ReleaseRecord => ({
        status, releasedAt, releasedBy, reason: options.reason, rejoin: options.rejoin === true, unprotect: options.unprotect === true,
        changes: [...changes], kept: [...kept], ...(error ? { error } : {}),
    });
    let member: MemberClients | undefined;
    try {
        member = await step(`assuming the member role in ${instance.accountId} for ${id}`, () => clients.member(instance, `irf-release-${id}`));
        const m = member;
        const found = await step(`ec2:DescribeInstances ${id}`, () => describeInstance(m.ec2, id));
        if (!found) {
            throw new CaseCommandError(`release: instance ${id} not found in ${instance.accountId}/${instance.region}`);
        }
        const attached = (found.instance.NetworkInterfaces ?? []).map((e) => ({ id: e.NetworkInterfaceId ?? "", groups: (e.Groups ?? []).map((g) => g.GroupId ?? "") }));
        const wantedGroups = [...new Set(Object.values(plan.groups).flat())];
        if (wantedGroups.length > 0) {
            const described = await step(`ec2:DescribeSecurityGroups ${wantedGroups.join(",")} (the groups recorded at isolation)`,
                async () => (await m.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: wantedGroups }))).SecurityGroups ?? []);
            const engine = described.filter((g) => (Object.values(GROUP_NAMES) as string[]).includes(g.GroupName ?? ""));
            if (engine.length > 0) {
                throw new CaseCommandError(`release: the groups recorded for the ENIs are the engine's own (${engine.map((g) => `${g.GroupId} ${g.GroupName}`).join(", ")}): the case did not record the instance's own groups`);
            }
        }
        for (const eni of attached.filter((e) => !plan.groups[e.id])) {
            kept.push(`ENI ${eni.id} was not recorded by the case: left in ${eni.groups.join(", ")}`);
        }

        // 1. The instance profile it had (or none).
        const association = await step(`ec2:DescribeIamInstanceProfileAssociations ${id}`, () => currentProfileAssociation(m.ec2, id));
        const currentArn = association?.IamInstanceProfile?.Arn;
        if (plan.profile) {
            const wanted = plan.profile.profileArn;
            if (currentArn && profileNameOf(currentArn) === profileNameOf(wanted)) {
                kept.push(`instance profile already ${wanted}`);
            } else if (association?.AssociationId) {
                await step(`ec2:ReplaceIamInstanceProfileAssociation ${id} → ${wanted}`, () => m.ec2.send(new ReplaceIamInstanceProfileAssociationCommand({
                    AssociationId: association.AssociationId, IamInstanceProfile: { Arn: wanted },
                })));
                change({ action: "ec2:ReplaceIamInstanceProfileAssociation", target: id, detail: { from: currentArn, to: wanted } });
            } else {
                await step(`ec2:AssociateIamInstanceProfile ${id} → ${wanted}`, () => m.ec2.send(new AssociateIamInstanceProfileCommand({ InstanceId: id, IamInstanceProfile: { Arn: wanted } })));
                change({ action: "ec2:AssociateIamInstanceProfile", target: id, detail: { to: wanted } });
            }
        } else if (association?.AssociationId) {
            await step(`ec2:DisassociateIamInstanceProfile ${id} (it had no profile before)`, () => m.ec2.send(new DisassociateIamInstanceProfileCommand({ AssociationId: association.AssociationId })));
            change({ action: "ec2:DisassociateIamInstanceProfile", target: id, detail: { from: currentArn, to: null } });
        }

        // 2. The old roles' credentials for this instance.
        const arn = instanceArn(config.partition, instance);
        for (const role of plan.revokedRoles) {
            const outcome = await step(`lifting the revocation of ${id} from role ${role} (iam:PutRolePolicy)`, () => removeRevokedInstance(m.iam, role, arn, options.revocationSettleMs, {
                exclusive: (lease, fn) => withLease(clients.dynamodb, config.table, lease, fn),
            }));
            if (outcome === "ok") {
                change({ action: "revocation-lifted", target: role, detail: { instanceArn: arn } });
            } else {
                kept.push(`role ${role} held no revocation entry for ${id}`);
            }
        }

        // 3. The network: each recorded ENI back in its own groups.
        for (const [eniId, groups] of Object.entries(plan.groups)) {
            const now = attached.find((e) => e.id === eniId);
            if (!now) {
                kept.push(`ENI ${eniId} is no longer attached to ${id}: not restored`);
                continue;
            }
            if (sameSet(now.groups, groups)) {
                kept.push(`ENI ${eniId} already in ${groups.join(", ")}`);
                continue;
            }
            await step(`ec2:ModifyNetworkInterfaceAttribute ${eniId} → ${groups.join(",")}`, () => m.ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: eniId, Groups: groups })));
            change({ action: "ec2:ModifyNetworkInterfaceAttribute", target: eniId, detail: { from: now.groups, to: groups } });
        }

        // 4. Auto Scaling and load balancers, only when asked.
        const memberships = [
            ...(plan.autoScalingGroup ? [`Auto Scaling group ${plan.autoScalingGroup}`] : []),
            ...plan.targetGroups.map((t) => `target group ${t.targetGroupArn}`),
            ...plan.classicLoadBalancers.map((n) => `classic load balancer ${n}`),
        ];
        if (!options.rejoin) {
            kept.push(...memberships.map((x) => `not rejoined to ${x} (--rejoin)`));
        } else {
            if (plan.autoScalingGroup) {
                const group = plan.autoScalingGroup;
                await step(`autoscaling:AttachInstances ${id} → ${group}`, () => m.autoScaling.send(new AttachInstancesCommand({ AutoScalingGroupName: group, InstanceIds: [id] })));
                change({ action: "autoscaling:AttachInstances", target: group, detail: { instanceId: id } });
            }
            for (const t of plan.targetGroups) {
                await step(`elasticloadbalancing:RegisterTargets ${t.targetGroupArn}`, () => m.elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: t.targetGroupArn, Targets: t.targets })));
                change({ action: "elasticloadbalancing:RegisterTargets", target: t.targetGroupArn, detail: { targets: t.targets } });
            }
            for (const name of plan.classicLoadBalancers) {
                await step(`elasticloadbalancing:RegisterInstancesWithLoadBalancer ${name}`, () => m.elb.send(new RegisterInstancesWithLoadBalancerCommand({ LoadBalancerName: name, Instances: [{ InstanceId: id }] })));
                change({ action: "elasticloadbalancing:RegisterInstancesWithLoadBalancer", target: name, detail: { instanceId: id } });
            }
        }

        // 5. Protections, only when asked.
        if (!options.unprotect) {
            kept.push(...plan.protections.map((p) => `${p.attribute} kept as the engine set it (--unprotect puts back ${JSON.stringify(p.previous)})`));
        } else {
            for (const p of plan.protections) {
                const set = protectionRequest(p.attribute, p.previous);
                if (!set) {
                    kept.push(`${p.attribute}: no previous value recorded`);
                    continue;
                }
                await step(`ec2:ModifyInstanceAttribute ${id} ${p.attribute}=${JSON.stringify(p.previous)}`, () => m.ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, ...set })));
                change({ action: "ec2:ModifyInstanceAttribute", target: `${id}/${p.attribute}`, detail: { to: p.previous } });
            }
        }

        // 6. The tag, the registry, the manifest.
        await step(`ec2:CreateTags ${id} ${STATUS_TAG}=${STATUS_RELEASED_TAG}`, () => m.ec2.send(new CreateTagsCommand({
            Resources: [id], Tags: [{ Key: STATUS_TAG, Value: STATUS_RELEASED_TAG }, { Key: CASE_TAG, Value: caseId }],
        })));
        change({ action: "ec2:CreateTags", target: id, detail: { [STATUS_TAG]: STATUS_RELEASED_TAG, [CASE_TAG]: caseId } });
        const marked = await step(`dynamodb:UpdateItem on table ${config.table} (registry released)`,
            () => markReleased(clients.dynamodb, config.table, instance, caseId, { releasedAt, releasedBy: releasedBy.arn, reason: options.reason }));
        if (!marked) {
            throw new CaseCommandError(`release: the registry item of ${id} no longer names case ${caseId} (another case claimed it meanwhile)`, changes);
        }
        change({ action: "registry:markReleased", target: instanceKey(instance), detail: { status: STATUS_RELEASED } });
    } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        // The release stopped half-way: the manifest says what was changed (best effort) before the error goes up.
        if (changes.length > 0) {
            const written = await writeRelease(clients, config, record, keyArn, release("partial", error)).then(() => "", (e: unknown) => `; recording the partial release failed: ${errorText(e)}`);
            throw new CaseCommandError(`${error}${written}`, changes);
        }
        throw err instanceof CaseCommandError ? err : new CaseCommandError(error, changes);
    }
    const done = release("released");
    const versionId = await step(`s3:PutObject s3://${config.bucket}/${record.manifestKey} (the release record)`, () => writeRelease(clients, config, record, keyArn, done));
    change({ action: "s3:PutObject", target: `s3://${config.bucket}/${record.manifestKey}`, detail: { versionId } });
    done.changes = [...changes];
    const m = member as MemberClients;
    const instanceNow = await step(`reading instance ${id} back`, () => containmentOnInstance(m, instance, { partition: config.partition, member: memberSettings(config) }, { revokedRoleNames: plan.revokedRoles, caseId }));
    return { caseId, instance, release: done, manifestVersionId: versionId, instanceNow };
}

/** ModifyInstanceAttribute input that puts one protection back to `previous`. */
function protectionRequest(attribute: string, previous: unknown): Omit<ModifyInstanceAttributeRequest, "InstanceId"> | undefined {
    if (attribute === "disableApiTermination" && typeof (previous ?? false) === "boolean") {
        return { DisableApiTermination: { Value: (previous ?? false) as boolean } };
    }
    if (attribute === "disableApiStop" && typeof (previous ?? false) === "boolean") {
        return { DisableApiStop: { Value: (previous ?? false) as boolean } };
    }
    if (attribute === "instanceInitiatedShutdownBehavior" && typeof previous === "string") {
        return { InstanceInitiatedShutdownBehavior: { Value: previous } };
    }
    return undefined;
}

/**
 * The manifest with the release appended, as a new version (SHA-256 checksum and SSE-KMS with the evidence
 * key, as Object Lock and the bucket policy require); when the record came from the case table, the fallback
 * record is updated too.
 */
async function writeRelease(clients: CaseCommandClients, config: CaseCommandConfig, record: CaseRecordView, keyArn: string, release: ReleaseRecord): Promise<string | undefined> {
    const manifest = record.manifest as CaseManifest;
    const next: CaseManifest = { ...manifest, updatedAt: release.releasedAt, releases: [...(manifest.releases ?? []).filter((r) => r.releasedAt !== release.releasedAt), release] };
    const settings = { evidenceBucket: config.bucket, evidenceKeyArn: keyArn } as EngineSettings;
    try {
        const ref = await putEvidenceJson(clients.s3, settings, record.manifestKey, next);
        record.manifest = next;
        return ref.versionId;
    } catch (err) {
        if (record.source === "case-table") {
            await putCaseRecord(clients.dynamodb, config.table, record.caseId, next, `manifest: ${errorText(err)}`);
        }
        throw err;
    }
}

// ------------------------------------------------------------------------------------------ text output

const secs = (ms: number | null) => (ms === null ? "-" : `+${(ms / 1000).toFixed(1)}s`);

/** One line per case. */
export function formatList(cases: CaseSummary[]): string {
    if (cases.length === 0) {
        return "no cases";
    }
    return cases.map((c) => {
        const steps = c.steps.map((s) => `${s.step} ${secs(s.atMs)}${s.attempts > 1 ? `×${s.attempts}` : ""}${s.status === "succeeded" ? "" : ` ${s.status}`}`).join(", ");
        const state = `${c.status}${c.running && c.status !== "running" ? " (running)" : ""}${c.open ? " open" : ""}`;
        const record = c.record === "bucket" ? "" : c.record === "case-table" ? "  record: case table" : `  record: none${c.recordError ? ` (${c.recordError})` : ""}`;
        return `${c.caseId}  ${c.instanceId}  ${c.accountId}/${c.region}  ${c.trigger}  ${state}  ${steps || "no steps"}  artifacts ${c.artifacts.evidenced}/${c.artifacts.recorded}${record}`;
    }).join("\n");
}

export function formatShow(v: CaseView): string {
    const lines = [
        `case ${v.caseId}`,
        `  instance   ${v.instanceId}  ${v.accountId}/${v.region}  mode ${v.mode ?? "?"}`,
        `  status     ${v.status}${v.running ? " (running)" : ""}${v.open ? ", open" : ""}  execution ${v.executionStatus ?? "?"}`,
        `  record     ${v.record === "bucket" ? `s3 ${v.manifestKey} version ${v.manifestVersionId ?? "?"}` : v.record === "case-table" ? `case table fallback record (${v.fallbackWriteError ?? v.recordError ?? ""})` : `none (${v.recordError ?? ""})`}`,
        `  triggered  ${v.trigger} at ${v.triggeredBy.eventTime ?? "?"} by ${JSON.stringify(v.triggeredBy.identity ?? null)}`,
    ];
    if (v.findings?.length) {
        lines.push(`  findings   ${v.findings.join(", ")}`);
    }
    lines.push("  timeline");
    for (const s of v.timeline) {
        const at = Date.parse(s.endedAt) - Date.parse(v.openedAt);
        lines.push(`    ${s.step.padEnd(12)} ${s.status.padEnd(10)} ${s.startedAt} → ${s.endedAt} (${secs(Number.isNaN(at) ? null : at)})${s.error ? `  ${s.error}` : ""}`);
        for (const a of s.failedActions) {
            lines.push(`      failed ${a.action}${a.target ? ` ${a.target}` : ""}: ${a.error ?? ""}`);
        }
    }
    lines.push(`  artifacts  ${v.artifacts.evidenced}/${v.artifacts.recorded}`);
    for (const a of v.artifactChecks) {
        lines.push(`    ${a.kind.padEnd(13)} ${a.target}  ${a.bytes ?? "-"} B  sha256 ${a.sha256 ?? "-"}  ${a.verification}`);
        for (const p of a.problems) {
            lines.push(`      ${p}`);
        }
    }
    lines.push(`  failures   ${v.failureList.length}`);
    for (const f of v.failureList) {
        lines.push(`    ${f.step}${f.action ? ` ${f.action}` : ""}${f.target ? ` ${f.target}` : ""}: ${f.error}`);
    }
    for (const r of v.releases) {
        lines.push(`  release    ${r.status} at ${r.releasedAt} by ${r.releasedBy.arn}: ${r.reason}${r.error ? `  (stopped: ${r.error})` : ""}`);
    }
    if (v.instanceNow) {
        const i = v.instanceNow;
        lines.push(`  instance now (${i.instanceState}): ${i.contained ? "CONTAINED" : "NOT CONTAINED"}`);
        for (const e of i.enis) {
            lines.push(`    ENI ${e.networkInterfaceId}  groups ${e.groupIds.join(", ") || "none"}`);
        }
        lines.push(`    profile ${i.profileArn ?? "none"}`);
        lines.push(`    credentials denied for roles: ${i.revokedRoles.join(", ") || "none"}`);
        lines.push(`    tags ${Object.entries(i.tags).map(([k, val]) => `${k}=${val}`).join(", ") || "none"}`);
        for (const o of i.open) {
            lines.push(`    open: ${o}`);
        }
    } else if (v.instanceError) {
        lines.push(`  instance now: ${v.instanceError}`);
    }
    return lines.join("\n");
}

export function formatChange(c: ReleaseChange): string {
    return `changed: ${c.action} ${c.target}${c.detail ? ` ${JSON.stringify(c.detail)}` : ""}`;
}

export function formatRelease(r: ReleaseResult): string {
    return [
        `released ${r.caseId} (${r.instance.instanceId}) by ${r.release.releasedBy.arn}: ${r.release.reason}`,
        ...r.release.kept.map((k) => `  kept: ${k}`),
        `  manifest version ${r.manifestVersionId ?? "?"}`,
        `  instance now: groups ${r.instanceNow.enis.map((e) => `${e.networkInterfaceId}=${e.groupIds.join(",")}`).join(" ")}; profile ${r.instanceNow.profileArn ?? "none"}; `
            + `${STATUS_TAG}=${r.instanceNow.tags[STATUS_TAG] ?? "-"}; credentials denied for: ${r.instanceNow.revokedRoles.join(", ") || "none"}`,
    ].join("\n");
}

// ------------------------------------------------------------------------------------------ IAM for the commands

/**
 * The identity policy of a security-account role that runs the case commands (docs/runbook.md "Case commands"):
 * its path must be the responders' (`/ir-forensics/responder/`), which the evidence bucket, its key and the
 * member release roles trust. Reads the case table and executions, reads and writes `cases/`, assumes the
 * member release role.
 */
export function operatorStatements(args: {
    partition: string; securityAccount: string; region: string; table: string; stateMachineArn: string; bucket: string; evidenceKeyArn: string;
    evidenceRegion: string; memberRoleArns: string[];
}): Record<string, unknown>[] {
    const p = args.partition;
    return [
        { Sid: "ReadAndReleaseCases", Effect: "Allow", Action: ["dynamodb:GetItem", "dynamodb:Scan", "dynamodb:UpdateItem", "dynamodb:PutItem"], Resource: `arn:${p}:dynamodb:${args.region}:${args.securityAccount}:table/${args.table}` },
        { Sid: "ReadExecutions", Effect: "Allow", Action: "states:DescribeExecution", Resource: `${args.stateMachineArn.replace(":stateMachine:", ":execution:")}:*` },
        { Sid: "ListCases", Effect: "Allow", Action: "s3:ListBucket", Resource: `arn:${p}:s3:::${args.bucket}` },
        { Sid: "ReadAndWriteManifests", Effect: "Allow", Action: ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], Resource: `arn:${p}:s3:::${args.bucket}/cases/*` },
        {
            Sid: "EvidenceKeyThroughS3", Effect: "Allow", Action: ["kms:Decrypt", "kms:GenerateDataKey"], Resource: args.evidenceKeyArn,
            Condition: { StringEquals: { "kms:ViaService": `s3.${args.evidenceRegion}.amazonaws.com` } },
        },
        { Sid: "AssumeMemberReleaseRoles", Effect: "Allow", Action: "sts:AssumeRole", Resource: args.memberRoleArns },
    ];
}
