/**
 * The disk branch of evidence acquisition, as plain functions for Step Functions Task states. Each call
 * does one round of work and returns the branch's `DiskProgress` document; the state machine waits
 * (Wait states, never a sleeping Lambda) and calls `checkSnapshots` until `allCompleted`, because a
 * first snapshot of a large volume takes hours.
 *
 *   startSnapshots → [Wait, checkSnapshots]* → copyForSharing → [Wait, checkSnapshots]* → shareCopies
 *   → copyIntoForensic → [Wait, checkSnapshots]* → cleanupMemberCopies → diskStepRecord
 *
 * Originals are a crash-consistent set (CreateSnapshots). The member-side copy is re-encrypted under the
 * member account's IR KMS key (the `aws/ebs` key cannot be shared), shared with the forensic account only,
 * and copied into the forensic account under the evidence key. Every failure (a missing KMS grant, an
 * AccessDenied, a snapshot in `error`) is recorded in the document and ends that volume's chain; no
 * function throws, so the branch always ends with a record and never holds up containment.
 */
import {
    CopySnapshotCommand, CreateSnapshotCommand, CreateSnapshotsCommand, DeleteSnapshotCommand, DescribeSnapshotAttributeCommand,
    DescribeSnapshotsCommand, EC2Client, LockSnapshotCommand, ModifySnapshotAttributeCommand, Snapshot, Tag,
} from "@aws-sdk/client-ec2";
import { MemberClientFactory, errorText, now } from "../shared/aws";
import type { EngineSettings, DiskSettings, SnapshotLock } from "../shared/settings";
import { StepRecorder, appendActions, describeInstance, errorCode } from "../shared/steps";
import { ActionRecord, Artifact, CaseState, InstanceRef, StepRecord } from "../shared/types";

export const DISK_CASE_TAG = "ir-forensics:case";
export const DISK_VOLUME_TAG = "ir-forensics:source-volume";
export const DISK_DEVICE_TAG = "ir-forensics:device";
export const DISK_SOURCE_SNAPSHOT_TAG = "ir-forensics:source-snapshot";
export const DISK_MEMBER_ACCOUNT_TAG = "ir-forensics:member-account";

/** Polls of `checkSnapshots` before pending snapshots are recorded as timed out (with 5-min waits: 60 h). */
export const DEFAULT_MAX_CHECKS = 720;

/** The part of the chain a record is about. */
export type DiskStage = "snapshot" | "copy" | "share" | "evidence" | "lock" | "cleanup";

/** One volume's chain: original snapshot → member-side re-encrypted copy → evidence snapshot. */
export interface DiskSnapshot {
    sourceVolumeId: string;
    /** false: snapshotted on its own, after the crash-consistent set left it out (or could not be made). */
    crashConsistent?: boolean;
    device: string;
    sizeGiB?: number;
    originalSnapshotId?: string;
    /** EC2 state of the original: pending | completed | error. */
    state: string;
    /** The original's KMS key when the volume is encrypted (a customer key must let the responder copy it). */
    sourceKmsKeyId?: string;
    copySnapshotId?: string;
    copyState?: string;
    /** As requested, then as EC2 reports it. */
    copyKmsKeyId?: string;
    /** The createVolumePermission user ids, as DescribeSnapshotAttribute showed them after sharing. */
    sharedWith?: string[];
    evidenceSnapshotId?: string;
    evidenceState?: string;
    evidenceKmsKeyId?: string;
    /** EBS snapshot lock of the evidence snapshot, as EC2 confirmed it. */
    evidenceLock?: { mode: string; lockedUntil?: string };
    copyDeleted?: boolean;
    originalDeleted?: boolean;
    /** Set when this volume's chain failed: later stages leave it alone. */
    error?: string;
}

export interface DiskFailure {
    stage: DiskStage;
    sourceVolumeId?: string;
    snapshotId?: string;
    error: string;
    at: string;
    /** The same failure again in later rounds: how often, and the last time. */
    repeats?: number;
    lastAt?: string;
}

/** The disk branch's document, passed from Task to Task. */
export interface DiskProgress {
    caseId: string;
    instance: InstanceRef;
    startedAt: string;
    snapshots: DiskSnapshot[];
    /** Every snapshot of the current stage is completed or failed: the next stage can run. */
    allCompleted: boolean;
    failed: DiskFailure[];
    /** Actions of every call so far (a Task's StepRecorder does not outlive its Lambda). */
    actions: ActionRecord[];
    checks: number;
}

export interface MemberDiskDeps {
    member: MemberClientFactory;
    settings: EngineSettings & { disk: DiskSettings };
}

export interface CheckDeps {
    member: MemberClientFactory;
    /** Needed once evidence copies exist (they live in the forensic account). */
    forensicEc2?: EC2Client;
    settings?: { disk?: Pick<DiskSettings, "maxChecks"> };
}

export interface ForensicDiskDeps {
    /** A client of the forensic account in the forensic home region (the copy's destination). */
    forensicEc2: EC2Client;
    settings: { evidenceKeyArn: string; forensicRegion: string };
}

const tags = (entries: Record<string, string | undefined>): Tag[] =>
    Object.entries(entries).filter(([, v]) => v !== undefined).map(([Key, Value]) => ({ Key, Value }));

const aliasName = (alias: string): string => (alias.startsWith("alias/") || alias.startsWith("arn:") ? alias : `alias/${alias}`);

/** Ends one volume's chain with a recorded failure. */
function failEntry(progress: DiskProgress, entry: DiskSnapshot | undefined, stage: DiskStage, error: string, snapshotId?: string): void {
    if (entry) {
        entry.error = `${stage}: ${error}`;
    }
    // A round that fails the same way again is counted on the first record (the document stays bounded).
    const same = progress.failed.find((f) => f.stage === stage && f.sourceVolumeId === entry?.sourceVolumeId && f.snapshotId === snapshotId && f.error === error);
    if (same) {
        same.repeats = (same.repeats ?? 1) + 1;
        same.lastAt = now();
        return;
    }
    progress.failed.push({ stage, sourceVolumeId: entry?.sourceVolumeId, snapshotId, error, at: now() });
}

/**
 * Runs one Task's work on a copy of the document with a fresh recorder, appends its actions and never
 * throws: what the body throws (the member role cannot be assumed, say) becomes a recorded failure.
 */
async function task(
    progress: DiskProgress,
    stage: DiskStage,
    body: (rec: StepRecorder, next: DiskProgress) => Promise<void>,
): Promise<DiskProgress> {
    const next: DiskProgress = {
        ...progress,
        snapshots: progress.snapshots.map((s) => ({ ...s })),
        failed: progress.failed.map((f) => ({ ...f })),
        actions: [...progress.actions],
    };
    const rec = new StepRecorder("disk");
    try {
        await body(rec, next);
    } catch (err) {
        const error = errorText(err);
        rec.record(`disk-${stage}`, "failed", { error });
        failEntry(next, undefined, stage, error);
    }
    next.actions = appendActions(next.actions, rec.actions);
    next.allCompleted = next.snapshots.every((s) => s.error !== undefined || currentState(s) === "completed");
    return next;
}

/** The state of the latest snapshot of a volume's chain. */
function currentState(s: DiskSnapshot): string | undefined {
    return s.evidenceSnapshotId ? s.evidenceState : s.copySnapshotId ? s.copyState : s.state;
}

async function memberEc2(deps: { member: MemberClientFactory }, progress: DiskProgress): Promise<EC2Client> {
    return (await deps.member(progress.instance, `${progress.caseId}-disk`)).ec2;
}

// ---------------------------------------------------------------------------------------------
// 1. Original snapshots

/** CreateSnapshots of every EBS volume of the instance (one crash-consistent set), tagged per volume. */
export async function startSnapshots(state: CaseState, deps: { member: MemberClientFactory; settings?: EngineSettings }): Promise<DiskProgress> {
    const initial: DiskProgress = {
        caseId: state.caseId, instance: state.instance, startedAt: now(), snapshots: [], allCompleted: false, failed: [], actions: [], checks: 0,
    };
    return task(initial, "snapshot", async (rec, next) => {
        const ec2 = await memberEc2(deps, next);
        let devices = state.facts?.blockDevices;
        if (!devices) {
            const found = await rec.read("ec2:DescribeInstances", state.instance.instanceId, () => describeInstance(ec2, state.instance.instanceId));
            devices = found.ok ? (found.value?.instance.BlockDeviceMappings ?? [])
                .map((b) => ({ deviceName: b.DeviceName ?? "", volumeId: b.Ebs?.VolumeId ?? "" })).filter((b) => b.volumeId) : [];
        }
        const deviceOf = new Map(devices.map((b) => [b.volumeId, b.deviceName]));
        // CopyTagsFromSource left out ("none"): the volumes' own tags are the suspect's, not the case's.
        const created = await rec.attempt("ec2:CreateSnapshots", state.instance.instanceId, () => ec2.send(new CreateSnapshotsCommand({
            InstanceSpecification: { InstanceId: state.instance.instanceId, ExcludeBootVolume: false },
            Description: `ir-forensics case ${state.caseId}`,
            TagSpecifications: [{ ResourceType: "snapshot", Tags: tags({ [DISK_CASE_TAG]: state.caseId }) }],
        })), (out) => ({ detail: { snapshotIds: (out.Snapshots ?? []).map((s) => s.SnapshotId) } }));
        if (!created.ok) {
            // Not fatal: each volume is then snapshotted on its own below (e.g. the instance was terminated
            // but isolation kept its volumes).
            next.failed.push({ stage: "snapshot", error: `CreateSnapshots: ${created.error}`, at: now() });
        }
        for (const info of created.ok ? created.value.Snapshots ?? [] : []) {
            const volumeId = info.VolumeId ?? "";
            const entry: DiskSnapshot = {
                sourceVolumeId: volumeId,
                device: deviceOf.get(volumeId) ?? "unknown",
                sizeGiB: info.VolumeSize,
                originalSnapshotId: info.SnapshotId,
                state: info.State ?? "pending",
            };
            // One TagSpecifications set covers the whole set, so the originals carry the case tag only: the
            // responder may tag snapshots at creation only (ec2:CreateAction), and each original's volume is its
            // own VolumeId attribute; the copies carry volume and device tags from their creation on.
            next.snapshots.push(entry);
        }
        // A volume the set left out is snapshotted on its own: evidence first, crash consistency second.
        for (const missing of devices.filter((d) => !next.snapshots.some((s) => s.sourceVolumeId === d.volumeId))) {
            const entry: DiskSnapshot = { sourceVolumeId: missing.volumeId, device: missing.deviceName, state: "missing", crashConsistent: false };
            next.snapshots.push(entry);
            const single = await rec.attempt("ec2:CreateSnapshot", missing.volumeId, () => ec2.send(new CreateSnapshotCommand({
                VolumeId: missing.volumeId,
                Description: `ir-forensics case ${state.caseId} (${missing.deviceName}, outside the crash-consistent set)`,
                TagSpecifications: [{
                    ResourceType: "snapshot",
                    Tags: tags({ [DISK_CASE_TAG]: state.caseId, [DISK_VOLUME_TAG]: missing.volumeId, [DISK_DEVICE_TAG]: missing.deviceName }),
                }],
            })), (out) => ({ detail: { snapshotId: out.SnapshotId, crashConsistent: false } }));
            if (single.ok && single.value.SnapshotId) {
                Object.assign(entry, { originalSnapshotId: single.value.SnapshotId, sizeGiB: single.value.VolumeSize, state: single.value.State ?? "pending" });
            } else {
                failEntry(next, entry, "snapshot", `no snapshot of this volume${single.ok ? "" : `: ${single.error}`}`);
            }
        }
        if (next.snapshots.length === 0) {
            failEntry(next, undefined, "snapshot", "the instance has no EBS volumes");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// 2. Polling (one function for the three waits)

type Stage = { stage: DiskStage; id: string; set: (s: DiskSnapshot, snap: Snapshot) => void };

function pendingStage(s: DiskSnapshot): Stage | undefined {
    if (s.error !== undefined || currentState(s) === "completed") {
        return undefined;
    }
    if (s.evidenceSnapshotId) {
        return { stage: "evidence", id: s.evidenceSnapshotId, set: (e, snap) => { e.evidenceState = snap.State; e.evidenceKmsKeyId = snap.KmsKeyId ?? e.evidenceKmsKeyId; } };
    }
    if (s.copySnapshotId) {
        return { stage: "copy", id: s.copySnapshotId, set: (e, snap) => { e.copyState = snap.State; e.copyKmsKeyId = snap.KmsKeyId ?? e.copyKmsKeyId; } };
    }
    return s.originalSnapshotId
        ? {
            stage: "snapshot", id: s.originalSnapshotId,
            set: (e, snap) => { e.state = snap.State ?? e.state; e.sizeGiB = snap.VolumeSize ?? e.sizeGiB; e.sourceKmsKeyId = snap.KmsKeyId ?? e.sourceKmsKeyId; },
        }
        : undefined;
}

/** Describes `ids` in one call; when one of them is gone (the call then fails whole), each on its own. */
async function describeSnapshots(ec2: EC2Client, ids: string[], rec: StepRecorder): Promise<Map<string, Snapshot | Error>> {
    const found = new Map<string, Snapshot | Error>();
    const all = await rec.read("ec2:DescribeSnapshots", ids.join(","), () => ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: ids })));
    if (all.ok) {
        for (const snap of all.value.Snapshots ?? []) {
            found.set(snap.SnapshotId ?? "", snap);
        }
        return found;
    }
    for (const id of ids) {
        try {
            const out = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [id] }));
            const snap = out.Snapshots?.find((s) => s.SnapshotId === id);
            if (snap) {
                found.set(id, snap);
            }
        } catch (err) {
            // Only a snapshot known to be gone ends its chain; throttling and the like are polled again.
            if (errorCode(err) === "InvalidSnapshot.NotFound") {
                found.set(id, err as Error);
            }
        }
    }
    return found;
}

/** Reads the state of every snapshot the branch waits for; an `error` snapshot is a recorded failure. */
export async function checkSnapshots(progress: DiskProgress, deps: CheckDeps): Promise<DiskProgress> {
    return task(progress, "snapshot", async (rec, next) => {
        next.checks += 1;
        const waiting = next.snapshots.map((s) => ({ entry: s, pending: pendingStage(s) })).filter((w) => w.pending);
        const forensic = waiting.filter((w) => w.pending?.stage === "evidence");
        const member = waiting.filter((w) => w.pending?.stage !== "evidence");
        const groups: [typeof waiting, () => Promise<EC2Client | undefined>][] = [
            [member, () => memberEc2(deps, next)],
            [forensic, async () => deps.forensicEc2],
        ];
        for (const [group, client] of groups) {
            if (group.length === 0) {
                continue;
            }
            const ec2 = await client();
            if (!ec2) {
                rec.record("ec2:DescribeSnapshots", "failed", { error: "no forensic-account client to read evidence snapshots" });
                continue;
            }
            const found = await describeSnapshots(ec2, group.map((w) => w.pending?.id ?? ""), rec);
            for (const { entry, pending } of group) {
                if (!pending) {
                    continue;
                }
                const snap = found.get(pending.id);
                if (snap instanceof Error) {
                    failEntry(next, entry, pending.stage, `snapshot ${pending.id} is gone: ${snap.message}`, pending.id);
                } else if (snap) {
                    pending.set(entry, snap);
                    if (snap.State === "error") {
                        failEntry(next, entry, pending.stage, `snapshot ${pending.id} is in state error${snap.StateMessage ? `: ${snap.StateMessage}` : ""}`, pending.id);
                    }
                }
            }
        }
        const maxChecks = deps.settings?.disk?.maxChecks ?? DEFAULT_MAX_CHECKS;
        if (next.checks >= maxChecks) {
            for (const { entry, pending } of waiting) {
                if (pending && entry.error === undefined && currentState(entry) !== "completed") {
                    failEntry(next, entry, pending.stage, `snapshot ${pending.id} not completed after ${next.checks} checks`, pending.id);
                }
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// 3. Member-side copy under the IR key, shared with the forensic account only

/** CopySnapshot of each completed original, encrypted under the member account's IR KMS key. */
export async function copyForSharing(progress: DiskProgress, deps: MemberDiskDeps): Promise<DiskProgress> {
    return task(progress, "copy", async (rec, next) => {
        const todo = next.snapshots.filter((s) => s.error === undefined && s.state === "completed" && !s.copySnapshotId);
        if (todo.length === 0) {
            return;
        }
        const ec2 = await memberEc2(deps, next);
        const keyId = aliasName(deps.settings.disk.memberKeyAlias);
        for (const entry of todo) {
            // A key the account cannot use is found asynchronously on AWS: the copy then ends in state error (checkSnapshots).
            const copied = await rec.attempt("ec2:CopySnapshot", entry.originalSnapshotId, () => ec2.send(new CopySnapshotCommand({
                SourceSnapshotId: entry.originalSnapshotId,
                SourceRegion: next.instance.region,
                Encrypted: true,
                KmsKeyId: keyId,
                Description: `ir-forensics case ${next.caseId}: ${entry.sourceVolumeId} for the forensic account`,
                TagSpecifications: [{
                    ResourceType: "snapshot",
                    Tags: tags({
                        [DISK_CASE_TAG]: next.caseId, [DISK_VOLUME_TAG]: entry.sourceVolumeId, [DISK_DEVICE_TAG]: entry.device,
                        [DISK_SOURCE_SNAPSHOT_TAG]: entry.originalSnapshotId,
                    }),
                }],
            })), (out) => ({ detail: { copySnapshotId: out.SnapshotId, kmsKeyId: keyId } }));
            if (copied.ok && copied.value.SnapshotId) {
                entry.copySnapshotId = copied.value.SnapshotId;
                entry.copyState = "pending";
                entry.copyKmsKeyId = keyId;
            } else {
                // A volume under a customer key the responder may not use is not acquired: name the key, the fix is its policy.
                const key = entry.sourceKmsKeyId ? ` (the volume is encrypted under ${entry.sourceKmsKeyId}, whose key policy must let the `
                    + "responder role use it through EC2: docs/architecture.md \"Volumes under customer-managed keys\")" : "";
                failEntry(next, entry, "copy", `${copied.ok ? "CopySnapshot returned no snapshot id" : copied.error}${key}`, entry.originalSnapshotId);
            }
        }
    });
}

/** Shares each completed copy with the forensic account (never `all`) and checks who can use it now. */
export async function shareCopies(progress: DiskProgress, deps: MemberDiskDeps): Promise<DiskProgress> {
    return task(progress, "share", async (rec, next) => {
        const account = deps.settings.disk.forensicAccountId;
        if (!/^\d{12}$/.test(account)) {
            throw new Error(`forensic account id must be 12 digits, got "${account}"`);
        }
        const todo = next.snapshots.filter((s) => s.error === undefined && s.copySnapshotId && s.copyState === "completed" && !s.sharedWith);
        if (todo.length === 0) {
            return;
        }
        const ec2 = await memberEc2(deps, next);
        for (const entry of todo) {
            const id = entry.copySnapshotId ?? "";
            const shared = await rec.attempt("ec2:ModifySnapshotAttribute", id, () => ec2.send(new ModifySnapshotAttributeCommand({
                SnapshotId: id,
                Attribute: "createVolumePermission",
                OperationType: "add",
                UserIds: [account],
            })), () => ({ detail: { createVolumePermission: [account] } }));
            if (!shared.ok) {
                failEntry(next, entry, "share", shared.error, id);
                continue;
            }
            const read = await rec.read("ec2:DescribeSnapshotAttribute", id, () => ec2.send(new DescribeSnapshotAttributeCommand({
                SnapshotId: id, Attribute: "createVolumePermission",
            })));
            if (!read.ok) {
                failEntry(next, entry, "share", `sharing not verified: ${read.error}`, id);
                continue;
            }
            const permissions = read.value.CreateVolumePermissions ?? [];
            const users = permissions.map((p) => p.UserId).filter((u): u is string => Boolean(u));
            const others = permissions.filter((p) => p.Group || (p.UserId && p.UserId !== account));
            if (!users.includes(account) || others.length > 0) {
                failEntry(next, entry, "share", `createVolumePermission is ${JSON.stringify(permissions)}, expected only ${account}`, id);
                continue;
            }
            entry.sharedWith = users;
        }
    });
}

// ---------------------------------------------------------------------------------------------
// 4. Evidence copy in the forensic account

/** CopySnapshot of each shared copy into the forensic account, under the evidence key, tagged with its origin. */
export async function copyIntoForensic(progress: DiskProgress, deps: ForensicDiskDeps): Promise<DiskProgress> {
    return task(progress, "evidence", async (rec, next) => {
        const todo = next.snapshots.filter((s) => s.error === undefined && s.sharedWith && !s.evidenceSnapshotId);
        const region = await deps.forensicEc2.config.region();
        if (todo.length > 0 && region !== deps.settings.forensicRegion) {
            throw new Error(`the forensic client is in ${region}, the evidence belongs in ${deps.settings.forensicRegion}`);
        }
        for (const entry of todo) {
            const source = entry.copySnapshotId ?? "";
            const copied = await rec.attempt("ec2:CopySnapshot", source, () => deps.forensicEc2.send(new CopySnapshotCommand({
                SourceSnapshotId: source,
                SourceRegion: next.instance.region,
                Encrypted: true,
                KmsKeyId: deps.settings.evidenceKeyArn,
                Description: `ir-forensics case ${next.caseId}: evidence of ${entry.sourceVolumeId} (${entry.device})`,
                TagSpecifications: [{
                    ResourceType: "snapshot",
                    Tags: tags({
                        [DISK_CASE_TAG]: next.caseId, [DISK_VOLUME_TAG]: entry.sourceVolumeId, [DISK_DEVICE_TAG]: entry.device,
                        [DISK_MEMBER_ACCOUNT_TAG]: next.instance.accountId, [DISK_SOURCE_SNAPSHOT_TAG]: entry.originalSnapshotId,
                    }),
                }],
            })), (out) => ({ detail: { evidenceSnapshotId: out.SnapshotId, kmsKeyId: deps.settings.evidenceKeyArn } }));
            if (copied.ok && copied.value.SnapshotId) {
                entry.evidenceSnapshotId = copied.value.SnapshotId;
                entry.evidenceState = "pending";
                entry.evidenceKmsKeyId = deps.settings.evidenceKeyArn;
            } else {
                failEntry(next, entry, "evidence", copied.ok ? "CopySnapshot returned no snapshot id" : copied.error, source);
            }
        }
    });
}

/**
 * Locks each completed evidence snapshot with EBS snapshot lock, so that not even the forensic account's
 * administrators can delete it before the lock expires (compliance mode). A failed lock is recorded and
 * leaves the evidence in place: the chain is not ended.
 */
export async function lockEvidence(progress: DiskProgress, deps: { forensicEc2: EC2Client; settings?: { lock?: SnapshotLock } }): Promise<DiskProgress> {
    const lock = deps.settings?.lock;
    if (!lock) {
        return progress;
    }
    return task(progress, "lock", async (rec, next) => {
        for (const entry of next.snapshots.filter((s) => s.error === undefined && s.evidenceState === "completed" && s.evidenceSnapshotId && !s.evidenceLock)) {
            const id = entry.evidenceSnapshotId ?? "";
            const locked = await rec.attempt("ec2:LockSnapshot", id, () => deps.forensicEc2.send(new LockSnapshotCommand({
                SnapshotId: id,
                LockMode: lock.mode,
                LockDuration: lock.days,
                ...(lock.mode === "compliance" && lock.coolOffHours ? { CoolOffPeriod: lock.coolOffHours } : {}),
            })), (out) => ({ detail: { mode: out.LockState, lockedUntil: out.LockExpiresOn?.toISOString() } }));
            if (locked.ok) {
                entry.evidenceLock = { mode: locked.value.LockState ?? lock.mode, lockedUntil: locked.value.LockExpiresOn?.toISOString() };
            } else {
                next.failed.push({ stage: "lock", sourceVolumeId: entry.sourceVolumeId, snapshotId: id, error: locked.error, at: now() });
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// 5. Cleanup

/**
 * Deletes the member-side shared copies whose chain has ended (evidence completed, or failed); the
 * originals only when `deleteOriginals` is set, and only once their evidence copy completed.
 */
export async function cleanupMemberCopies(
    progress: DiskProgress,
    deps: { member: MemberClientFactory; settings?: { disk?: Pick<DiskSettings, "deleteOriginals"> } },
): Promise<DiskProgress> {
    return task(progress, "cleanup", async (rec, next) => {
        const evidenced = (s: DiskSnapshot) => s.error === undefined && s.evidenceState === "completed";
        const copies = next.snapshots.filter((s) => s.copySnapshotId && !s.copyDeleted && (evidenced(s) || s.error !== undefined));
        const originals = deps.settings?.disk?.deleteOriginals ? next.snapshots.filter((s) => evidenced(s) && s.originalSnapshotId && !s.originalDeleted) : [];
        if (copies.length + originals.length === 0) {
            return;
        }
        const ec2 = await memberEc2(deps, next);
        const remove = async (id: string, kind: string) => {
            const done = await rec.attempt("ec2:DeleteSnapshot", id, () => ec2.send(new DeleteSnapshotCommand({ SnapshotId: id })), () => ({ detail: { kind } }));
            if (!done.ok) {
                next.failed.push({ stage: "cleanup", snapshotId: id, error: done.error, at: now() });
            }
            return done.ok;
        };
        for (const entry of copies) {
            entry.copyDeleted = await remove(entry.copySnapshotId ?? "", "member-copy");
        }
        for (const entry of originals) {
            entry.originalDeleted = await remove(entry.originalSnapshotId ?? "", "original");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// 6. The manifest's record

/** The branch's step record and one `disk-snapshot` artifact per volume, for the case manifest. */
export function diskStepRecord(progress: DiskProgress): { step: StepRecord; artifacts: Artifact[] } {
    const evidenced = progress.snapshots.filter((s) => s.error === undefined && s.evidenceState === "completed");
    const errors = progress.failed.map((f) => `${f.stage}${f.sourceVolumeId ? ` ${f.sourceVolumeId}` : ""}: ${f.error}`);
    const complete = progress.snapshots.length > 0 && evidenced.length === progress.snapshots.length;
    const status = evidenced.length === 0 ? "failed" : complete && errors.length === 0 && !progress.actions.some((a) => a.outcome === "failed") ? "succeeded" : "partial";
    const step: StepRecord = {
        step: "disk",
        status,
        startedAt: progress.startedAt,
        endedAt: now(),
        actions: progress.actions,
        ...(errors.length > 0 ? { error: errors.join("; ") } : {}),
        detail: { snapshots: progress.snapshots, failed: progress.failed, checks: progress.checks },
    };
    const artifacts: Artifact[] = progress.snapshots.filter((s) => s.originalSnapshotId).map((s) => ({
        kind: "disk-snapshot",
        producedBy: "ir-forensics disk branch (EBS CreateSnapshots/CopySnapshot)",
        at: now(),
        detail: {
            memberAccountId: progress.instance.accountId,
            region: progress.instance.region,
            instanceId: progress.instance.instanceId,
            sourceVolumeId: s.sourceVolumeId,
            device: s.device,
            crashConsistent: s.crashConsistent ?? true,
            sizeGiB: s.sizeGiB,
            originalSnapshotId: s.originalSnapshotId,
            originalDeleted: s.originalDeleted ?? false,
            memberCopySnapshotId: s.copySnapshotId,
            memberKmsKeyId: s.copyKmsKeyId,
            memberCopyDeleted: s.copyDeleted ?? false,
            evidenceSnapshotId: s.evidenceSnapshotId,
            evidenceKmsKeyId: s.evidenceKmsKeyId,
            evidenceState: s.evidenceState,
            ...(s.evidenceLock ? { evidenceLock: s.evidenceLock } : {}),
            ...(s.error ? { error: s.error } : {}),
        },
    }));
    return { step, artifacts };
}
