/**
 * The incident state machine's definition (Amazon States Language), one execution per case:
 *
 *   (analyze) Isolate → Triage → Record → Acquire [memory ∥ disk snapshots started] → NotifyAcquisition
 *             → Contain (retried until it holds) → EvidenceCopies (disk chain) → Close
 *   (contain) Contain (retried until it holds) → Triage → EvidenceCopies → Close
 *
 * The cut comes first; containment waits for memory and for CreateSnapshots, never for the copies of
 * the snapshots (hours for a first snapshot of a large volume). Every task catches its own failure
 * into `$.lastError` and the case moves on: acquisition never cancels itself, and containment always
 * runs. The execution ends FAILED (NotContained) when containment did not hold after its retries.
 */

/** Function ARNs (or names) of the engine's step callbacks. */
export interface IncidentFunctions {
    triage: string;
    isolate: string;
    record: string;
    contain: string;
    close: string;
    /** The acquisition branches' functions (begin / advance / finish actions). */
    memory: string;
    disk: string;
}

export interface IncidentDefinitionOptions {
    /** AWS partition, for the service integration ARNs. */
    partition: string;
    /** Notification topic for the acquisition results. */
    topicArn: string;
    /** Seconds a step callback may run before the state times out. Default 300. */
    stepTimeoutSeconds?: number;
    /** Seconds an acquisition round may run (completing a capture reads the whole image). Default 900. */
    acquisitionTimeoutSeconds?: number;
    /** Wait between looks at a running memory capture. Default 20 s. */
    memoryPollSeconds?: number;
    /** Wait between looks at pending snapshots (a first snapshot of a large volume takes hours). Default 120 s. */
    diskPollSeconds?: number;
}

/** Errors of the Lambda service itself (not of our code): retried with backoff. */
export const LAMBDA_TRANSIENT_ERRORS = [
    "Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException",
];

type State = Record<string, unknown>;

function task(resource: string, next: string, timeout: number, catchNext = next): State {
    return {
        Type: "Task",
        Resource: resource,
        TimeoutSeconds: timeout,
        Retry: [{ ErrorEquals: LAMBDA_TRANSIENT_ERRORS, IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2 }],
        // The failure is kept on the case and the next step records it; the state is otherwise unchanged.
        Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.lastError", Next: catchNext }],
        Next: next,
    };
}

/**
 * One acquisition branch: Begin, then rounds of Advance (with a Wait while something runs) until the
 * document says `done`, then Finish, which returns the branch's step record and artifacts. A failed
 * round is kept on the document (`branchError`) and the branch finishes with what it has; a failed
 * Begin or Finish still yields a failed step record. The branch itself never fails, so the Parallel
 * state never cancels the other branch.
 */
/** The state as the last of its branch (`End` instead of `Next`). */
function last({ Next: _next, ...state }: State): State {
    return { ...state, End: true };
}

function acquisitionBranch(step: "memory" | "disk", fn: string, waitSeconds: number, timeout: number): State {
    const prefix = step === "memory" ? "Memory" : "Disk";
    const names = {
        begin: `${prefix}Begin`, next: `${prefix}Next`, wait: `${prefix}Wait`, advance: `${prefix}Advance`, finish: `${prefix}Finish`, lost: `${prefix}Lost`,
    };
    const call = (parameters: Record<string, unknown>, next: string, onError: string): State => ({
        ...task(fn, next, timeout, onError),
        Parameters: parameters,
        Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.branchError", Next: onError }],
    });
    return {
        StartAt: names.begin,
        States: {
            [names.begin]: call({ action: "begin", "case.$": "$" }, names.next, names.lost),
            [names.next]: {
                Type: "Choice",
                Choices: [
                    { Variable: "$.done", BooleanEquals: true, Next: names.finish },
                    { Variable: "$.waiting", BooleanEquals: true, Next: names.wait },
                ],
                Default: names.advance,
            },
            [names.wait]: { Type: "Wait", Seconds: waitSeconds, Next: names.advance },
            [names.advance]: call({ action: "advance", "progress.$": "$" }, names.next, names.finish),
            [names.finish]: last(call({ action: "finish", "progress.$": "$" }, "", names.lost)),
            [names.lost]: {
                Type: "Pass",
                Comment: "The branch's function could not run: a failed record, so the case still shows it",
                Parameters: {
                    step,
                    status: "failed",
                    "startedAt.$": "$$.State.EnteredTime",
                    "endedAt.$": "$$.State.EnteredTime",
                    actions: [],
                    error: `${step} acquisition: the branch's function failed (see detail.branchError)`,
                    detail: { "branchError.$": "$.branchError" },
                },
                End: true,
            },
        },
    };
}

/**
 * The disk evidence chain after containment: rounds of the disk function on `$.diskProgress` (the
 * document DiskBegin returned inside Acquire) until it is done, then its record in `$.diskResult`.
 * A failed round is kept on the document and the chain finishes with what it has; a failed finish
 * still leaves a failed record. Every path goes on to `next`.
 */
function diskCopyChain(fn: string, waitSeconds: number, timeout: number, next: string): Record<string, State> {
    const call = (parameters: Record<string, unknown>, resultPath: string, onSuccess: string, errorPath: string, onError: string): State => ({
        ...task(fn, onSuccess, timeout, onError),
        Parameters: parameters,
        ResultPath: resultPath,
        Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: errorPath, Next: onError }],
    });
    return {
        EvidenceCopies: {
            Type: "Choice",
            Comment: "The disk chain (member copies, sharing, forensic copies, lock) goes on after containment",
            Choices: [{ Variable: "$.diskProgress", IsPresent: true, Next: "DiskCopyNext" }],
            Default: next,
        },
        DiskCopyNext: {
            Type: "Choice",
            Choices: [
                { Variable: "$.diskProgress.done", BooleanEquals: true, Next: "DiskCopyFinish" },
                { Variable: "$.diskProgress.waiting", BooleanEquals: true, Next: "DiskCopyWait" },
            ],
            Default: "DiskCopyAdvance",
        },
        DiskCopyWait: { Type: "Wait", Seconds: waitSeconds, Next: "DiskCopyAdvance" },
        DiskCopyAdvance: call({ action: "advance", "progress.$": "$.diskProgress" }, "$.diskProgress", "DiskCopyNext", "$.diskProgress.branchError", "DiskCopyFinish"),
        DiskCopyFinish: call({ action: "finish", "progress.$": "$.diskProgress" }, "$.diskResult", next, "$.diskError", "DiskCopyLost"),
        DiskCopyLost: {
            Type: "Pass",
            Comment: "The disk function could not finish: a failed record, so the case still shows it",
            Parameters: {
                step: "disk",
                status: "failed",
                "startedAt.$": "$$.State.EnteredTime",
                "endedAt.$": "$$.State.EnteredTime",
                actions: [],
                error: "disk acquisition: the branch's function failed (see detail.branchError)",
                detail: { "branchError.$": "$.diskError" },
            },
            ResultPath: "$.diskResult",
            Next: next,
        },
    };
}

/**
 * Containment, retried until it holds on the instance itself: the contain function reports
 * `$.containment.holds` and, when it does not, `retryInSeconds` (its backoff) until its attempts are
 * spent; then the case goes on (copies, record) and ends NotContained.
 */
function containmentLoop(fn: string, timeout: number, next: string): Record<string, State> {
    return {
        Contain: {
            ...task(fn, "ContainHolds", timeout, "ContainHolds"),
            // A crashed or timed-out attempt (the function itself records its failures) is tried again too.
            Retry: [
                { ErrorEquals: LAMBDA_TRANSIENT_ERRORS, IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2 },
                { ErrorEquals: ["States.ALL"], IntervalSeconds: 5, MaxAttempts: 3, BackoffRate: 3 },
            ],
        },
        ContainHolds: {
            Type: "Choice",
            Choices: [
                { And: [{ Variable: "$.containment.holds", IsPresent: true }, { Variable: "$.containment.holds", BooleanEquals: true }], Next: next },
                { Variable: "$.containment.retryInSeconds", IsPresent: true, Next: "ContainBackoff" },
            ],
            Default: next,
        },
        ContainBackoff: { Type: "Wait", SecondsPath: "$.containment.retryInSeconds", Next: "Contain" },
    };
}

/**
 * The disk branch inside Acquire: only DiskBegin (one crash-consistent CreateSnapshots). Its document
 * leaves the Parallel state beside the memory record; containment moves it to `$.diskProgress`.
 */
function diskSnapshotBranch(fn: string, timeout: number): State {
    const branch = acquisitionBranch("disk", fn, 0, timeout) as { States: Record<string, State> };
    return {
        StartAt: "DiskBegin",
        States: {
            DiskBegin: last({ ...branch.States.DiskBegin, Next: "" }),
            DiskLost: branch.States.DiskLost,
        },
    };
}

export function incidentDefinition(fns: IncidentFunctions, options: IncidentDefinitionOptions): Record<string, unknown> {
    const timeout = options.stepTimeoutSeconds ?? 300;
    const acquisitionTimeout = options.acquisitionTimeoutSeconds ?? 900;
    return {
        Comment: "ir-forensics incident: the cut first, acquisition, containment without waiting for copies, the evidence chain, chain of custody",
        StartAt: "Prepare",
        States: {
            Prepare: {
                Type: "Pass",
                Comment: "The case document every step extends",
                Parameters: {
                    "caseId.$": "$.caseId",
                    "mode.$": "$.mode",
                    "instance.$": "$.instance",
                    "trigger.$": "$.trigger",
                    "openedAt.$": "$.openedAt",
                    "executionArn.$": "$$.Execution.Id",
                    steps: [],
                    artifacts: [],
                },
                Next: "ModeChoice",
            },
            ModeChoice: {
                Type: "Choice",
                Choices: [{ Variable: "$.mode", StringEquals: "contain", Next: "Contain" }],
                Default: "Isolate",
            },
            // The cut comes first: triage's reads and the metadata evidence follow it.
            Isolate: task(fns.isolate, "Triage", timeout),
            Triage: task(fns.triage, "Record", timeout),
            Record: task(fns.record, "Acquire", timeout),
            Acquire: {
                Type: "Parallel",
                Comment: "Memory acquisition, and the disk snapshots started (their copies go on after containment); each branch records its own failure",
                Branches: [
                    acquisitionBranch("memory", fns.memory, options.memoryPollSeconds ?? 20, acquisitionTimeout),
                    diskSnapshotBranch(fns.disk, acquisitionTimeout),
                ],
                ResultPath: "$.acquisition",
                Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.lastError", Next: "Contain" }],
                Next: "NotifyAcquisition",
            },
            NotifyAcquisition: {
                Type: "Task",
                Resource: `arn:${options.partition}:states:::sns:publish`,
                Parameters: {
                    TopicArn: options.topicArn,
                    "Subject.$": "States.Format('[ir-forensics] acquisition: {}', $.caseId)",
                    "Message.$": "States.JsonToString($.acquisition)",
                    MessageAttributes: {
                        kind: { DataType: "String", StringValue: "acquisition" },
                        caseId: { DataType: "String", "StringValue.$": "$.caseId" },
                    },
                },
                ResultPath: null,
                // A lost notification must not hold up containment.
                Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: null, Next: "Contain" }],
                Next: "Contain",
            },
            ...containmentLoop(fns.contain, timeout, "AfterContain"),
            AfterContain: {
                Type: "Choice",
                Comment: "A contain-only case is triaged after the cut (its record of the instance); an analysis was triaged before",
                Choices: [{ Variable: "$.mode", StringEquals: "contain", Next: "TriageContained" }],
                Default: "EvidenceCopies",
            },
            TriageContained: task(fns.triage, "EvidenceCopies", timeout),
            ...diskCopyChain(fns.disk, options.diskPollSeconds ?? 120, acquisitionTimeout, "Close"),
            Close: {
                ...task(fns.close, "Outcome", timeout, "CloseFailed"),
            },
            Outcome: {
                Type: "Choice",
                Choices: [{
                    And: [{ Variable: "$.outcome", IsPresent: true }, { Variable: "$.outcome", StringEquals: "contained" }],
                    Next: "Contained",
                }],
                Default: "NotContained",
            },
            Contained: { Type: "Succeed" },
            NotContained: {
                Type: "Fail",
                Error: "CaseNotContained",
                Cause: "The case ended without the instance contained: see cases/<case-id>/manifest.json and the notifications",
            },
            CloseFailed: {
                Type: "Fail",
                Error: "CaseRecordFailed",
                Cause: "The final case record could not be written: containment ran, see the execution history",
            },
        },
    };
}
