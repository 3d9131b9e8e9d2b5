/**
 * Triage: right after isolation's cut (after containment, in a contain-only case). Records the instance
 * as it is at incident time (describe output, ENIs, the security group rules from before and after the
 * cut, volumes, profile, console output) as one evidence object, and gives the later steps their
 * `InstanceFacts`.
 */
import {
    DescribeIamInstanceProfileAssociationsCommand, DescribeSecurityGroupsCommand, DescribeVolumesCommand, EC2Client, GetConsoleOutputCommand,
} from "@aws-sdk/client-ec2";
import { S3Client } from "@aws-sdk/client-s3";
import { MemberClientFactory, now } from "../shared/aws";
import type { EngineSettings } from "../shared/settings";
import { putEvidenceJson } from "./evidence";
import { Attempt, describeInstance, instanceFacts, runStep, ssmView } from "../shared/steps";
import { Artifact, CASES_PREFIX, CaseState } from "../shared/types";

export interface TriageDeps {
    member: MemberClientFactory;
    s3: S3Client;
    settings: EngineSettings;
}

export function metadataKey(caseId: string): string {
    return `${CASES_PREFIX}${caseId}/triage/instance-metadata.json`;
}

function isolationDetail(state: CaseState): { previousGroups?: Record<string, string[]> } | undefined {
    return state.steps.find((s) => s.step === "isolation")?.detail as { previousGroups?: Record<string, string[]> } | undefined;
}

/** The value of a secondary call for the evidence document: its result, or why there is none. */
function evidenceOf<T>(attempt: Attempt<T>): T | { error: string } {
    return attempt.ok ? attempt.value : { error: attempt.error };
}

async function consoleOutput(ec2: EC2Client, instanceId: string): Promise<{ timestamp?: Date; output: string }> {
    const out = await ec2.send(new GetConsoleOutputCommand({ InstanceId: instanceId }));
    return { timestamp: out.Timestamp, output: Buffer.from(out.Output ?? "", "base64").toString("utf8") };
}

/** Writes the evidence object under Object Lock and returns its artifact. */
async function putEvidence(s3: S3Client, settings: EngineSettings, key: string, document: unknown): Promise<Artifact> {
    return { kind: "metadata", ...(await putEvidenceJson(s3, settings, key, document)), producedBy: "triage", at: now() };
}

/**
 * Describes the instance and everything around it in parallel (after isolation's cut: the security
 * groups from before the cut are described too), stores that as evidence, and sets `facts`. A missing instance fails the step (no facts); failed secondary calls make it partial.
 * Who tagged: the trigger's identity only (a CloudTrail lookup does not fit the isolation budget).
 */
export async function triage(state: CaseState, deps: TriageDeps): Promise<CaseState> {
    return runStep(state, "triage", async (rec, next) => {
        const { ec2, ssm } = await deps.member(state.instance, state.caseId);
        const id = state.instance.instanceId;
        const byInstance = [{ Name: "attachment.instance-id", Values: [id] }];
        // Everything that needs only the instance id starts at once; security groups need the describe.
        // Isolation, which runs first, asked SSM before its profile swap: that answer stands.
        const asked = state.facts?.ssmAtStart;
        const [found, volumes, associations, console, agent] = await Promise.all([
            rec.attempt("ec2:DescribeInstances", id, () => describeInstance(ec2, id)),
            rec.attempt("ec2:DescribeVolumes", id, async () => (await ec2.send(new DescribeVolumesCommand({ Filters: byInstance }))).Volumes ?? []),
            rec.attempt("ec2:DescribeIamInstanceProfileAssociations", id, async () => (await ec2.send(new DescribeIamInstanceProfileAssociationsCommand({
                Filters: [{ Name: "instance-id", Values: [id] }],
            }))).IamInstanceProfileAssociations ?? []),
            rec.attempt("ec2:GetConsoleOutput", id, () => consoleOutput(ec2, id)),
            asked === undefined ? ssmView(ssm, id) : { pingStatus: asked },
        ]);
        if (!found.ok) {
            return rec.fail(`describe failed: ${found.error}`);
        }
        if (!found.value) {
            return rec.fail("instance not found");
        }
        const { instance, reservation } = found.value;
        // The groups the ENIs had before the cut (isolation recorded them) and the ones they are in now.
        const before = Object.values(isolationDetail(state)?.previousGroups ?? {}).flat();
        const groupIds = [...new Set([...before, ...(instance.NetworkInterfaces ?? []).flatMap((e) => (e.Groups ?? []).map((g) => g.GroupId ?? ""))])].filter(Boolean);
        const groups = await rec.attempt("ec2:DescribeSecurityGroups", groupIds.join(","), async () => groupIds.length === 0
            ? []
            : (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: groupIds }))).SecurityGroups ?? []);

        const association = associations.ok
            ? associations.value.find((a) => a.InstanceId === id && (a.State === "associated" || a.State === "associating"))
            : undefined;
        // The profile from before isolation's swap, when isolation replaced one.
        const previousProfile = state.facts?.profileAssociation;
        const current = instanceFacts(instance, association);
        // Volumes isolation saw stay facts even when the instance no longer lists them (terminated since the
        // cut: isolation set DeleteOnTermination=false, so they still exist and the disk branch snapshots them).
        const seen = new Set(current.blockDevices?.map((b) => b.volumeId));
        const blockDevices = [...(current.blockDevices ?? []), ...(state.facts?.blockDevices ?? []).filter((b) => !seen.has(b.volumeId))];
        next.facts = {
            ...current,
            blockDevices,
            volumeIds: blockDevices.map((b) => b.volumeId),
            ...(previousProfile ? { profileAssociation: previousProfile } : {}),
            ssmAtStart: agent.pingStatus,
        };
        rec.detail.ssmAtStart = agent;
        rec.detail.identity = state.trigger.identity ?? null;

        const key = metadataKey(state.caseId);
        const collectedAt = now();
        const document = {
            schema: "ir-forensics/instance-metadata/1",
            caseId: state.caseId,
            instanceRef: state.instance,
            trigger: state.trigger,
            collectedAt,
            reservation,
            instance,
            securityGroups: evidenceOf(groups),
            volumes: evidenceOf(volumes),
            iamInstanceProfileAssociations: evidenceOf(associations),
            consoleOutput: evidenceOf(console),
        };
        const stored = await rec.attempt("s3:PutObject", `s3://${deps.settings.evidenceBucket}/${key}`,
            () => putEvidence(deps.s3, deps.settings, key, document),
            (artifact) => ({ detail: { versionId: artifact.versionId, bytes: artifact.bytes, sha256: artifact.sha256 } }));
        if (stored.ok) {
            next.artifacts.push(stored.value);
            rec.detail.evidenceKey = key;
        }
    });
}
