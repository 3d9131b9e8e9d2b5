/**
 * The case opener: one incoming event → at most one incident state machine execution. The registry's
 * conditional claim keeps one running analysis per instance; the execution's name is the case id, so
 * Step Functions itself refuses a second run of the same case. Common path (first Analyze): PutItem,
 * StartExecution, Publish. "Contained" is answered from the instance itself, and a GuardDuty finding
 * never opens a second case (its updates are duplicates; a new one is added to the running case).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { SNSClient } from "@aws-sdk/client-sns";
import { MemberClientFactory, errorText } from "../shared/aws";
import type { EngineSettings } from "../shared/settings";
import { containmentOnInstance } from "./containmentCheck";
import { parseTrigger, ParsedTrigger } from "./events";
import { notify, Notification } from "./notify";
import { addFindingToCase, claimInstance, endCase, findingSeen, getInstance, RegistryItem, rememberFinding } from "./registry";
import { CaseInput, InstanceRef } from "../shared/types";

export interface OpenDeps {
    dynamodb: DynamoDBClient;
    sfn: SFNClient;
    sns: SNSClient;
    settings: EngineSettings;
    memberAccounts: string[];
    guardDutyMinSeverity?: number;
    clock?: () => Date;
    /**
     * Member clients, to look at an instance the registry calls contained: "contained" is answered from
     * the instance itself. Without them (tests of the registry alone) the registry answers.
     */
    member?: MemberClientFactory;
}

export interface OpenResult {
    outcome: "opened" | "duplicate" | "already-contained" | "finding-added" | "ignored" | "rejected";
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
    const findingId = findingIdOf(input);
    const result = (findingId ? await routeFinding(input, findingId, deps) : undefined)
        ?? (input.mode === "analyze" ? await openAnalyze(input, deps) : await openContain(input, deps));
    if (findingId && result.outcome === "opened" && result.caseId) {
        // Remembered once the case runs: a retry of an event whose case could not start must still open it.
        await settleAll(result.caseId, [rememberFinding(deps.dynamodb, deps.settings.casesTable, findingId, input.instance, result.caseId)]);
    }
    console.log(JSON.stringify({ msg: "open-case", ...result, mode: input.mode, instance: input.instance, eventId: input.trigger.eventId }));
    return result;
}

/** The GuardDuty finding id of a case opened by GuardDuty (event detail `id`). */
function findingIdOf(input: CaseInput): string | undefined {
    const id = input.trigger.source === "guardduty" ? (input.trigger.finding as { id?: unknown } | undefined)?.id : undefined;
    return typeof id === "string" && id.length > 0 ? id : undefined;
}

/**
 * A GuardDuty finding never opens a second case: a finding seen before (its updates) is a duplicate,
 * and a new finding on an instance whose case is running, or that is contained, is added to that case
 * and notified. Undefined: open a case as usual.
 */
async function routeFinding(input: CaseInput, findingId: string, deps: OpenDeps): Promise<OpenResult | undefined> {
    const table = deps.settings.casesTable;
    if (await findingSeen(deps.dynamodb, table, findingId)) {
        return duplicateFinding(input, findingId);
    }
    const current = await getInstance(deps.dynamodb, table, input.instance);
    const owner = current?.status === "running" && await isLive(current, input, deps) ? current
        : current?.status === "contained" && await heldOnInstance(input, current, deps) !== false ? current
            : undefined;
    if (!owner) {
        return undefined;
    }
    if (!await rememberFinding(deps.dynamodb, table, findingId, input.instance, owner.caseId)) {
        return duplicateFinding(input, findingId);
    }
    await addFindingToCase(deps.dynamodb, table, input.instance, owner.caseId, findingId).catch((err) => {
        console.error(JSON.stringify({ msg: "open-case", caseId: owner.caseId, findingId, error: errorText(err) }));
    });
    await send(deps, {
        kind: "duplicate",
        caseId: owner.caseId,
        instance: input.instance,
        summary: `GuardDuty finding ${findingId} added to case ${owner.caseId} (${owner.status}); no new case`,
        detail: { findingId, type: (input.trigger.finding as { type?: string } | undefined)?.type, eventId: input.trigger.eventId },
    });
    return { outcome: "finding-added", caseId: owner.caseId, reason: `finding ${findingId} added to case ${owner.caseId}` };
}

async function duplicateFinding(input: CaseInput, findingId: string): Promise<OpenResult> {
    const reason = `GuardDuty finding ${findingId} was acted on before (an update of it opens no case)`;
    console.log(JSON.stringify({ msg: "open-case", outcome: "duplicate", reason, instance: input.instance }));
    return { outcome: "duplicate", reason };
}

/**
 * Whether containment holds on the instance itself (groups, rules, profile, tags, and the revocation of
 * the roles the containing case recorded in the registry). Undefined when there are no member clients; false
 * also when the instance cannot be read, so that containment runs again (it is idempotent).
 */
async function heldOnInstance(input: CaseInput, current: RegistryItem, deps: OpenDeps): Promise<boolean | undefined> {
    if (!deps.member) {
        return undefined;
    }
    try {
        const clients = await deps.member(input.instance, `irf-open-${input.instance.instanceId}`);
        // The roles the containing case revoked, as it recorded them (an item from before they were recorded checks none).
        const view = await containmentOnInstance(clients, input.instance, deps.settings, { revokedRoleNames: current.revokedRoles ?? [], revokedAt: current.containedAt });
        if (!view.contained) {
            console.log(JSON.stringify({ msg: "open-case", registry: "contained", caseId: current.caseId, open: view.open }));
        }
        return view.contained;
    } catch (err) {
        console.error(JSON.stringify({ msg: "open-case", caseId: current.caseId, error: `reading the instance: ${errorText(err)}` }));
        return false;
    }
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
    // The registry says contained: the instance itself decides (someone may have released it by hand).
    if (current?.status === "contained" && await heldOnInstance(input, current, deps) !== false) {
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
    // The registry needs no execution ARN (it is the state machine's and the case id's): one call fewer before the cut.
    await settleAll(input.caseId, [
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
    const executionArn = running?.executionArn ?? (caseId ? executionArnFor(deps.settings.stateMachineArn, caseId) : undefined);
    const reason = `case ${caseId ?? "(unknown)"} is already running for this instance`;
    await send(deps, {
        kind: "duplicate",
        caseId,
        instance: input.instance,
        summary: `${input.mode} request not started: ${reason}`,
        detail: { executionArn, requested: input.mode, source: input.trigger.source, eventId: input.trigger.eventId },
    });
    return { outcome: "duplicate", caseId, executionArn, reason };
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
