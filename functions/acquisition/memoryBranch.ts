/**
 * The memory branch, round by round: plan (managed? how much RAM?), start the capture, poll the command,
 * complete and verify the upload, retry once with AVML, and finish with the branch's record (asking the
 * module factory for a module when the host's kernel had none).
 */
import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { S3Client } from "@aws-sdk/client-s3";
import { SSMClient } from "@aws-sdk/client-ssm";
import { BranchError, Round, withBranchError } from "./acquisition";
import { BUILD_REQUEST_DETAIL_TYPE, BUILD_REQUEST_SOURCE } from "../shared/buildRequests";
import { MemberClientFactory, errorText } from "../shared/aws";
import type { EngineSettings } from "../shared/settings";
import { MemoryProgress, PlanOptions, StartDeps, awaitAgent, completeUpload, memoryStepRecord, planCapture, pollCapture, startCapture, verifyCapture } from "./memory";
import type { MemorySettings } from "../shared/settings";
import { StepRecorder, appendActions } from "../shared/steps";
import { AcquisitionResult, CaseState, InstanceRef } from "../shared/types";


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
    // planCapture records a failure to reach SSM itself.
    const planned = await planCapture(state, { member: deps.member, ssmFor: deps.ssmFor, settings: deps.settings, options: deps.options });
    return memoryRound(planned, planned.status === "awaiting-ssm", planned.status !== "planned" && planned.status !== "awaiting-ssm");
}

/** One round of the memory branch: start, poll, complete, retry with AVML once, or finish. */
export async function advanceMemory(progress: MemoryRound, deps: MemoryBranchDeps): Promise<MemoryRound> {
    const { waiting: _w, done: _d, ...p } = progress;
    try {
        switch (p.status) {
            case "awaiting-ssm": {
                const looked = await awaitAgent(p, { member: deps.member, ssmFor: deps.ssmFor, options: deps.options });
                return memoryRound(looked, looked.status === "awaiting-ssm", looked.status !== "awaiting-ssm" && looked.status !== "planned");
            }
            case "planned": {
                const started = await startCapture(p, { s3: deps.s3, store: deps.store, presign: deps.presign, ssm: await deps.ssmFor(p.instance), settings: deps.settings });
                // A started command needs time before the first look.
                return memoryRound(started, started.status === "running", started.status !== "running" && !uploadOpen(started));
            }
            case "running":
            case "pending": {
                const polled = await pollCapture(p, { ssm: await deps.ssmFor(p.instance), member: deps.member });
                return memoryRound(polled, polled.status === "pending", false);
            }
            case "uploaded":
                return afterComplete(await completeUpload(p, { s3: deps.s3, settings: deps.settings }));
            case "failed":
                // A command that failed after uploading parts: complete (and keep) what was uploaded.
                return uploadOpen(p) ? afterComplete(await completeUpload(p, { s3: deps.s3, settings: deps.settings })) : memoryRound(p, false, true);
            case "verifying":
                // One ranged read per round, the hash state carried: an image of any size, no invocation over its limit.
                return afterComplete(await verifyCapture(p, { s3: deps.s3, settings: deps.settings }));
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
    return memoryRound(completed, false, completed.status !== "verifying" && !completed.retry);
}

/** Where the module factory takes build requests: the engine bus (event source and type are its contract). */
export interface BuildRequests {
    events: EventBridgeClient;
    busName: string;
}

/** The kernel a capture found no LiME module for (the host script's error names it), if any. */
export function missingModule(progress: MemoryProgress): { arch: string; kernelRelease: string } | undefined {
    for (const attempt of progress.attempts) {
        for (const error of attempt.report?.errors ?? []) {
            const m = /no LiME module in the index for (x86_64|arm64)\/(\S+)/.exec(error);
            if (m) {
                return { arch: m[1], kernelRelease: m[2] };
            }
        }
    }
    return undefined;
}

/**
 * The memory branch's result for the case. When the host's kernel had no LiME module, asks the module
 * factory to build one (so that the next capture on this fleet uses LiME): recorded, never fatal.
 */
export async function finishMemory(progress: MemoryProgress & BranchError, requests?: BuildRequests): Promise<AcquisitionResult> {
    const { step, artifacts } = memoryStepRecord(progress);
    const missing = missingModule(progress);
    if (missing && requests) {
        const rec = new StepRecorder("memory");
        const detail = { ...missing, instanceId: progress.instance.instanceId, region: progress.instance.region, accountId: progress.instance.accountId };
        await rec.attempt("events:PutEvents", `${missing.arch}/${missing.kernelRelease}`, async () => {
            const out = await requests.events.send(new PutEventsCommand({
                Entries: [{ EventBusName: requests.busName, Source: BUILD_REQUEST_SOURCE, DetailType: BUILD_REQUEST_DETAIL_TYPE, Detail: JSON.stringify(detail) }],
            }));
            if (out.FailedEntryCount) {
                throw new Error(out.Entries?.[0]?.ErrorMessage ?? "the event was not accepted");
            }
        }, () => ({ detail: { moduleBuildRequested: detail } }));
        step.actions = appendActions(step.actions, rec.actions);
    }
    return withBranchError({ ...step, artifacts }, progress);
}


