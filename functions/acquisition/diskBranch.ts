/**
 * The disk branch, round by round: one crash-consistent set of snapshots, member copies under the IR
 * key, shared with and copied into the forensic account, locked when configured, member copies cleaned
 * up, and the branch's record.
 */
import { EC2Client } from "@aws-sdk/client-ec2";
import { BranchError, Round, withBranchError } from "./acquisition";
import { MemberClientFactory, errorText, now } from "../shared/aws";
import type { EngineSettings } from "../shared/settings";
import { DiskProgress, checkSnapshots, cleanupMemberCopies, copyForSharing, copyIntoForensic, diskStepRecord, lockEvidence, shareCopies, startSnapshots } from "./disk";
import type { DiskSettings } from "../shared/settings";
import { AcquisitionResult, CaseState } from "../shared/types";

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
