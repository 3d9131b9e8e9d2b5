/**
 * Containment: every ENI to the no-rules group, the deny-all instance profile, the instance's old role
 * credentials denied for this instance only, then the registry and the `Contain` tag, and a look at
 * the instance itself to see that every part holds. Runs once memory acquisition has ended and the
 * snapshots are started (never waiting for their copies), and alone when a human tags `Contain`, so
 * it starts from a fresh describe. Idempotent (a further attempt records no-ops) and fail closed.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CreateTagsCommand, EC2Client } from "@aws-sdk/client-ec2";
import { GetInstanceProfileCommand, IAMClient, Role } from "@aws-sdk/client-iam";
import { S3Client } from "@aws-sdk/client-s3";
import { SNSClient } from "@aws-sdk/client-sns";
import { MemberClientFactory, errorText, now } from "../shared/aws";
import type { EngineSettings } from "../shared/settings";
import { containmentOnInstance } from "./containmentCheck";
import { diskChainOf, foldAcquisition } from "./fold";
import { ProfileAssociationFacts, cutNetwork, profileNameOf, protectInstance, publish, swapProfile } from "./isolation";
import { writeRecord } from "./record";
import { getInstance, markContained, withBatchedLease } from "./registry";
import { REVOCATION_POLICY, addRevokedInstance } from "./revocation";
import { VpcLookups } from "./securityGroups";
import { StepRecorder, describeInstance, instanceArn, instanceFacts, runStep } from "../shared/steps";
import { CASE_TAG, CaseState, InstanceFacts, STATUS_CONTAIN, STATUS_TAG, StepRecord } from "../shared/types";

export interface ContainmentDeps {
    member: MemberClientFactory;
    settings: EngineSettings;
    dynamodb: DynamoDBClient;
    sns?: SNSClient;
    /** The evidence bucket's client: the manifest is written after every attempt (fallback: the case table). */
    s3?: S3Client;
    /** Pause before checking that a revocation write survived concurrent writers (default 1000 ms). */
    revocationSettleMs?: number;
}

async function roleOfProfile(iam: IAMClient, profileName: string): Promise<Role | undefined> {
    const out = await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: profileName }));
    return out.InstanceProfile?.Roles?.[0];
}

/**
 * The profile the instance had before the engine touched it: from this case's earlier steps, triage's
 * facts, or (containment alone) the association containment replaced, whichever is not the engine's.
 */
function originalProfile(state: CaseState, replaced: ProfileAssociationFacts | undefined, settings: EngineSettings): ProfileAssociationFacts | undefined {
    const engineProfiles = [settings.member.irProfileName, settings.member.containedProfileName];
    const recorded = state.steps.map((s) => s.detail?.originalProfile ?? (s.step === "isolation" ? s.detail?.previousProfile : undefined));
    return [...recorded, state.facts?.profileAssociation, replaced]
        .filter((p): p is ProfileAssociationFacts => typeof (p as ProfileAssociationFacts | undefined)?.profileArn === "string")
        .find((p) => !engineProfiles.includes(profileNameOf(p.profileArn)));
}

/**
 * Denies the credentials of the instance's original role, and of the IR role it held during
 * acquisition, to this instance only (`ec2:SourceInstanceARN`): other instances sharing the role keep
 * working. The project's own roles are never touched, except the IR role.
 */
async function revokeCredentials(
    iam: IAMClient, arn: string, original: string | undefined, deps: ContainmentDeps, rec: StepRecorder,
): Promise<string[]> {
    const { member } = deps.settings;
    const profiles = [
        ...(original ? [{ profile: original, mayBeProtected: false }] : []),
        { profile: member.irProfileName, mayBeProtected: true },
    ];
    const roles = await Promise.all(profiles.map(async (p) => ({ ...p, role: await rec.read("iam:GetInstanceProfile", p.profile, () => roleOfProfile(iam, p.profile)) })));
    const seen = new Set<string>();
    await Promise.all(roles.map(async ({ profile, mayBeProtected, role }) => {
        const { RoleName: roleName, Path: path = "/" } = (role.ok ? role.value : undefined) ?? {};
        if (!roleName || seen.has(roleName)) {
            return;
        }
        seen.add(roleName);
        if (!mayBeProtected && path.startsWith(member.protectedRolePathPrefix)) {
            rec.record("iam:PutRolePolicy", "skipped", { target: roleName, detail: { reason: "a role of this project", profile } });
            return;
        }
        await rec.attempt("iam:PutRolePolicy", roleName, () => addRevokedInstance(iam, roleName, arn, deps.revocationSettleMs, {
            batched: (lease, item, fn) => withBatchedLease(deps.dynamodb, deps.settings.casesTable, lease, item, fn),
        }),
            (outcome) => ({ outcome, detail: { policy: REVOCATION_POLICY, instanceArn: arn, profile } }));
    }));
    rec.detail.revokedRoles = [...seen].filter((r) => !rec.actions.some((a) => a.action === "iam:PutRolePolicy" && a.target === r && a.outcome === "skipped"));
    return rec.detail.revokedRoles as string[];
}

/** Marks the instance contained in the registry (before the tag, whose event must then be a no-op), then tags it. */
async function markAndTag(ec2: EC2Client, deps: ContainmentDeps, state: CaseState, facts: InstanceFacts, revokedRoles: string[], rec: StepRecorder): Promise<void> {
    const { dynamodb, settings } = deps;
    const registered = await rec.read("dynamodb:GetItem", state.instance.instanceId, () => getInstance(dynamodb, settings.casesTable, state.instance));
    const contained = registered.ok && registered.value?.status === "contained";
    if (contained) {
        rec.record("registry:markContained", "noop", { target: state.instance.instanceId, detail: { caseId: registered.value?.caseId } });
    } else {
        await rec.attempt("registry:markContained", state.instance.instanceId, () => markContained(dynamodb, settings.casesTable, state.instance, state.caseId, revokedRoles));
    }
    const wanted = { [STATUS_TAG]: STATUS_CONTAIN, [CASE_TAG]: state.caseId };
    const tagged = Object.entries(wanted).every(([k, v]) => facts.tags[k] === v);
    if (tagged) {
        rec.record("ec2:CreateTags", "noop", { target: state.instance.instanceId, detail: wanted });
        return;
    }
    await rec.attempt("ec2:CreateTags", state.instance.instanceId, () => ec2.send(new CreateTagsCommand({
        Resources: [state.instance.instanceId],
        Tags: Object.entries(wanted).map(([Key, Value]) => ({ Key, Value })),
    })), () => ({ detail: wanted }));
}

/**
 * Folds the memory record (the Parallel state's output) into the case and moves the disk chain's
 * document to `diskProgress` (its copies go on after containment); returns the folded records.
 */
function withAcquisition(state: CaseState, next: CaseState): StepRecord[] {
    const chain = diskChainOf(state);
    const folded = foldAcquisition({ ...next, acquisition: state.acquisition });
    next.steps = folded.steps;
    next.artifacts = folded.artifacts;
    delete next.acquisition;
    if (chain) {
        next.diskProgress = chain;
    }
    return next.steps.filter((s) => s.step === "memory" || s.step === "disk");
}

/** Waits before each further attempt (the state machine's backoff); its length is the attempts allowed. */
export const CONTAIN_RETRY_SECONDS = [5, 15, 45, 120];

/**
 * One attempt at containing the instance, then a look at the instance itself: every part must hold
 * (the no-rules group alone on every ENI, the deny-all profile, the revocation, the tags). While a part
 * is open and attempts remain, `containment.retryInSeconds` has the state machine try again; after
 * the last attempt the notification names each open part, and the case ends NotContained. A missing
 * or terminated instance is not retried. Notifies "contained" once everything holds.
 */
export async function contain(state: CaseState, deps: ContainmentDeps): Promise<CaseState> {
    const contained = await containStep(state, deps);
    if (deps.s3) {
        // Every attempt is recorded at once: a contain-only case, or one whose close fails, still has a record.
        const written = await writeRecord(contained, { s3: deps.s3, dynamodb: deps.dynamodb, settings: deps.settings })
            .catch((err: unknown) => ({ ok: false as const, error: errorText(err) }));
        if (!written.ok) {
            contained.steps.at(-1)?.actions.push({ action: "record-manifest", outcome: "failed", at: now(), error: written.error });
        }
    }
    return contained;
}

async function containStep(state: CaseState, deps: ContainmentDeps): Promise<CaseState> {
    return runStep(state, "containment", async (rec, next) => {
        const acquisition = withAcquisition(state, next);
        if (acquisition.length > 0) {
            rec.detail.acquisition = acquisition.map((s) => ({ step: s.step, status: s.status, ...(s.error ? { error: s.error } : {}) }));
        }
        if (state.lastError) {
            rec.detail.lastError = state.lastError;
            delete next.lastError;
        }
        const attempts = (state.containment?.attempts ?? 0) + 1;
        rec.detail.attempt = attempts;
        let open: string[];
        try {
            open = await containInstance(state, next, deps, rec);
        } catch (err) {
            rec.fail(errorText(err));
            open = [`containment could not run: ${errorText(err)}`];
        }
        const holds = open.length === 0;
        rec.detail.holds = holds;
        rec.detail.open = open;
        const missing = rec.detail.instanceMissing === true;
        const retryInSeconds = holds || missing ? undefined : CONTAIN_RETRY_SECONDS[attempts - 1];
        next.containment = { attempts, holds, open, ...(retryInSeconds !== undefined ? { retryInSeconds } : {}) };
        if (holds) {
            await publish(deps.sns, deps.settings, state, "contained",
                `contained${attempts > 1 ? ` (attempt ${attempts})` : ""}: no network, deny-all profile, old credentials denied to this instance`, rec);
        } else if (retryInSeconds === undefined) {
            await publish(deps.sns, deps.settings, state, "failed",
                `NOT CONTAINED after ${attempts} attempt(s): ${open.join("; ")}`.slice(0, 900), rec);
        }
    });
}

/** Contains the instance; returns the parts still open as the instance itself shows them. */
async function containInstance(state: CaseState, next: CaseState, deps: ContainmentDeps, rec: StepRecorder): Promise<string[]> {
    const { settings } = deps;
    const instanceId = state.instance.instanceId;
    const clients = await deps.member(state.instance, state.caseId);
    const found = await describeInstance(clients.ec2, instanceId);
    if (!found) {
        rec.detail.instanceMissing = true;
        rec.fail("instance not found");
        return [`instance ${instanceId} not found`];
    }
    const facts = instanceFacts(found.instance);
    next.facts ??= facts;
    const stateName = found.instance.State?.Name;
    if (stateName === "terminated" || stateName === "shutting-down") {
        // Nothing left to cut off, but credentials taken from it may still be in use: deny them for this instance.
        rec.detail.instanceMissing = true;
        const original = originalProfile(state, undefined, settings);
        rec.detail.originalProfile = original ?? null;
        await revokeCredentials(clients.iam, instanceArn(settings.partition, state.instance), original && profileNameOf(original.profileArn), deps, rec);
        rec.fail(`instance ${stateName}: nothing to contain (its role's credentials are denied for it)`);
        return [`instance ${stateName}`];
    }
    const lookups = new VpcLookups(clients.ec2);
    const cut = await cutNetwork(clients.ec2, facts.networkInterfaces, "contained", settings, lookups, rec);
    if (!cut.ok) {
        rec.fail("the network cut did not complete (see the isolate-eni actions)");
    }
    // Isolation's protections are applied again unless it fully succeeded (they are idempotent anyway).
    const isolated = state.steps.some((s) => s.step === "isolation" && s.status === "succeeded");
    const [, profile] = await Promise.all([
        isolated
            ? rec.record("protect-instance", "noop", { target: instanceId, detail: { reason: "applied by this case's isolation" } })
            : protectInstance(clients, instanceId, facts, lookups, rec),
        swapProfile(clients.ec2, instanceId, settings.member.containedProfileName, rec),
    ]);
    const original = originalProfile(state, profile?.previous, settings);
    rec.detail.originalProfile = original ?? null;
    const revokedRoles = await revokeCredentials(clients.iam, instanceArn(settings.partition, state.instance), original && profileNameOf(original.profileArn), deps, rec);
    if (!cut.ok) {
        rec.record("registry:markContained", "skipped", { target: instanceId, detail: { reason: "the network cut failed: not contained" } });
    } else {
        await markAndTag(clients.ec2, deps, state, facts, revokedRoles, rec);
    }
    const view = await rec.read("check-containment", instanceId, () => containmentOnInstance(clients, state.instance, settings, { revokedRoleNames: revokedRoles, caseId: state.caseId }));
    if (!view.ok) {
        return [`the instance could not be read back: ${view.error}`];
    }
    rec.detail.onInstance = { enis: view.value.enis, profileArn: view.value.profileArn, revokedRoles: view.value.revokedRoles };
    return view.value.open;
}
