/**
 * Containment: every ENI to the no-rules group, the deny-all instance profile, the instance's old role
 * credentials denied for this instance only, then the registry and the `Contain` tag. Runs after
 * acquisition (whatever its outcome) and alone when a human tags `Contain`, so it starts from a fresh
 * describe rather than triage's facts. Idempotent (a second run records no-ops) and fail closed.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CreateTagsCommand, EC2Client } from "@aws-sdk/client-ec2";
import { GetInstanceProfileCommand, IAMClient, Role } from "@aws-sdk/client-iam";
import { SNSClient } from "@aws-sdk/client-sns";
import { EngineSettings, MemberClientFactory, errorText } from "./aws";
import { foldAcquisition } from "./fold";
import { ProfileAssociationFacts, cutNetwork, profileNameOf, protectInstance, publish, swapProfile } from "./isolation";
import { getInstance, markContained } from "./registry";
import { REVOCATION_POLICY, addRevokedInstance } from "./revocation";
import { VpcLookups } from "./securityGroups";
import { StepRecorder, describeInstance, instanceArn, instanceFacts, runStep } from "./steps";
import { CASE_TAG, CaseState, InstanceFacts, STATUS_CONTAIN, STATUS_TAG, StepRecord } from "./types";

export interface ContainmentDeps {
    member: MemberClientFactory;
    settings: EngineSettings;
    dynamodb: DynamoDBClient;
    sns?: SNSClient;
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
): Promise<void> {
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
        await rec.attempt("iam:PutRolePolicy", roleName, () => addRevokedInstance(iam, roleName, arn, deps.revocationSettleMs),
            (outcome) => ({ outcome, detail: { policy: REVOCATION_POLICY, instanceArn: arn, profile } }));
    }));
}

/** Marks the instance contained in the registry (before the tag, whose event must then be a no-op), then tags it. */
async function markAndTag(ec2: EC2Client, deps: ContainmentDeps, state: CaseState, facts: InstanceFacts, rec: StepRecorder): Promise<void> {
    const { dynamodb, settings } = deps;
    const registered = await rec.read("dynamodb:GetItem", state.instance.instanceId, () => getInstance(dynamodb, settings.casesTable, state.instance));
    const contained = registered.ok && registered.value?.status === "contained";
    if (contained) {
        rec.record("registry:markContained", "noop", { target: state.instance.instanceId, detail: { caseId: registered.value?.caseId } });
    } else {
        await rec.attempt("registry:markContained", state.instance.instanceId, () => markContained(dynamodb, settings.casesTable, state.instance, state.caseId));
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

/** Folds the acquisition branches' results (the Parallel state's output) into the case; returns their records. */
function withAcquisition(state: CaseState, next: CaseState): StepRecord[] {
    const folded = foldAcquisition({ ...next, acquisition: state.acquisition });
    next.steps = folded.steps;
    next.artifacts = folded.artifacts;
    delete next.acquisition;
    return next.steps.filter((s) => s.step === "memory" || s.step === "disk");
}

/**
 * Contains the instance. Fails (without throwing) when the instance is gone or the network cut fails,
 * and then does not mark or tag it contained; partial when anything else failed. Notifies "contained"
 * only when everything succeeded, "failed" otherwise (a partial containment needs a human).
 */
export async function contain(state: CaseState, deps: ContainmentDeps): Promise<CaseState> {
    return runStep(state, "containment", async (rec, next) => {
        const acquisition = withAcquisition(state, next);
        if (acquisition.length > 0) {
            rec.detail.acquisition = acquisition.map((s) => ({ step: s.step, status: s.status, ...(s.error ? { error: s.error } : {}) }));
        }
        if (state.lastError) {
            rec.detail.lastError = state.lastError;
        }
        try {
            await containInstance(state, next, deps, rec);
        } catch (err) {
            rec.fail(errorText(err));
        }
        const ok = !rec.failed && !rec.actions.some((a) => a.outcome === "failed");
        await publish(deps.sns, deps.settings, state, ok ? "contained" : "failed", ok
            ? "contained: no network, deny-all profile, old credentials denied to this instance"
            : `containment ${rec.failed ? "FAILED" : "incomplete"}: see the case record`, rec);
    });
}

async function containInstance(state: CaseState, next: CaseState, deps: ContainmentDeps, rec: StepRecorder): Promise<void> {
    const { settings } = deps;
    const instanceId = state.instance.instanceId;
    const clients = await deps.member(state.instance, state.caseId);
    const found = await describeInstance(clients.ec2, instanceId);
    if (!found) {
        return rec.fail("instance not found");
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
        return rec.fail(`instance ${stateName}: nothing to contain (its role's credentials are denied for it)`);
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
    await revokeCredentials(clients.iam, instanceArn(settings.partition, state.instance), original && profileNameOf(original.profileArn), deps, rec);
    if (!cut.ok) {
        rec.record("registry:markContained", "skipped", { target: instanceId, detail: { reason: "the network cut failed: not contained" } });
        return;
    }
    await markAndTag(clients.ec2, deps, state, facts, rec);
}
