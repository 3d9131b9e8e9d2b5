/**
 * The case registry: one DynamoDB item per instance (`instanceKey` = `<account>#<region>#<instance>`)
 * that says which case owns it and how that case stands. It enforces one running case per instance
 * with conditional writes, so that concurrent triggers for one instance open a single case.
 */
import {
    ConditionalCheckFailedException, DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { CaseOutcome, InstanceRef } from "../shared/types";

export type RegistryStatus = "running" | CaseOutcome;

export interface RegistryItem {
    instanceKey: string;
    caseId: string;
    status: RegistryStatus;
    mode: string;
    openedAt: string;
    updatedAt: string;
    executionArn?: string;
    /** GuardDuty findings added to the case after it opened (they opened no case of their own). */
    addedFindings?: string[];
    /** Roles whose credentials containment denied to the instance (what a later look checks). */
    revokedRoles?: string[];
    /** When the case that contained the instance marked it contained (the revocation's age). */
    containedAt?: string;
}

export function instanceKey(ref: InstanceRef): string {
    return `${ref.accountId}#${ref.region}#${ref.instanceId}`;
}

function fromItem(item: Record<string, { S?: string; SS?: string[] }> | undefined): RegistryItem | undefined {
    if (!item) {
        return undefined;
    }
    const s = (k: string) => item[k]?.S;
    return {
        instanceKey: s("instanceKey") ?? "",
        caseId: s("caseId") ?? "",
        status: (s("status") ?? "running") as RegistryStatus,
        mode: s("mode") ?? "analyze",
        openedAt: s("openedAt") ?? "",
        updatedAt: s("updatedAt") ?? "",
        executionArn: s("executionArn"),
        ...(item.addedFindings?.SS ? { addedFindings: item.addedFindings.SS } : {}),
        ...(item.revokedRoles?.SS ? { revokedRoles: item.revokedRoles.SS } : {}),
        ...(s("containedAt") ? { containedAt: s("containedAt") } : {}),
    };
}

export async function getInstance(db: DynamoDBClient, table: string, ref: InstanceRef): Promise<RegistryItem | undefined> {
    const out = await db.send(new GetItemCommand({ TableName: table, Key: { instanceKey: { S: instanceKey(ref) } }, ConsistentRead: true }));
    return fromItem(out.Item as Record<string, { S?: string; SS?: string[] }> | undefined);
}

/**
 * Makes `caseId` the running case of the instance unless another case is running there.
 * `replaceCaseId`: take over from that case only (a stale claim whose execution has ended).
 */
export async function claimInstance(
    db: DynamoDBClient,
    table: string,
    ref: InstanceRef,
    claim: { caseId: string; mode: string; openedAt: string },
    replaceCaseId?: string,
): Promise<{ claimed: true } | { claimed: false; current?: RegistryItem }> {
    try {
        await db.send(new PutItemCommand({
            TableName: table,
            Item: {
                instanceKey: { S: instanceKey(ref) },
                caseId: { S: claim.caseId },
                status: { S: "running" },
                mode: { S: claim.mode },
                openedAt: { S: claim.openedAt },
                updatedAt: { S: claim.openedAt },
            },
            ConditionExpression: replaceCaseId === undefined
                ? "attribute_not_exists(instanceKey) OR #status <> :running"
                : "caseId = :replace",
            ExpressionAttributeNames: replaceCaseId === undefined ? { "#status": "status" } : undefined,
            ExpressionAttributeValues: replaceCaseId === undefined ? { ":running": { S: "running" } } : { ":replace": { S: replaceCaseId } },
        }));
        return { claimed: true };
    } catch (err) {
        if (err instanceof ConditionalCheckFailedException || (err as { name?: string }).name === "ConditionalCheckFailedException") {
            return { claimed: false, current: await getInstance(db, table, ref) };
        }
        throw err;
    }
}

/** Records the execution that runs the case. */
export async function setExecution(db: DynamoDBClient, table: string, ref: InstanceRef, caseId: string, executionArn: string): Promise<void> {
    await update(db, table, ref, caseId, "SET executionArn = :arn, updatedAt = :now", { ":arn": { S: executionArn } });
}

/**
 * Marks the instance contained by `caseId`, whatever case owns it now: containment wins over any
 * running analysis. Written before the engine tags the instance `Contain`, so the tag event it causes
 * is recognised as a no-op.
 */
export async function markContained(db: DynamoDBClient, table: string, ref: InstanceRef, caseId: string, revokedRoles: string[] = []): Promise<void> {
    const at = new Date().toISOString();
    const roles = [...new Set(revokedRoles)];
    await db.send(new UpdateItemCommand({
        TableName: table,
        Key: { instanceKey: { S: instanceKey(ref) } },
        UpdateExpression: "SET #status = :contained, containedBy = :case, updatedAt = :now, containedAt = :now, caseId = if_not_exists(caseId, :case), openedAt = if_not_exists(openedAt, :now)"
            + (roles.length > 0 ? ", revokedRoles = :roles" : " REMOVE revokedRoles"),
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
            ":contained": { S: "contained" }, ":case": { S: caseId }, ":now": { S: at },
            ...(roles.length > 0 ? { ":roles": { SS: roles } } : {}),
        },
    }));
}

/**
 * Ends `caseId` with its outcome, if it still owns the instance. A contained instance stays
 * `contained` even when a later step of its case failed.
 */
export async function endCase(db: DynamoDBClient, table: string, ref: InstanceRef, caseId: string, outcome: CaseOutcome): Promise<boolean> {
    try {
        await update(
            db, table, ref, caseId,
            "SET #status = :outcome, updatedAt = :now",
            { ":outcome": { S: outcome }, ":contained": { S: "contained" } },
            "#status <> :contained",
        );
        return true;
    } catch (err) {
        if ((err as { name?: string }).name === "ConditionalCheckFailedException") {
            return false;
        }
        throw err;
    }
}

/** Key of the item that remembers a GuardDuty finding (the same table: finding ids never look like instance keys). */
export function findingKey(findingId: string): string {
    return `finding#${findingId}`;
}

/** Whether a GuardDuty finding was acted on before (a case opened from it, or it was added to one). */
export async function findingSeen(db: DynamoDBClient, table: string, findingId: string): Promise<boolean> {
    const out = await db.send(new GetItemCommand({ TableName: table, Key: { instanceKey: { S: findingKey(findingId) } }, ConsistentRead: true }));
    return out.Item !== undefined;
}

/**
 * Remembers that a GuardDuty finding was acted on, for `caseId`: true the first time, false when the
 * finding was seen before (its updates never open a case again).
 */
export async function rememberFinding(db: DynamoDBClient, table: string, findingId: string, ref: InstanceRef, caseId: string): Promise<boolean> {
    try {
        await db.send(new PutItemCommand({
            TableName: table,
            Item: {
                instanceKey: { S: findingKey(findingId) },
                caseId: { S: caseId },
                instance: { S: instanceKey(ref) },
                updatedAt: { S: new Date().toISOString() },
            },
            ConditionExpression: "attribute_not_exists(instanceKey)",
        }));
        return true;
    } catch (err) {
        if (err instanceof ConditionalCheckFailedException || (err as { name?: string }).name === "ConditionalCheckFailedException") {
            return false;
        }
        throw err;
    }
}

/** Adds a finding to the record of the case that owns the instance (`cases show` and the close step read it). */
export async function addFindingToCase(db: DynamoDBClient, table: string, ref: InstanceRef, caseId: string, findingId: string): Promise<void> {
    await db.send(new UpdateItemCommand({
        TableName: table,
        Key: { instanceKey: { S: instanceKey(ref) } },
        UpdateExpression: "ADD addedFindings :finding SET updatedAt = :now",
        ConditionExpression: "caseId = :case",
        ExpressionAttributeValues: { ":finding": { SS: [findingId] }, ":case": { S: caseId }, ":now": { S: new Date().toISOString() } },
    }));
}

/** Key of a case's fallback record (written when the evidence bucket refuses the manifest). */
export function caseRecordKey(caseId: string): string {
    return `case#${caseId}`;
}

/**
 * Keeps what the case's manifest would have said in the case table, when the evidence bucket (or its
 * key) refuses every write: the case is never without a record. DynamoDB items hold 400 KB; the case
 * document is bounded well below that.
 */
export async function putCaseRecord(db: DynamoDBClient, table: string, caseId: string, record: unknown, writeError: string): Promise<void> {
    await db.send(new PutItemCommand({
        TableName: table,
        Item: {
            instanceKey: { S: caseRecordKey(caseId) },
            caseId: { S: caseId },
            record: { S: JSON.stringify(record) },
            writeError: { S: writeError },
            updatedAt: { S: new Date().toISOString() },
        },
    }));
}

/** The fallback record of a case, if the manifest could not be written at some stage. */
export async function getCaseRecord(db: DynamoDBClient, table: string, caseId: string): Promise<{ record: unknown; writeError: string; updatedAt: string } | undefined> {
    const out = await db.send(new GetItemCommand({ TableName: table, Key: { instanceKey: { S: caseRecordKey(caseId) } }, ConsistentRead: true }));
    const item = out.Item as Record<string, { S?: string }> | undefined;
    if (!item?.record?.S) {
        return undefined;
    }
    return { record: JSON.parse(item.record.S), writeError: item.writeError?.S ?? "", updatedAt: item.updatedAt?.S ?? "" };
}

async function update(
    db: DynamoDBClient,
    table: string,
    ref: InstanceRef,
    caseId: string,
    expression: string,
    values: Record<string, { S: string }>,
    extraCondition?: string,
): Promise<void> {
    const names: Record<string, string> = {};
    if (expression.includes("#status") || extraCondition?.includes("#status")) {
        names["#status"] = "status";
    }
    await db.send(new UpdateItemCommand({
        TableName: table,
        Key: { instanceKey: { S: instanceKey(ref) } },
        UpdateExpression: expression,
        ConditionExpression: `caseId = :case${extraCondition ? ` AND ${extraCondition}` : ""}`,
        ExpressionAttributeNames: Object.keys(names).length > 0 ? names : undefined,
        ExpressionAttributeValues: { ...values, ":case": { S: caseId }, ":now": { S: new Date().toISOString() } },
    }));
}

// `cases release` (functions/response/caseCommands.ts): released instances.

/** Registry status of an instance a responder released (`cases release`): the next `Analyze` or `Contain` opens a new case. */
export const STATUS_RELEASED = "released";

/** A registry item as stored, with the fields the engine and `cases release` add beside the claim. */
export interface RegistryRecord extends RegistryItem {
    containedBy?: string;
    releasedCase?: string;
    releasedAt?: string;
    releasedBy?: string;
    releaseReason?: string;
}

export function registryRecordOf(item: Record<string, { S?: string; SS?: string[] }>): RegistryRecord {
    const base = fromItem(item) as RegistryItem;
    const s = (k: string) => item[k]?.S;
    const extra = Object.fromEntries((["containedBy", "releasedCase", "releasedAt", "releasedBy", "releaseReason"] as const)
        .filter((k) => s(k) !== undefined).map((k) => [k, s(k)]));
    return { ...base, ...extra };
}

/** The instance's registry item with every field (`cases show` and `cases release` read who contained it). */
export async function getInstanceRecord(db: DynamoDBClient, table: string, ref: InstanceRef): Promise<RegistryRecord | undefined> {
    const out = await db.send(new GetItemCommand({ TableName: table, Key: { instanceKey: { S: instanceKey(ref) } }, ConsistentRead: true }));
    return out.Item ? registryRecordOf(out.Item as Record<string, { S?: string; SS?: string[] }>) : undefined;
}

/**
 * Marks the instance released by `caseId` (the case that claimed or contained it): a later `Analyze`
 * or `Contain` then opens a new case. False when another case owns the instance now.
 */
export async function markReleased(
    db: DynamoDBClient, table: string, ref: InstanceRef, caseId: string, release: { releasedAt: string; releasedBy: string; reason: string },
): Promise<boolean> {
    try {
        await db.send(new UpdateItemCommand({
            TableName: table,
            Key: { instanceKey: { S: instanceKey(ref) } },
            UpdateExpression: "SET #status = :released, releasedCase = :case, releasedAt = :at, releasedBy = :by, releaseReason = :reason, updatedAt = :at",
            ConditionExpression: "caseId = :case OR containedBy = :case",
            ExpressionAttributeNames: { "#status": "status" },
            ExpressionAttributeValues: {
                ":released": { S: STATUS_RELEASED }, ":case": { S: caseId }, ":at": { S: release.releasedAt },
                ":by": { S: release.releasedBy }, ":reason": { S: release.reason },
            },
        }));
        return true;
    } catch (err) {
        if (err instanceof ConditionalCheckFailedException || (err as { name?: string }).name === "ConditionalCheckFailedException") {
            return false;
        }
        throw err;
    }
}

/** Key of a lease item (never an instance key: those start with an account id). */
export function leaseKey(name: string): string {
    return `lease#${name}`;
}

export interface LeaseOptions {
    /** How long a holder may keep the lease before another may take it over (default 90 s). */
    leaseMs?: number;
    /** How long to wait for a busy lease before giving up (default 60 s). */
    waitMs?: number;
}

const isConditionFailure = (err: unknown) =>
    err instanceof ConditionalCheckFailedException || (err as { name?: string }).name === "ConditionalCheckFailedException";

/** One attempt at taking the lease `name` for `owner`: true when taken (it was free, or its holder's time was up). */
async function takeLease(db: DynamoDBClient, table: string, name: string, owner: string, leaseMs: number): Promise<boolean> {
    const now = Date.now();
    try {
        await db.send(new UpdateItemCommand({
            TableName: table,
            Key: { instanceKey: { S: leaseKey(name) } },
            UpdateExpression: "SET leaseOwner = :owner, leaseUntil = :until",
            ConditionExpression: "attribute_not_exists(leaseUntil) OR leaseUntil < :now",
            ExpressionAttributeValues: { ":owner": { S: owner }, ":until": { N: String(now + leaseMs) }, ":now": { N: String(now) } },
        }));
        return true;
    } catch (err) {
        if (!isConditionFailure(err)) {
            throw err;
        }
        return false;
    }
}

async function giveLeaseBack(db: DynamoDBClient, table: string, name: string, owner: string): Promise<void> {
    await db.send(new UpdateItemCommand({
        TableName: table,
        Key: { instanceKey: { S: leaseKey(name) } },
        UpdateExpression: "SET leaseUntil = :free",
        ConditionExpression: "leaseOwner = :owner",
        ExpressionAttributeValues: { ":owner": { S: owner }, ":free": { N: "0" } },
    })).catch(() => undefined); // Taken over already (we ran past the lease): nothing to give back.
}

const newOwner = () => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
const backoff = (wait: number) => new Promise((resolve) => setTimeout(resolve, wait / 2 + Math.random() * wait));
const busy = (name: string, waitMs: number, cause?: unknown) =>
    new Error(`${name} is busy: another case holds it (waited ${(waitMs / 1000).toFixed(1)} s)`, { cause });

/**
 * Runs `fn` while holding the lease `name` of the case table: a conditional write takes it when it is free
 * or its holder's time is up, a conditional write gives it back. For read-modify-write of something that
 * has no conditional write of its own (an IAM policy shared by many cases). Throws when it stays busy.
 */
export async function withLease<T>(db: DynamoDBClient, table: string, name: string, fn: () => Promise<T>, options: LeaseOptions = {}): Promise<T> {
    const leaseMs = options.leaseMs ?? 90_000;
    const waitMs = options.waitMs ?? 60_000;
    const giveUpAt = Date.now() + waitMs;
    const owner = newOwner();
    for (let wait = 50; !(await takeLease(db, table, name, owner, leaseMs)); wait = Math.min(wait * 2, 1000)) {
        if (Date.now() >= giveUpAt) {
            throw busy(name, waitMs);
        }
        await backoff(wait);
    }
    try {
        return await fn();
    } finally {
        await giveLeaseBack(db, table, name, owner);
    }
}

/** Key of the item that queues the work waiting for the lease `name`. */
export function leaseQueueKey(name: string): string {
    return `lease-queue#${name}`;
}

/**
 * Has `item` done under the lease `name`, together with every item other cases queued meanwhile: `item` is
 * added to the lease's queue (a string set), and whoever takes the lease runs `fn` once for the whole queue,
 * then removes what it ran from it. Returns once `item` has left the queue (this caller's batch or another's
 * ran it). A batch that fails leaves its items queued for the next holder, and throws to its caller.
 * So many cases sharing one resource (200 instances of one role, contained at once) wait for a few batches,
 * not for one another in turn. Throws when `item` is still queued after `waitMs`.
 */
export async function withBatchedLease(
    db: DynamoDBClient, table: string, name: string, item: string, fn: (items: string[]) => Promise<void>, options: LeaseOptions = {},
): Promise<void> {
    const leaseMs = options.leaseMs ?? 90_000;
    const waitMs = options.waitMs ?? 240_000;
    const giveUpAt = Date.now() + waitMs;
    const Key = { instanceKey: { S: leaseQueueKey(name) } };
    const queued = async () => (await db.send(new GetItemCommand({ TableName: table, Key, ConsistentRead: true }))).Item?.pending?.SS ?? [];
    await db.send(new UpdateItemCommand({ TableName: table, Key, UpdateExpression: "ADD pending :item", ExpressionAttributeValues: { ":item": { SS: [item] } } }));
    const owner = newOwner();
    for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
        if (!(await queued()).includes(item)) {
            return;
        }
        if (await takeLease(db, table, name, owner, leaseMs)) {
            try {
                const batch = await queued();
                if (batch.length > 0) {
                    await fn(batch);
                    await db.send(new UpdateItemCommand({ TableName: table, Key, UpdateExpression: "DELETE pending :done", ExpressionAttributeValues: { ":done": { SS: batch } } }));
                }
            } finally {
                await giveLeaseBack(db, table, name, owner);
            }
            continue;
        }
        if (Date.now() >= giveUpAt) {
            throw busy(name, waitMs);
        }
        await backoff(wait);
    }
}
