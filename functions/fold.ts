/**
 * Folding the acquisition branches' results (the incident state machine's Parallel output) into the case.
 * Kept apart from the branches' code so that containment and the case record do not carry it.
 */
import { Artifact, CaseState, StepRecord } from "./types";

/**
 * Moves the acquisition branches' results (the Parallel state's output) into the case: their step
 * records into `steps` and their artifacts into `artifacts`, once (a record already folded is skipped).
 */
export function foldAcquisition(state: CaseState): CaseState {
    const { acquisition, ...rest } = state;
    if (!acquisition || acquisition.length === 0) {
        return rest;
    }
    const known = state.steps.map((s) => `${s.step}|${s.startedAt}`);
    const steps: StepRecord[] = [...state.steps];
    const artifacts: Artifact[] = [...state.artifacts];
    for (const result of acquisition) {
        if (known.includes(`${result.step}|${result.startedAt}`)) {
            continue;
        }
        const { artifacts: produced, ...step } = result;
        steps.push(step);
        artifacts.push(...(produced ?? []));
    }
    return { ...rest, steps, artifacts };
}
