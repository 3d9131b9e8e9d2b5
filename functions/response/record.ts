/**
 * Chain of custody: one manifest per case in the evidence bucket, rewritten after each stage. The bucket
 * is versioned under Object Lock, so every write is a new locked version and the version history is the
 * audit trail of the case. `closeCase` ends the case: outcome, registry, notification, final manifest.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { errorText, now } from "../shared/aws";
import type { EngineSettings } from "../shared/settings";
import { EvidenceRef, putEvidenceJson } from "./evidence";
import { foldAcquisition } from "./fold";
import { notify } from "./notify";
import { endCase, putCaseRecord } from "./registry";
import { ActionRecord, Artifact, CASES_PREFIX, CaseOutcome, CaseState, InstanceFacts, StepRecord } from "../shared/types";

export const MANIFEST_SCHEMA_VERSION = 1;

/** Action names the containment step may record for each network interface it moves to the isolation group. */
export const ENI_CUT_ACTIONS = ["isolate-eni", "contain-eni"];

export type ManifestStatus = "running" | CaseOutcome;

export interface ManifestFailure {
    /** A step name, or `state-machine` for an error the state machine caught and no step has recorded yet. */
    step: string;
    action?: string;
    target?: string;
    error: string;
}

export interface Manifest {
    schemaVersion: typeof MANIFEST_SCHEMA_VERSION;
    caseId: string;
    mode: CaseState["mode"];
    instance: CaseState["instance"];
    trigger: CaseState["trigger"];
    openedAt: string;
    updatedAt: string;
    executionArn?: string;
    status: ManifestStatus;
    steps: StepRecord[];
    artifacts: Artifact[];
    failures: ManifestFailure[];
}

/** Where and what was written. */
export type ManifestRef = EvidenceRef;

export interface RecordDeps {
    s3: S3Client;
    settings: EngineSettings;
}

export interface CloseDeps extends RecordDeps {
    dynamodb: DynamoDBClient;
    sns: SNSClient;
}

export function manifestKey(caseId: string): string {
    return `${CASES_PREFIX}${caseId}/manifest.json`;
}

/** Every failure of the case, flattened: failed steps, failed actions, and a caught error not yet recorded. */
export function manifestFailures(state: CaseState): ManifestFailure[] {
    const failures: ManifestFailure[] = [];
    for (const s of foldAcquisition(state).steps) {
        if (s.error) {
            failures.push({ step: s.step, error: s.error });
        }
        for (const a of s.actions.filter((x) => x.outcome === "failed")) {
            failures.push({ step: s.step, action: a.action, target: a.target, error: a.error ?? "failed" });
        }
    }
    if (state.lastError) {
        failures.push({ step: "state-machine", error: lastErrorText(state.lastError) });
    }
    return failures;
}

export function buildManifest(unfolded: CaseState, updatedAt: string): Manifest {
    const state = foldAcquisition(unfolded);
    return {
        schemaVersion: MANIFEST_SCHEMA_VERSION,
        caseId: state.caseId,
        mode: state.mode,
        instance: state.instance,
        trigger: state.trigger,
        openedAt: state.openedAt,
        updatedAt,
        executionArn: state.executionArn,
        status: state.outcome ?? "running",
        steps: state.steps,
        artifacts: state.artifacts,
        failures: manifestFailures(state),
    };
}

/** Writes the case's manifest as a new object version. */
export async function writeManifest(s3: S3Client, settings: EngineSettings, state: CaseState): Promise<ManifestRef> {
    return putEvidenceJson(s3, settings, manifestKey(state.caseId), buildManifest(state, now()));
}

/**
 * Writes the manifest as the case stands; when the bucket refuses it, the case table keeps the same
 * document as the case's fallback record (`cases show` reads it). Throws only when neither could be
 * written; returns the manifest's error when the fallback was used.
 */
export async function writeRecord(state: CaseState, deps: RecordDeps & { dynamodb?: DynamoDBClient }): Promise<{ ok: true; ref: ManifestRef } | { ok: false; error: string }> {
    try {
        return { ok: true, ref: await writeManifest(deps.s3, deps.settings, state) };
    } catch (err) {
        const error = `manifest: ${errorText(err)}`;
        if (!deps.dynamodb) {
            throw err;
        }
        try {
            await putCaseRecord(deps.dynamodb, deps.settings.casesTable, state.caseId, buildManifest(state, now()), error);
        } catch (fallback) {
            throw new Error(`${error}; fallback record: ${errorText(fallback)}`, { cause: fallback });
        }
        console.error(JSON.stringify({ msg: "record", caseId: state.caseId, error, fallback: "case table" }));
        return { ok: false, error };
    }
}

/** Records the case as it stands (between stages); the state passes on unchanged. */
export async function recordCase(state: CaseState, deps: RecordDeps & { dynamodb?: DynamoDBClient }): Promise<CaseState> {
    await writeRecord(state, deps);
    return state;
}

/**
 * Ends the case and sets `outcome` (the state machine fails the execution unless contained). The
 * manifest is written last so that it holds everything, the registry and notification results
 * included; only a failed manifest write throws (nothing could be recorded).
 */
export async function closeCase(state: CaseState, deps: CloseDeps): Promise<CaseState> {
    const startedAt = now();
    const outcome = caseOutcome(state);
    const actions: ActionRecord[] = [];
    if (state.lastError) {
        actions.push({ action: "state-machine-error", outcome: "failed", at: startedAt, error: lastErrorText(state.lastError) });
    }
    actions.push(await attempt("registry-end-case", async () => {
        // false: another case owns the instance now, or containment already marked it contained.
        const ended = await endCase(deps.dynamodb, deps.settings.casesTable, state.instance, state.caseId, outcome);
        return ended ? "ok" : "noop";
    }));
    const closedWith = (done: ActionRecord[]): CaseState => {
        const { lastError: _e, ...rest } = foldAcquisition(state);
        return { ...rest, outcome, steps: [...rest.steps, closeStep(startedAt, outcome, done)] };
    };
    actions.push(await attempt("notify", async () => {
        await notify(deps.sns, deps.settings.topicArn, closeNotification(closedWith(actions), outcome, deps.settings));
        return "ok";
    }));
    const closed = closedWith(actions);
    const written = await writeRecord(closed, deps);
    if (!written.ok) {
        // The table holds the record; the execution still ends CaseRecordFailed so that the alarm pages.
        throw new Error(`${written.error} (kept in the case table as ${closed.caseId}'s fallback record)`);
    }
    return closed;
}

/** How the case ended: contained once containment cut the network, missing when triage found no instance. */
export function caseOutcome(state: CaseState): CaseOutcome {
    if (state.steps.some((s) => s.step === "containment" && networkContained(s, state.facts))) {
        return "contained";
    }
    if (state.steps.some((s) => (s.step === "triage" || s.step === "containment") && instanceMissing(s))) {
        return "instance-missing";
    }
    return "uncontained";
}

/**
 * The containment attempt's look at the instance (`detail.holds`), or its own verdict (`detail.networkContained`) when it gives one; else, when it
 * recorded per-ENI actions, every ENI must have been isolated; else its status decides.
 */
function networkContained(step: StepRecord, facts: InstanceFacts | undefined): boolean {
    if (step.status !== "succeeded" && step.status !== "partial") {
        return false;
    }
    // The instance itself, read back after the attempt: every part of containment holds.
    if (typeof step.detail?.holds === "boolean") {
        return step.detail.holds;
    }
    const verdict = step.detail?.networkContained;
    if (typeof verdict === "boolean") {
        return verdict;
    }
    const cuts = step.actions.filter((a) => ENI_CUT_ACTIONS.includes(a.action));
    if (cuts.length === 0) {
        return true;
    }
    const enis = facts?.networkInterfaces.map((e) => e.networkInterfaceId) ?? cuts.map((a) => a.target);
    return enis.every((id) => cuts.some((a) => a.target === id && (a.outcome === "ok" || a.outcome === "noop")));
}

/** Triage and containment fail with "instance not found"; a detail flag or EC2's own error says the same. */
function instanceMissing(step: StepRecord): boolean {
    return step.detail?.instanceFound === false || step.detail?.instanceMissing === true
        || /InvalidInstanceID\.NotFound|instance not found/i.test(step.error ?? "");
}

function closeStep(startedAt: string, outcome: CaseOutcome, actions: ActionRecord[]): StepRecord {
    return {
        step: "close",
        status: actions.some((a) => a.outcome === "failed") ? "partial" : "succeeded",
        startedAt,
        endedAt: now(),
        actions: [...actions],
        detail: { outcome },
    };
}

function closeNotification(state: CaseState, outcome: CaseOutcome, settings: EngineSettings) {
    const failures = manifestFailures(state);
    const key = manifestKey(state.caseId);
    return {
        kind: outcome === "uncontained" ? "failed" as const : "closed" as const,
        caseId: state.caseId,
        instance: state.instance,
        summary: `Case closed: ${outcome} (${state.steps.length} steps, ${failures.length} failures, ${state.artifacts.length} artifacts)`,
        detail: {
            outcome,
            mode: state.mode,
            executionArn: state.executionArn,
            steps: state.steps.map((s) => `${s.step}: ${s.status}`),
            failures: failures.slice(0, 20),
            manifest: `s3://${settings.evidenceBucket}/${key}`,
        },
    };
}

async function attempt(action: string, run: () => Promise<"ok" | "noop">): Promise<ActionRecord> {
    try {
        return { action, outcome: await run(), at: now() };
    } catch (err) {
        console.error(JSON.stringify({ msg: "close-case", action, error: errorText(err) }));
        return { action, outcome: "failed", at: now(), error: errorText(err) };
    }
}

function lastErrorText(e: NonNullable<CaseState["lastError"]>): string {
    return [e.Error, e.Cause].filter(Boolean).join(": ") || "unknown error";
}
