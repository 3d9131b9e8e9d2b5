/**
 * Credential revocation: the old role's credentials denied to one instance (`ec2:SourceInstanceARN`),
 * other instances sharing the role unaffected. Containment adds entries, `cases release` lifts them.
 *
 * Room. IAM caps what a role can carry (IAM User Guide, "IAM and AWS STS quotas",
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html): its inline policies
 * 10,240 characters in aggregate, a managed policy 6,144, 10 managed policies attached by default,
 * 5 versions of a managed policy; white space is not counted. One ARN per instance (~75 characters)
 * filled a role after ~130 instances. So:
 *
 * - Compact entries: `StringLike` `ec2:SourceInstanceARN` `*i-<id>` (23 characters with its quotes and
 *   comma). It matches that instance only: a hex instance id never contains `i-`, and instance ids are
 *   unique, so no other instance's ARN ends with `i-<id>`.
 * - Entries grouped by revocation time: one Deny statement per UTC hour, `"Sid": "R<yyyymmddhh>"`. A group
 *   may be relabelled with a *later* hour (two groups merged when room is short): that only delays its pruning.
 * - Pruning, only when no room is left: a group is dropped once every credential of the role that EC2
 *   delivered to its instances before their revocation has expired. Credentials EC2 delivers through an
 *   instance profile (IMDS) are valid for at most six hours (AWS News Blog, "Amazon GuardDuty Enhances
 *   Detection of EC2 Instance Credential Exfiltration", 2022-01-20,
 *   https://aws.amazon.com/blogs/aws/amazon-guardduty-enhances-detection-of-ec2-instance-credential-exfiltration/:
 *   "They are valid for a maximum of six hours"; the role's MaxSessionDuration does not apply to them:
 *   IAM API Reference, UpdateRole, "IAM role credentials provided by Amazon EC2 instances assigned to the
 *   role are not subject to the specified maximum session duration"). Containment swaps the profile to the
 *   deny-all one right after revoking, so the instance gets no new credentials of the old role; the hour of
 *   slack covers that gap and policy propagation. A group of hour H is pruned from H + 1 h + 6 h + 1 h on.
 *   A containment that runs again re-adds its instance into the current hour if its group is prunable, so an
 *   instance whose profile swap keeps failing is never pruned while containment retries.
 * - Spill: the inline policy `ir-forensics-revoked-instances` first (the room other inline policies leave),
 *   then customer managed policies of the engine under the path `/ir-forensics-revocation/`, named
 *   `ir-forensics-revoked-<role>-<n>`, attached to the role while attachment slots are free.
 *
 * Measured (test/integration/revocation.spec.ts): 23 characters per entry and ~159 per policy with one group,
 * so 438 entries in the inline policy of a role with no other inline policy (433 beside a 105-character one),
 * 260 in each managed policy; 1,000 instances on one role fill the inline policy and two managed policies and
 * start a third. With the default quota of 10 attached policies: 438 + 10 × 260 = 3,038 at once on a role
 * with nothing else attached, before anything is pruned. Each further hour group costs ~110 characters.
 *
 * Concurrency: IAM has no conditional write, and another case may write the same policy at the same time
 * (a last writer that read before our write drops our entry). So writers take the role's lease in the case
 * table, and after each write pause long enough for a stray writer to land, read again, and write again from
 * what is there now until ours holds. Containment batches (`RevocationOptions.batched`): the lease holder
 * denies every instance queued for the role meanwhile, so an outbreak on one role costs a few writes.
 */
import {
    AttachRolePolicyCommand, CreatePolicyCommand, CreatePolicyVersionCommand, DeletePolicyVersionCommand, GetPolicyCommand, GetPolicyVersionCommand,
    GetRolePolicyCommand, IAMClient, ListAttachedRolePoliciesCommand, ListPolicyVersionsCommand, ListRolePoliciesCommand, PutRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { errorCode } from "../shared/steps";

/** The inline policy, one per role, that denies the role's credentials to the instances it lists. */
export const REVOCATION_POLICY = "ir-forensics-revoked-instances";
/** The IAM path of the engine's managed revocation policies (the responder may create and attach only these). */
export const REVOCATION_POLICY_PATH = "/ir-forensics-revocation/";
const MANAGED_PREFIX = "ir-forensics-revoked-";

/** IAM quotas (IAM User Guide, "IAM and AWS STS quotas"), non-whitespace characters. */
export const QUOTAS = { inlinePerRole: 10_240, managedPolicy: 6_144, attachedPerRole: 10, versionsPerPolicy: 5 } as const;
/** The longest validity of role credentials EC2 delivers through an instance profile (IMDS). */
export const INSTANCE_CREDENTIAL_LIFETIME_MS = 6 * 3600_000;
/** Slack for the revocation-to-profile-swap gap, policy propagation and clocks. */
export const PRUNE_MARGIN_MS = 3600_000;
const BUCKET_MS = 3600_000;
const TRIES = 8;
const SID = /^R(\d{10})$/;
/** The statement of the policy written before the compact format: ARNs under ArnEquals. */
const LEGACY_SID = "IrForensicsRevokedInstances";
/** What an emptied slot holds (IAM wants at least one statement): a Deny that matches no instance. */
const NONE_SID = "RNone";

export interface RevocationOptions {
    /** The clock groups are labelled and pruned by (default: the wall clock). */
    now?: () => Date;
    /**
     * Runs a read-modify-write of one role's revocation while no other writer of the engine does (the case
     * table's lease, `revocationLease`). Without it, concurrent writers rely on settle-and-re-read alone.
     */
    exclusive?: <T>(roleKey: string, fn: () => Promise<T>) => Promise<T>;
    /**
     * Queues `arn` for the role's revocation and returns once a batch run under the same lease (this
     * caller's or another's: `withBatchedLease`) has denied it with everything queued meanwhile, in one
     * write per policy. Used by `addRevokedInstance` when given: many cases revoking one role at once
     * (an outbreak in one Auto Scaling group) then wait for a few batches, not for each other in turn.
     */
    batched?: (roleKey: string, arn: string, fn: (arns: string[]) => Promise<void>) => Promise<void>;
}

/** The lease name that serialises writers of one role's revocation. */
export const revocationLeaseName = (accountId: string, roleName: string) => `revocation#${accountId}#${roleName}`;

function exclusively<T>(options: RevocationOptions, arn: string | undefined, roleName: string, fn: () => Promise<T>): Promise<T> {
    return options.exclusive && arn ? options.exclusive(revocationLeaseName(parseArn(arn).account, roleName), fn) : fn();
}

/** One revocation group: the instance ids revoked in (or, merged, before) the UTC hour `hour` (yyyymmddhh). */
export interface RevocationGroup {
    hour: string;
    ids: string[];
}

interface Slot {
    kind: "inline" | "managed";
    /** Inline policy name, or managed policy name. */
    name: string;
    arn?: string;
    groups: RevocationGroup[];
    /** Characters this slot's document may have. */
    quota: number;
    /** A managed policy not created yet. */
    create?: boolean;
}

interface RoleState {
    slots: Slot[];
    /** Managed policies attached to the role, ours included. */
    attached: number;
}

const hourOf = (d: Date): string => d.toISOString().slice(0, 13).replace(/[-T]/g, "");
const hourStart = (hour: string): number => Date.UTC(+hour.slice(0, 4), +hour.slice(4, 6) - 1, +hour.slice(6, 8), +hour.slice(8, 10));

/** Whether every credential issued to the group's instances before their revocation has expired by `now`. */
export function groupExpired(hour: string, now: Date): boolean {
    return now.getTime() >= hourStart(hour) + BUCKET_MS + INSTANCE_CREDENTIAL_LIFETIME_MS + PRUNE_MARGIN_MS;
}

/** IAM's size of a policy document: its characters, white space not counted. */
export function policySize(document: string): number {
    return document.replace(/\s/g, "").length;
}

function parseArn(arn: string): { partition: string; account: string; id: string } {
    const m = /^arn:([^:]+):ec2:[^:]*:(\d{12}):instance\/(i-[0-9a-f]+)$/.exec(arn);
    if (!m) {
        throw new Error(`not an EC2 instance ARN: ${arn}`);
    }
    return { partition: m[1], account: m[2], id: m[3] };
}

/** A revocation policy document for `groups` (oldest first). */
export function revocationPolicy(groups: RevocationGroup[]): string {
    const live = groups.filter((g) => g.ids.length > 0);
    const Statement = live.length === 0
        ? [{ Sid: NONE_SID, Effect: "Deny", Action: "*", Resource: "*", Condition: { StringEquals: { "ec2:SourceInstanceARN": "none" } } }]
        : live.map((g) => ({
            Sid: `R${g.hour}`, Effect: "Deny", Action: "*", Resource: "*",
            Condition: { StringLike: { "ec2:SourceInstanceARN": g.ids.map((id) => `*${id}`) } },
        }));
    return JSON.stringify({ Version: "2012-10-17", Statement });
}

const decoded = (document: string): string => (document.trimStart().startsWith("{") ? document : decodeURIComponent(document));

/** The groups a revocation policy document holds (IAM returns documents URL-encoded). */
export function revocationGroups(document: string | undefined, now = new Date()): RevocationGroup[] {
    if (!document) {
        return [];
    }
    const parsed = JSON.parse(decoded(document)) as { Statement?: unknown };
    const statements = (Array.isArray(parsed.Statement) ? parsed.Statement : [parsed.Statement]) as {
        Sid?: string; Condition?: Record<string, Record<string, string | string[]> | undefined>;
    }[];
    const list = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
    const groups: RevocationGroup[] = [];
    for (const s of statements) {
        const hour = SID.exec(s?.Sid ?? "")?.[1];
        if (hour) {
            groups.push({ hour, ids: list(s.Condition?.StringLike?.["ec2:SourceInstanceARN"]).map((v) => v.replace(/^\*/, "")) });
        } else if (s?.Sid === LEGACY_SID) {
            // Revoked at an unknown time: labelled now, the latest it can be (pruned last).
            groups.push({ hour: hourOf(now), ids: list(s.Condition?.ArnEquals?.["ec2:SourceInstanceARN"]).map((a) => a.split("/").pop() ?? a) });
        }
    }
    return groups;
}

/** The instance ids a revocation policy document denies. */
export function revokedInstanceIds(document: string | undefined): string[] {
    return revocationGroups(document).flatMap((g) => g.ids);
}

const missing = (err: unknown) => errorCode(err) === "NoSuchEntity" || errorCode(err) === "NoSuchEntityException";

async function readInline(iam: IAMClient, roleName: string, policyName: string): Promise<string | undefined> {
    try {
        return (await iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: policyName }))).PolicyDocument;
    } catch (err) {
        if (missing(err)) {
            return undefined;
        }
        throw err;
    }
}

async function readManaged(iam: IAMClient, arn: string): Promise<string | undefined> {
    try {
        const version = (await iam.send(new GetPolicyCommand({ PolicyArn: arn }))).Policy?.DefaultVersionId;
        return (await iam.send(new GetPolicyVersionCommand({ PolicyArn: arn, VersionId: version }))).PolicyVersion?.Document;
    } catch (err) {
        if (missing(err)) {
            return undefined;
        }
        throw err;
    }
}

const managedIndex = (name: string): number => Number(/-(\d+)$/.exec(name)?.[1] ?? 0);

/** Every slot of the role's revocation: the inline policy (with the room the role's other inline policies leave), then ours attached. */
async function readRole(iam: IAMClient, roleName: string, now: Date): Promise<RoleState> {
    const [names, attached] = await Promise.all([
        iam.send(new ListRolePoliciesCommand({ RoleName: roleName })).then((o) => o.PolicyNames ?? []),
        iam.send(new ListAttachedRolePoliciesCommand({ RoleName: roleName })).then((o) => o.AttachedPolicies ?? []),
    ]);
    let others = 0;
    let inline: string | undefined;
    await Promise.all(names.map(async (name) => {
        const doc = await readInline(iam, roleName, name);
        if (name === REVOCATION_POLICY) {
            inline = doc;
        } else if (doc) {
            others += policySize(decoded(doc));
        }
    }));
    const ours = attached.filter((a) => (a.PolicyArn ?? "").includes(`:policy${REVOCATION_POLICY_PATH}`) && a.PolicyName?.startsWith(MANAGED_PREFIX))
        .sort((a, b) => managedIndex(a.PolicyName ?? "") - managedIndex(b.PolicyName ?? ""));
    const managed = await Promise.all(ours.map(async (a): Promise<Slot> => ({
        kind: "managed", name: a.PolicyName ?? "", arn: a.PolicyArn, quota: QUOTAS.managedPolicy,
        groups: revocationGroups(await readManaged(iam, a.PolicyArn ?? ""), now),
    })));
    return {
        slots: [{ kind: "inline", name: REVOCATION_POLICY, quota: QUOTAS.inlinePerRole - others, groups: revocationGroups(inline, now) }, ...managed],
        attached: attached.length,
    };
}

async function readSlot(iam: IAMClient, roleName: string, slot: Slot, now: Date): Promise<RevocationGroup[]> {
    return revocationGroups(slot.kind === "inline" ? await readInline(iam, roleName, slot.name) : await readManaged(iam, slot.arn ?? ""), now);
}

const fits = (slot: Slot, groups: RevocationGroup[]) => policySize(revocationPolicy(groups)) <= slot.quota;
const copy = (groups: RevocationGroup[]) => groups.map((g) => ({ hour: g.hour, ids: [...g.ids] }));

/** `groups` with `id` in the group of `hour`: its own, a new one, or (short of room) the newest one relabelled `hour`. */
function withEntry(slot: Slot, id: string, hour: string): RevocationGroup[] | undefined {
    const groups = copy(slot.groups);
    const own = groups.find((g) => g.hour === hour);
    if (own) {
        own.ids.push(id);
        return fits(slot, groups) ? groups : undefined;
    }
    const added = [...groups, { hour, ids: [id] }].sort((a, b) => a.hour.localeCompare(b.hour));
    if (fits(slot, added)) {
        return added;
    }
    const newest = groups.filter((g) => g.ids.length > 0).sort((a, b) => a.hour.localeCompare(b.hour)).pop();
    if (newest && newest.hour < hour) {
        newest.hour = hour;
        newest.ids.push(id);
        return fits(slot, groups) ? groups : undefined;
    }
    return undefined;
}

/** The new groups of each slot that changes: `id` placed in the first slot with room, after `drop` removed from every slot. */
function place(state: RoleState, roleName: string, id: string, now: Date): Map<Slot, RevocationGroup[]> | undefined {
    const hour = hourOf(now);
    const changes = new Map<Slot, RevocationGroup[]>();
    const base = (slot: Slot) => changes.get(slot) ?? slot.groups;
    for (const slot of state.slots) {
        if (slot.groups.some((g) => g.ids.includes(id))) {
            changes.set(slot, slot.groups.map((g) => ({ hour: g.hour, ids: g.ids.filter((x) => x !== id) })));
        }
    }
    for (const slot of state.slots) {
        const groups = withEntry({ ...slot, groups: base(slot) }, id, hour);
        if (groups) {
            changes.set(slot, groups);
            return changes;
        }
    }
    if (state.attached < QUOTAS.attachedPerRole) {
        const next = Math.max(0, ...state.slots.filter((s) => s.kind === "managed").map((s) => managedIndex(s.name))) + 1;
        const slot: Slot = { kind: "managed", name: `${MANAGED_PREFIX}${roleName}-${next}`, quota: QUOTAS.managedPolicy, groups: [], create: true };
        changes.set(slot, [{ hour, ids: [id] }]);
        return changes;
    }
    return undefined;
}

/** Each slot's groups without the expired ones; only the slots that change. */
function pruned(state: RoleState, now: Date): Map<Slot, RevocationGroup[]> {
    const changes = new Map<Slot, RevocationGroup[]>();
    for (const slot of state.slots) {
        const kept = slot.groups.filter((g) => !groupExpired(g.hour, now));
        if (kept.length !== slot.groups.length) {
            changes.set(slot, kept);
        }
    }
    return changes;
}

/** A new default version of a managed policy; when it has its 5 versions, the non-default ones go first. */
async function writeManaged(iam: IAMClient, arn: string, document: string): Promise<void> {
    for (let i = 0; ; i++) {
        try {
            await iam.send(new CreatePolicyVersionCommand({ PolicyArn: arn, PolicyDocument: document, SetAsDefault: true }));
            return;
        } catch (err) {
            if (errorCode(err) !== "LimitExceeded" && errorCode(err) !== "LimitExceededException" || i >= 3) {
                throw err;
            }
        }
        const versions = (await iam.send(new ListPolicyVersionsCommand({ PolicyArn: arn }))).Versions ?? [];
        await Promise.all(versions.filter((v) => !v.IsDefaultVersion).map(async (v) => {
            try {
                await iam.send(new DeletePolicyVersionCommand({ PolicyArn: arn, VersionId: v.VersionId }));
            } catch (err) {
                // Another writer's cleanup, or the version became the default: either way, not ours to delete.
                if (!missing(err) && errorCode(err) !== "DeleteConflict" && errorCode(err) !== "DeleteConflictException") {
                    throw err;
                }
            }
        }));
    }
}

async function write(iam: IAMClient, roleName: string, instance: { partition: string; account: string }, slot: Slot, groups: RevocationGroup[]): Promise<void> {
    const document = revocationPolicy(groups);
    if (slot.kind === "inline") {
        await iam.send(new PutRolePolicyCommand({ RoleName: roleName, PolicyName: slot.name, PolicyDocument: document }));
        return;
    }
    if (slot.create) {
        // The role is in the instance's account (an instance profile and its role are in one account).
        slot.arn = `arn:${instance.partition}:iam::${instance.account}:policy${REVOCATION_POLICY_PATH}${slot.name}`;
        try {
            await iam.send(new CreatePolicyCommand({
                PolicyName: slot.name, Path: REVOCATION_POLICY_PATH, PolicyDocument: document,
                Description: `ir-forensics: credentials of role ${roleName} denied to contained instances`.slice(0, 1000),
            }));
        } catch (err) {
            // Created by a concurrent case, or left unattached by an interrupted one: ours to use.
            if (errorCode(err) !== "EntityAlreadyExists" && errorCode(err) !== "EntityAlreadyExistsException") {
                throw err;
            }
            await writeManaged(iam, slot.arn, document);
        }
        await iam.send(new AttachRolePolicyCommand({ RoleName: roleName, PolicyArn: slot.arn }));
        return;
    }
    await writeManaged(iam, slot.arn ?? "", document);
}

async function writeAll(iam: IAMClient, roleName: string, instance: { partition: string; account: string }, changes: Map<Slot, RevocationGroup[]>): Promise<void> {
    await Promise.all([...changes].map(([slot, groups]) => write(iam, roleName, instance, slot, groups)));
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The settle pause, with jitter so that concurrent writers do not retry in lockstep. */
const settle = (ms: number) => pause(ms + Math.floor(Math.random() * ms * 0.5));

/** Whether `id` is listed in a group that is not yet prunable (so a re-run need not re-add it). */
const heldLive = (groups: RevocationGroup[], id: string, now: Date) => groups.some((g) => g.ids.includes(id) && !groupExpired(g.hour, now));

/** `place` for each id in turn, on a working copy of the state: the slots that change, with their new groups. */
function placeAll(state: RoleState, roleName: string, ids: string[], now: Date): Map<Slot, RevocationGroup[]> | undefined {
    const changes = new Map<Slot, RevocationGroup[]>();
    for (const id of ids) {
        const placed = place(state, roleName, id, now);
        if (!placed) {
            return undefined;
        }
        for (const [slot, groups] of placed) {
            slot.groups = groups;
            changes.set(slot, groups);
            if (!state.slots.includes(slot)) {
                state.slots.push(slot);
                state.attached++;
            }
        }
    }
    return changes;
}

const copyState = (state: RoleState): RoleState => ({ attached: state.attached, slots: state.slots.map((s) => ({ ...s, groups: copy(s.groups) })) });

/**
 * Denies the role's credentials to each instance of `arns`, keeping every other entry: the engine's
 * containment adds one (`addRevokedInstance`), a bulk caller many with one write per policy. Instances
 * already listed in a group not yet prunable are left as they are. Prunes expired groups only when no
 * slot has room; throws when even then there is none (fail closed: the containment step records the
 * failure). Returns the instances it added.
 */
export async function addRevokedInstances(
    iam: IAMClient, roleName: string, arns: string[], settleMs = 1000, options: RevocationOptions = {},
): Promise<string[]> {
    return exclusively(options, arns[0], roleName, () => addUnderLease(iam, roleName, arns, settleMs, options));
}

async function addUnderLease(iam: IAMClient, roleName: string, arns: string[], settleMs: number, options: RevocationOptions): Promise<string[]> {
    const instances = arns.map(parseArn);
    const instance = instances[0];
    const now = () => options.now?.() ?? new Date();
    let pending = [...new Set(instances.map((i) => i.id))];
    const added = new Set<string>();
    for (let attempt = 0; attempt < TRIES && instance; attempt++) {
        const state = await readRole(iam, roleName, now());
        pending = pending.filter((id) => !state.slots.some((s) => heldLive(s.groups, id, now())));
        if (pending.length === 0) {
            return [...added];
        }
        const work = copyState(state);
        let changes = placeAll(work, roleName, pending, now());
        if (!changes) {
            const pruning = copyState(state);
            const expired = pruned(pruning, now());
            for (const [slot, groups] of expired) {
                slot.groups = groups;
            }
            changes = placeAll(pruning, roleName, pending, now());
            if (!changes) {
                const listed = state.slots.reduce((n, s) => n + s.groups.reduce((m, g) => m + g.ids.length, 0), 0);
                throw new Error(`no room to revoke ${pending.length === 1 ? pending[0] : `${pending.length} instances`} on role ${roleName}: `
                    + `${listed} instances listed, none prunable yet, ${state.attached} of ${QUOTAS.attachedPerRole} managed policies attached`);
            }
            for (const [slot, groups] of expired) {
                if (!changes.has(slot)) {
                    changes.set(slot, groups);
                }
            }
        }
        try {
            await writeAll(iam, roleName, instance, changes);
        } catch (err) {
            // A concurrent writer took the room we planned with (IAM refused the size or the attachment): plan again.
            if (errorCode(err) === "LimitExceeded" || errorCode(err) === "LimitExceededException") {
                continue;
            }
            throw err;
        }
        pending.forEach((id) => added.add(id));
        await settle(settleMs);
        const targets = [...changes].filter(([, groups]) => groups.some((g) => g.ids.some((id) => pending.includes(id)))).map(([slot]) => slot);
        const reread = (await Promise.all(targets.map((slot) => readSlot(iam, roleName, slot, now())))).flat();
        pending = pending.filter((id) => !heldLive(reread, id, now()));
        if (pending.length === 0) {
            return [...added];
        }
    }
    if (!instance) {
        return [];
    }
    throw new Error(`revocation of role ${roleName} kept changing: ${pending.join(", ")} not in it after ${TRIES} writes`);
}

/**
 * Denies the role's credentials to the instance `arn`, keeping every other entry. "noop" when it already
 * was (in a group not yet prunable); a re-run for an instance whose group is prunable moves it to the
 * current hour. Write, settle, re-read until it holds (see the module's comment).
 */
export async function addRevokedInstance(
    iam: IAMClient, roleName: string, arn: string, settleMs = 1000, options: RevocationOptions = {},
): Promise<"ok" | "noop"> {
    if (options.batched) {
        const roleKey = revocationLeaseName(parseArn(arn).account, roleName);
        // Denied by another case's batch: "ok" too (this case asked, and it holds).
        let own: "ok" | "noop" = "ok";
        await options.batched(roleKey, arn, async (arns) => {
            // Under the lease already: the batch is one read-modify-write (write, settle, re-read) per policy.
            const added = await addUnderLease(iam, roleName, arns, settleMs, options);
            own = added.includes(parseArn(arn).id) || !arns.includes(arn) ? "ok" : "noop";
        });
        return own;
    }
    return (await addRevokedInstances(iam, roleName, [arn], settleMs, options)).length > 0 ? "ok" : "noop";
}

/**
 * Lifts the revocation of the instance `arn` (release): every other entry stays. Same write, settle,
 * re-read loop, until `arn` is listed nowhere. "noop" when it was not revoked.
 */
export async function removeRevokedInstance(
    iam: IAMClient, roleName: string, arn: string, settleMs = 1000, options: RevocationOptions = {},
): Promise<"ok" | "noop"> {
    return exclusively(options, arn, roleName, () => removeUnderLease(iam, roleName, arn, settleMs, options));
}

async function removeUnderLease(iam: IAMClient, roleName: string, arn: string, settleMs: number, options: RevocationOptions): Promise<"ok" | "noop"> {
    const instance = parseArn(arn);
    const now = () => options.now?.() ?? new Date();
    for (let attempt = 0; attempt < TRIES; attempt++) {
        const state = await readRole(iam, roleName, now());
        const holding = state.slots.filter((s) => s.groups.some((g) => g.ids.includes(instance.id)));
        if (holding.length === 0) {
            return attempt === 0 ? "noop" : "ok";
        }
        const changes = new Map(holding.map((s) => [s, s.groups.map((g) => ({ hour: g.hour, ids: g.ids.filter((x) => x !== instance.id) }))] as const));
        await writeAll(iam, roleName, instance, changes);
        await settle(settleMs);
        const still = await Promise.all(holding.map(async (s) => (await readSlot(iam, roleName, s, now())).some((g) => g.ids.includes(instance.id))));
        if (!still.some(Boolean)) {
            return "ok";
        }
    }
    throw new Error(`revocation of role ${roleName} kept changing: ${instance.id} still in it after ${TRIES} writes`);
}

/** Drops the role's expired groups now (addRevokedInstance does it by itself when it needs the room); how many entries went. */
export async function pruneRevokedInstances(iam: IAMClient, roleName: string, options: RevocationOptions = {}): Promise<number> {
    const now = options.now?.() ?? new Date();
    const state = await readRole(iam, roleName, now);
    const changes = pruned(state, now);
    const count = (groups: RevocationGroup[]) => groups.reduce((m, g) => m + g.ids.length, 0);
    // Pruning never creates a managed policy, so no account is needed to name one.
    await writeAll(iam, roleName, { partition: "aws", account: "" }, changes);
    return [...changes].reduce((n, [slot, groups]) => n + count(slot.groups) - count(groups), 0);
}

/** Every revocation of the role, by slot (inline policy first): for tests and `cases`. */
export async function revocationSlots(iam: IAMClient, roleName: string, options: RevocationOptions = {}): Promise<{ kind: "inline" | "managed"; name: string; arn?: string; groups: RevocationGroup[]; quota: number }[]> {
    return (await readRole(iam, roleName, options.now?.() ?? new Date())).slots.map(({ kind, name, arn, groups, quota }) => ({ kind, name, arn, groups, quota }));
}

/** Whether the role's revocation policies deny its credentials to the instance `arn`. */
export async function isInstanceRevoked(iam: IAMClient, roleName: string, arn: string): Promise<boolean> {
    const { id } = parseArn(arn);
    try {
        return (await readRole(iam, roleName, new Date())).slots.some((s) => s.groups.some((g) => g.ids.includes(id)));
    } catch (err) {
        if (missing(err)) {
            return false;
        }
        throw err;
    }
}
