/**
 * What the two acquisition branches share, as the incident state machine drives them: one Task per round,
 * each followed by a Choice on the document it returns — `waiting` (a Wait state, then the next round),
 * `done` (the branch's record) or neither (the next round at once). memoryBranch.ts and diskBranch.ts
 * decide which function of memory.ts / disk.ts is due, so the definition stays a short loop and the order
 * of stages is tested in code. A branch never throws: every failure is in its document, and its result is
 * the step record (with the artifacts it produced) that containment and the case manifest fold in.
 */
import { AcquisitionResult } from "../shared/types";

/** What the state machine's Choice states read after each round. */
export interface Round {
    /** Wait before the next round (a command or snapshots are still running). */
    waiting: boolean;
    /** The branch has finished: record it. */
    done: boolean;
}

/** A round whose function failed (the state machine caught it): the branch finished with what it had. */
export interface BranchError {
    branchError?: { Error?: string; Cause?: string };
}

export function withBranchError(result: AcquisitionResult, progress: BranchError): AcquisitionResult {
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
