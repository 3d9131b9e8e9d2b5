/**
 * The two acquisition branches as the incident state machine drives them: one Task per round, each
 * followed by a Choice on the document it returns — `waiting` (a Wait state, then the next round),
 * `done` (the branch's record) or neither (the next round at once). The functions of memory.ts and
 * disk.ts do the work; this module only decides which one is due, so the definition stays a short
 * loop and the order of stages is tested here, in code.
 *
 * A branch never throws: every failure is in its document, and the branch's result is the step record
 * (with the artifacts it produced) that containment and the case manifest fold in.
 */
import { S3Client } from "@aws-sdk/client-s3";
import { EC2Client } from "@aws-sdk/client-ec2";
import { SSMClient } from "@aws-sdk/client-ssm";
import { EngineSettings, MemberClientFactory, errorText, now } from "./aws";
import {
    DiskProgress, DiskSettings, checkSnapshots, cleanupMemberCopies, copyForSharing, copyIntoForensic, diskStepRecord, lockEvidence, shareCopies,
    startSnapshots,
} from "./disk";
import {
    MemoryProgress, MemorySettings, PlanOptions, StartDeps, completeCapture, memoryStepRecord, planCapture, pollCapture, startCapture,
} from "./memory";
import { AcquisitionResult, CaseState, InstanceRef } from "./types";

/** What the state machine's Choice states read after each round. */
export interface Round {
    /** Wait before the next round (a command or snapshots are still running). */
    waiting: boolean;
    /** The branch has finished: record it. */
    done: boolean;
}

// ---------------------------------------------------------------------------------------------
// Memory

export type MemoryRound = MemoryProgress & Round;

export interface MemoryBranchDeps {
    member: MemberClientFactory;
    ssmFor: (instance: InstanceRef) => Promise<SSMClient>;
    /** Evidence bucket client (forensic account, the bucket's region). */
    s3: S3Client;
    /** Module store client (security account). */
    store: S3Client;
    presign: StartDeps["presign"];
    settings: EngineSettings & { memory: MemorySettings };
    options?: PlanOptions;
}

/** The attempt in flight has a multipart upload that was never completed or aborted. */
function uploadOpen(p: MemoryProgress): boolean {
    const current = p.attempts[p.attempts.length - 1];
    return !!current?.uploadId && !current.decision && !current.aborted;
}

function memoryRound(progress: MemoryProgress, waiting: boolean, done: boolean): MemoryRound {
    return { ...progress, waiting, done };
}

/** Starts the memory branch from the case: is the instance managed, how large is its memory. */
export async function beginMemory(state: CaseState, deps: MemoryBranchDeps): Promise<MemoryRound> {
    const ssm = await deps.ssmFor(state.instance).catch(() => undefined);
    const planned = await planCapture(state, {
        member: deps.member,
        ssmFor: async () => ssm ?? deps.ssmFor(state.instance),
        settings: deps.settings,
        options: deps.options,
    });
    return memoryRound(planned, false, planned.status !== "planned");
}

/** One round of the memory branch: start, poll, complete, retry with AVML once, or finish. */
export async function advanceMemory(progress: MemoryRound, deps: MemoryBranchDeps): Promise<MemoryRound> {
    const { waiting: _w, done: _d, ...p } = progress;
    try {
        switch (p.status) {
            case "planned": {
                const started = await startCapture(p, { s3: deps.s3, store: deps.store, presign: deps.presign, ssm: await deps.ssmFor(p.instance), settings: deps.settings });
                // A started command needs time before the first look.
                return memoryRound(started, started.status === "running", started.status !== "running" && !uploadOpen(started));
            }
            case "running":
            case "pending": {
                const polled = await pollCapture(p, { ssm: await deps.ssmFor(p.instance) });
                return memoryRound(polled, polled.status === "pending", false);
            }
            case "uploaded":
                return afterComplete(await completeCapture(p, { s3: deps.s3, settings: deps.settings }));
            case "failed":
                // A command that failed after uploading parts: complete (and keep) what was uploaded.
                return uploadOpen(p) ? afterComplete(await completeCapture(p, { s3: deps.s3, settings: deps.settings })) : memoryRound(p, false, true);
            case "accepted":
            case "rejected":
                return p.retry ? advanceMemory(memoryRound({ ...p, status: "planned" }, false, false), deps) : memoryRound(p, false, true);
            default:
                return memoryRound(p, false, true);
        }
    } catch (err) {
        // The functions record their own failures; this is a last resort (e.g. no SSM client at all).
        return memoryRound({ ...p, status: "failed", reason: errorText(err) }, false, true);
    }
}

function afterComplete(completed: MemoryProgress): MemoryRound {
    return memoryRound(completed, false, !completed.retry);
}

/** The memory branch's result for the case. */
export function finishMemory(progress: MemoryProgress & BranchError): AcquisitionResult {
    const { step, artifacts } = memoryStepRecord(progress);
    return withBranchError({ ...step, artifacts }, progress);
}

/** A round whose function failed (the state machine caught it): the branch finished with what it had. */
export interface BranchError {
    branchError?: { Error?: string; Cause?: string };
}

function withBranchError(result: AcquisitionResult, progress: BranchError): AcquisitionResult {
    const e = progress.branchError;
    if (!e) {
        return result;
    }
    const text = `a ${result.step} round failed: ${e.Error ?? "error"}${e.Cause ? `: ${e.Cause.slice(0, 500)}` : ""}`;
    return {
        ...result,
        status: result.status === "succeeded" ? "partial" : result.status === "skipped" ? "failed" : result.status,
        error: [result.error, text].filter(Boolean).join("; "),
    };
}

// ---------------------------------------------------------------------------------------------
// Disk

/** The next stage once every snapshot of the current one has completed (or failed). */
export type DiskStage = "snapshots" | "copies" | "evidence" | "finished";

export type DiskRound = DiskProgress & Round & { stage: DiskStage };

export interface DiskBranchDeps {
    member: MemberClientFactory;
    /** EC2 of the forensic account in its home region (where evidence snapshots are made). */
    forensicEc2: () => Promise<EC2Client>;
    settings: EngineSettings & { disk: DiskSettings; forensicRegion: string };
}

function diskRound(progress: DiskProgress, stage: DiskStage): DiskRound {
    const done = stage === "finished";
    return { ...progress, stage, done, waiting: !done && !progress.allCompleted };
}

/** Starts the disk branch: one crash-consistent set of snapshots of every volume. */
export async function beginDisk(state: CaseState, deps: DiskBranchDeps): Promise<DiskRound> {
    const started = await startSnapshots(state, deps);
    return diskRound(started, started.snapshots.length === 0 ? "finished" : "snapshots");
}

/**
 * One round of the disk branch. While snapshots of the current stage are pending it checks them; once
 * all are completed (or failed) it runs the next stage: re-encrypted member copies → shared and copied
 * into the forensic account → locked (when configured), member copies cleaned up, finished.
 */
export async function advanceDisk(progress: DiskRound, deps: DiskBranchDeps): Promise<DiskRound> {
    const { waiting: _w, done: _d, stage, ...p } = progress;
    const settings = deps.settings;
    const forensic = stage === "evidence" ? await deps.forensicEc2().catch(() => undefined) : undefined;
    if (!p.allCompleted) {
        const checked = await checkSnapshots(p, { member: deps.member, forensicEc2: forensic, settings });
        return diskRound(checked, stage);
    }
    switch (stage) {
        case "snapshots":
            return diskRound(await copyForSharing(p, deps), "copies");
        case "copies": {
            const shared = await shareCopies(p, deps);
            const ec2 = await deps.forensicEc2().catch((err) => err as Error);
            if (ec2 instanceof Error) {
                const failed = { ...shared, failed: [...shared.failed, { stage: "evidence" as const, error: `forensic account: ${errorText(ec2)}`, at: now() }] };
                return diskRound(await cleanupMemberCopies(failEvidence(failed, errorText(ec2)), deps), "finished");
            }
            const copied = await copyIntoForensic(shared, { forensicEc2: ec2, settings: { evidenceKeyArn: settings.evidenceKeyArn, forensicRegion: settings.forensicRegion } });
            return diskRound(copied, "evidence");
        }
        case "evidence": {
            const locked = forensic ? await lockEvidence(p, { forensicEc2: forensic, settings: settings.disk }) : p;
            return diskRound(await cleanupMemberCopies(locked, deps), "finished");
        }
        default:
            return diskRound(p, "finished");
    }
}

/** Ends every chain still waiting for its evidence copy (the forensic account could not be reached). */
function failEvidence(progress: DiskProgress, error: string): DiskProgress {
    return {
        ...progress,
        snapshots: progress.snapshots.map((s) => (s.error === undefined && !s.evidenceSnapshotId ? { ...s, error: `evidence: ${error}` } : s)),
    };
}

/** The disk branch's result for the case. */
export function finishDisk(progress: DiskProgress & BranchError): AcquisitionResult {
    const { step, artifacts } = diskStepRecord(progress);
    return withBranchError({ ...step, artifacts }, progress);
}
