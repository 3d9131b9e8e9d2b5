/**
 * The case opener: one incoming event → at most one incident state machine execution. The registry's
 * conditional claim keeps one running analysis per instance; the execution's name is the case id, so
 * Step Functions itself refuses a second run of the same case. Common path (first Analyze): PutItem,
 * StartExecution, then UpdateItem and Publish in parallel.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { SNSClient } from "@aws-sdk/client-sns";
import { EngineSettings, errorText } from "./aws";
import { parseTrigger, ParsedTrigger } from "./events";
import { notify, Notification } from "./notify";
import { claimInstance, endCase, getInstance, RegistryItem, setExecution } from "./registry";
import { CaseInput, InstanceRef } from "./types";

export interface OpenDeps {
    dynamodb: DynamoDBClient;
    sfn: SFNClient;
    sns: SNSClient;
    settings: EngineSettings;
    memberAccounts: string[];
    guardDutyMinSeverity?: number;
    clock?: () => Date;
}

export interface OpenResult {
    outcome: "opened" | "duplicate" | "already-contained" | "ignored" | "rejected";
    caseId?: string;
    executionArn?: string;
    reason?: string;
}

/**
 * A running claim without an execution is left alone this long: its opener may still be between PutItem
 * and StartExecution. Longer than the opener Lambda's timeout, so that an opener still running is never
 * overtaken (which would start a second execution).
 */
export const CLAIM_GRACE_MS = 120_000;

/** Execution statuses that mean the case is still being worked on. */
// An array, not a Set: Pulumi serializes module-level values into the Lambda code, and a Set does not survive.
const LIVE = ["RUNNING", "PENDING_REDRIVE"];

type Trigger = Extract<ParsedTrigger, { kind: "trigger" }>;

export async function openCase(event: unknown, deps: OpenDeps): Promise<OpenResult> {
    const parsed = parseTrigger(event, deps);
    if (parsed.kind === "rejected") {
        console.warn(JSON.stringify({ msg: "open-case", outcome: "rejected", reason: parsed.reason }));
        return { outcome: "rejected", reason: parsed.reason };
    }
    if (parsed.kind === "ignored") {
        return ignore(parsed, deps);
    }
    const input = caseInput(parsed, (deps.clock ?? (() => new Date()))());
    const result = input.mode === "analyze" ? await openAnalyze(input, deps) : await openContain(input, deps);
    console.log(JSON.stringify({ msg: "open-case", ...result, mode: input.mode, instance: input.instance, eventId: input.trigger.eventId }));
    return result;
}

/** `<account>-<region>-<instance>-<YYYYMMDDTHHMMSSZ>` (UTC). */
export function caseIdFor(ref: InstanceRef, at: Date): string {
    const stamp = `${at.toISOString().slice(0, 19).replace(/[-:]/g, "")}Z`;
    return `${ref.accountId}-${ref.region}-${ref.instanceId}-${stamp}`;
}

/** The ARN an execution named `name` of `stateMachineArn` has (Step Functions' own naming). */
export function executionArnFor(stateMachineArn: string, name: string): string {
    return `${stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`;
}

function caseInput(parsed: Trigger, at: Date): CaseInput {
    return {
        caseId: caseIdFor(parsed.instance, at),
        mode: parsed.trigger.requested,
        instance: parsed.instance,
        trigger: parsed.trigger,
        openedAt: at.toISOString(),
    };
}

async function ignore(parsed: Extract<ParsedTrigger, { kind: "ignored" }>, deps: OpenDeps): Promise<OpenResult> {
    console.log(JSON.stringify({ msg: "open-case", outcome: "ignored", reason: parsed.reason, instance: parsed.instance }));
    // Only a tag value nobody understands needs a human; removed tags and low GuardDuty severities do not.
    if (parsed.instance && parsed.rawValue !== undefined) {
        await send(deps, { kind: "ignored", instance: parsed.instance, summary: `Not acted on: ${parsed.reason}`, detail: { rawValue: parsed.rawValue } });
    }
    return { outcome: "ignored", reason: parsed.reason };
}

async function openAnalyze(input: CaseInput, deps: OpenDeps): Promise<OpenResult> {
    const claim = await claimInstance(deps.dynamodb, deps.settings.casesTable, input.instance, claimOf(input));
    if (claim.claimed) {
        return start(input, deps, true);
    }
    const current = claim.current;
    if (current?.status === "running" && await isLive(current, input, deps)) {
        return duplicate(input, deps, current);
    }
    // The running case has ended without saying so (or the item changed since): take over from it only.
    const takeover = await claimInstance(deps.dynamodb, deps.settings.casesTable, input.instance, claimOf(input), current?.caseId);
    if (!takeover.claimed) {
        return duplicate(input, deps, takeover.current ?? current);
    }
    return start(input, deps, true);
}

/**
 * Containment runs even beside a running analysis (a human asked; it is idempotent), without taking
 * that analysis's claim. Already contained (including by the engine's own `Contain` tag) is a no-op.
 */
async function openContain(input: CaseInput, deps: OpenDeps): Promise<OpenResult> {
    const current = await getInstance(deps.dynamodb, deps.settings.casesTable, input.instance);
    if (current?.status === "contained") {
        return { outcome: "already-contained", caseId: current.caseId, reason: `contained by case ${current.caseId}` };
    }
    const running = current?.status === "running" ? current : undefined;
    if (running && await isLive(running, input, deps)) {
        return running.mode === "contain" ? duplicate(input, deps, running) : start(input, deps, false);
    }
    const claim = await claimInstance(deps.dynamodb, deps.settings.casesTable, input.instance, claimOf(input), running?.caseId);
    // Lost a race to another opener: contain anyway, beside its case.
    return start(input, deps, claim.claimed);
}

function claimOf(input: CaseInput): { caseId: string; mode: string; openedAt: string } {
    return { caseId: input.caseId, mode: input.mode, openedAt: input.openedAt };
}

/** Whether the registry's running case still has a working execution (or may be about to). */
async function isLive(item: RegistryItem, input: CaseInput, deps: OpenDeps): Promise<boolean> {
    const arn = item.executionArn ?? executionArnFor(deps.settings.stateMachineArn, item.caseId);
    try {
        const out = await deps.sfn.send(new DescribeExecutionCommand({ executionArn: arn }));
        return LIVE.includes(out.status ?? "");
    } catch (err) {
        if (errorName(err) !== "ExecutionDoesNotExist") {
            throw err;
        }
        const age = Date.parse(input.openedAt) - Date.parse(item.openedAt);
        return item.executionArn === undefined && age < CLAIM_GRACE_MS;
    }
}

async function start(input: CaseInput, deps: OpenDeps, claimed: boolean): Promise<OpenResult> {
    const { settings } = deps;
    let executionArn: string;
    try {
        const out = await deps.sfn.send(new StartExecutionCommand({
            stateMachineArn: settings.stateMachineArn,
            name: input.caseId,
            input: JSON.stringify(input),
        }));
        executionArn = out.executionArn ?? executionArnFor(settings.stateMachineArn, input.caseId);
    } catch (err) {
        if (errorName(err) === "ExecutionAlreadyExists") {
            return duplicate(input, deps, { caseId: input.caseId });
        }
        await abandon(input, deps, claimed, err);
        throw err;
    }
    // The execution runs now: failures below are logged, never thrown (a retry would only report a duplicate).
    await settleAll(input.caseId, [
        claimed ? setExecution(deps.dynamodb, settings.casesTable, input.instance, input.caseId, executionArn) : Promise.resolve(),
        send(deps, {
            kind: "case-opened",
            caseId: input.caseId,
            instance: input.instance,
            summary: `Case opened (${input.mode}, ${input.trigger.source}${input.trigger.rawValue ? ` ${input.trigger.rawValue}` : ""})`,
            detail: { mode: input.mode, executionArn, source: input.trigger.source, eventId: input.trigger.eventId, claimed },
        }),
    ]);
    return { outcome: "opened", caseId: input.caseId, executionArn };
}

/** StartExecution failed: release the claim (so a retry can open the case) and say so; the caller rethrows. */
async function abandon(input: CaseInput, deps: OpenDeps, claimed: boolean, err: unknown): Promise<void> {
    await settleAll(input.caseId, [
        claimed ? endCase(deps.dynamodb, deps.settings.casesTable, input.instance, input.caseId, "uncontained") : Promise.resolve(),
        send(deps, {
            kind: "failed",
            caseId: input.caseId,
            instance: input.instance,
            summary: `Could not start the case: ${errorText(err)}`.slice(0, 300),
            detail: { mode: input.mode, error: errorText(err) },
        }),
    ]);
}

async function duplicate(input: CaseInput, deps: OpenDeps, running: { caseId: string; executionArn?: string } | undefined): Promise<OpenResult> {
    const caseId = running?.caseId;
    const reason = `case ${caseId ?? "(unknown)"} is already running for this instance`;
    await send(deps, {
        kind: "duplicate",
        caseId,
        instance: input.instance,
        summary: `${input.mode} request not started: ${reason}`,
        detail: { executionArn: running?.executionArn, requested: input.mode, source: input.trigger.source, eventId: input.trigger.eventId },
    });
    return { outcome: "duplicate", caseId, executionArn: running?.executionArn, reason };
}

function send(deps: OpenDeps, n: Notification): Promise<string | undefined> {
    return notify(deps.sns, deps.settings.topicArn, n);
}

async function settleAll(caseId: string, work: Promise<unknown>[]): Promise<void> {
    for (const r of await Promise.allSettled(work)) {
        if (r.status === "rejected") {
            console.error(JSON.stringify({ msg: "open-case", caseId, error: errorText(r.reason) }));
        }
    }
}

function errorName(err: unknown): string | undefined {
    return (err as { name?: string } | undefined)?.name;
}
