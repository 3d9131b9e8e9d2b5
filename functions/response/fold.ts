/**
 * Folding the acquisition branches' results (the incident state machine's Parallel output) into the case.
 * Kept apart from the branches' code so that containment and the case record do not carry it.
 */
import { AcquisitionResult, Artifact, CaseState, StepRecord } from "../shared/types";

/** A branch's record, as opposed to the disk chain's document that Acquire also returns (it has a `stage`). */
function isRecord(result: unknown): result is AcquisitionResult {
    return typeof (result as StepRecord).step === "string" && typeof (result as StepRecord).status === "string";
}

/**
 * Moves the acquisition results into the case: the Parallel state's records (`acquisition`) and the
 * disk chain's (`diskResult`), their step records into `steps` and their artifacts into `artifacts`,
 * once (a record already folded is skipped). The disk chain's document goes once its record is in.
 */
export function foldAcquisition(state: CaseState): CaseState {
    const { acquisition, diskResult, ...rest } = state;
    const results = [...(acquisition ?? []), ...(diskResult ? [diskResult] : [])].filter(isRecord);
    if (diskResult) {
        delete rest.diskProgress;
    }
    if (results.length === 0) {
        return rest;
    }
    const known = state.steps.map((s) => `${s.step}|${s.startedAt}`);
    const steps: StepRecord[] = [...state.steps];
    const artifacts: Artifact[] = [...state.artifacts];
    for (const result of results) {
        if (known.includes(`${result.step}|${result.startedAt}`)) {
            continue;
        }
        const { artifacts: produced, ...step } = result;
        steps.push(step);
        artifacts.push(...(produced ?? []));
    }
    return { ...rest, steps, artifacts };
}

/** The disk chain's document among the Parallel state's results, if DiskBegin returned one. */
export function diskChainOf(state: CaseState): Record<string, unknown> | undefined {
    return (state.acquisition as unknown[] | undefined)?.find((r): r is Record<string, unknown> => !isRecord(r) && typeof r === "object" && r !== null);
}
