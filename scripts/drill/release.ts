/** The drill's `--scenario release`: each contained victim released through the case commands' library, checked, then contained again. */
import { randomBytes } from "crypto";
import { CreateRoleCommand, PutRolePolicyCommand } from "@aws-sdk/client-iam";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { S3Client } from "@aws-sdk/client-s3";
import { STATUS_TAG } from "../../functions/shared/types";
import { assumedCredentials } from "../../functions/shared/aws";
import { CaseCommandClients, CaseCommandConfig, CaseManifest, DEFAULT_RELEASER_ROLE, operatorStatements, readCase, releaseCase, releasePlan } from "../../functions/response/caseCommands";
import { isInstanceRevoked } from "../../functions/response/revocation";
import { DescribeIamInstanceProfileAssociationsCommand, DescribeInstancesCommand } from "@aws-sdk/client-ec2";
import { AutoScalingClient } from "@aws-sdk/client-auto-scaling";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EC2Client } from "@aws-sdk/client-ec2";
import { ElasticLoadBalancingClient } from "@aws-sdk/client-elastic-load-balancing";
import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { IAMClient } from "@aws-sdk/client-iam";
import { SFNClient } from "@aws-sdk/client-sfn";
import { DrillOptions } from "./options";
import { CaseReport, ReleaseReport } from "./report";
import { Progress } from "./progress";
import { ResponderSession, Victim, World } from "./world";
import { engineSettings, runCase, triggerCases } from "./cases";

/**
 * A responder of the security account, as docs/runbook.md "Case commands" describes one: a role under the responders'
 * path (which the evidence bucket, its key and the member release role trust) with the case commands' policy,
 * assumed by the account's root; the case commands' clients act with its session, through the strict layer.
 */
export async function responderSession(world: World): Promise<ResponderSession> {
    world.responder ??= (async () => {
        const security = world.clients.security;
        const partition = "aws";
        const name = `ir-forensics-drill-responder-${randomBytes(3).toString("hex")}`;
        const role = await security.iam.send(new CreateRoleCommand({
            RoleName: name, Path: "/ir-forensics/responder/",
            AssumeRolePolicyDocument: JSON.stringify({
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Principal: { AWS: `arn:${partition}:iam::${world.accounts.security}:root` }, Action: "sts:AssumeRole" }],
            }),
        }));
        const config: CaseCommandConfig = {
            table: String(world.security.outputs.casesTableName),
            bucket: String(world.forensic.outputs.evidenceBucketName),
            stateMachineArn: String(world.security.outputs.stateMachineArn),
            evidenceKeyArn: String(world.forensic.outputs.evidenceKeyArn),
            partition,
            member: engineSettings(world).member,
        };
        const releaserArn = `arn:${partition}:iam::${world.accounts.member}:role${DEFAULT_RELEASER_ROLE}`;
        await security.iam.send(new PutRolePolicyCommand({
            RoleName: name, PolicyName: "ir-forensics-case-commands",
            PolicyDocument: JSON.stringify({
                Version: "2012-10-17",
                Statement: operatorStatements({
                    partition, securityAccount: world.accounts.security, region: String(world.security.outputs.region ?? DEFAULT_DRILL_REGION),
                    table: config.table, stateMachineArn: config.stateMachineArn as string, bucket: config.bucket, evidenceKeyArn: config.evidenceKeyArn as string,
                    evidenceRegion: String(world.forensic.outputs.region ?? DEFAULT_DRILL_REGION), memberRoleArns: [releaserArn],
                }),
            }),
        }));
        const assumed = (await security.sts.send(new AssumeRoleCommand({ RoleArn: role.Role?.Arn, RoleSessionName: "drill-responder" }))).Credentials;
        const credentials = { accessKeyId: assumed?.AccessKeyId ?? "", secretAccessKey: assumed?.SecretAccessKey ?? "", sessionToken: assumed?.SessionToken };
        const endpoint = world.emulator.endpoint;
        const region = String(world.security.outputs.region ?? DEFAULT_DRILL_REGION);
        const base = { endpoint, region, credentials };
        const sts = new STSClient(base);
        const clients: CaseCommandClients = {
            dynamodb: new DynamoDBClient(base),
            sfn: new SFNClient(base),
            s3: new S3Client({ ...base, region: String(world.forensic.outputs.region ?? region), forcePathStyle: true }),
            sts,
            member: async (instance, sessionName) => {
                const c = { endpoint, region: instance.region, credentials: await assumedCredentials(sts, `arn:${partition}:iam::${instance.accountId}:role${DEFAULT_RELEASER_ROLE}`, sessionName) };
                return {
                    ec2: new EC2Client(c), autoScaling: new AutoScalingClient(c), elbv2: new ElasticLoadBalancingV2Client(c),
                    elb: new ElasticLoadBalancingClient(c), iam: new IAMClient(c),
                };
            },
        };
        return { roleArn: String(role.Role?.Arn), credentials, clients, config };
    })();
    return world.responder;
}

const DEFAULT_DRILL_REGION = "eu-west-1";

/**
 * Where the victim differs from what its case recorded (releasePlan): each ENI's groups, the instance
 * profile, the revocation entries, the `Released` tag. Read from the instance as the member's root sees it.
 */
async function differencesFromRecord(world: World, manifest: CaseManifest, instanceId: string): Promise<string[]> {
    const { member } = world.clients;
    const plan = releasePlan(manifest, instanceId);
    const problems: string[] = [];
    const instance = (await member.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Reservations?.[0]?.Instances?.[0];
    for (const eni of instance?.NetworkInterfaces ?? []) {
        const now = (eni.Groups ?? []).map((g) => g.GroupId ?? "").sort();
        const recorded = [...(plan.groups[eni.NetworkInterfaceId ?? ""] ?? [])].sort();
        if (JSON.stringify(now) !== JSON.stringify(recorded)) {
            problems.push(`ENI ${eni.NetworkInterfaceId} in ${now.join(",")}, recorded ${recorded.join(",") || "nothing"}`);
        }
    }
    const association = (await member.ec2.send(new DescribeIamInstanceProfileAssociationsCommand({ Filters: [{ Name: "instance-id", Values: [instanceId] }] })))
        .IamInstanceProfileAssociations?.find((a) => a.State === "associated" || a.State === "associating");
    const profileNow = association?.IamInstanceProfile?.Arn?.split("/").pop() ?? null;
    const profileRecorded = plan.profile?.profileArn.split("/").pop() ?? null;
    if (profileNow !== profileRecorded) {
        problems.push(`instance profile ${profileNow ?? "none"}, recorded ${profileRecorded ?? "none"}`);
    }
    if (plan.revokedRoles.length === 0) {
        problems.push("the case recorded no revoked role (containment denies the workload role's credentials)");
    }
    const arn = `arn:aws:ec2:${world.accounts.region}:${world.accounts.member}:instance/${instanceId}`;
    for (const role of plan.revokedRoles) {
        if (await isInstanceRevoked(member.iam, role, arn)) {
            problems.push(`role ${role} still denies its credentials to ${instanceId}`);
        }
    }
    const tags = Object.fromEntries((instance?.Tags ?? []).map((t) => [t.Key, t.Value]));
    if (tags[STATUS_TAG] !== "Released") {
        problems.push(`tag ${STATUS_TAG} is ${tags[STATUS_TAG] ?? "absent"}, not Released`);
    }
    return problems;
}

/**
 * --scenario release: each contained victim released through the case commands' library, the instance checked
 * against its case's record, then tagged `Contain` again, which must open a new contain case that holds on
 * the instance.
 */
export async function releaseAndContainAgain(options: DrillOptions, world: World, victims: Victim[], reports: CaseReport[], progress: Progress): Promise<void> {
    const session = await responderSession(world);
    await Promise.all(reports.map(async (r) => {
        if (r.status !== "contained" || !r.caseId) {
            return;
        }
        const started = Date.now();
        const changes: string[] = [];
        progress.stage(r.instanceId, "Release");
        try {
            const done = await releaseCase(session.clients, session.config, r.caseId, {
                reason: "drill: release path rehearsal", onChange: (c) => changes.push(`${c.action} ${c.target}`),
            });
            const ms = Date.now() - started;
            const record = await readCase(session.clients, session.config, r.caseId);
            const problems = await differencesFromRecord(world, record.manifest as CaseManifest, r.instanceId);
            r.release = { released: true, ms, changes, kept: done.release.kept, restored: problems.length === 0, problems };
        } catch (err) {
            r.release = { released: false, ms: Date.now() - started, changes, kept: [], restored: false, problems: [], error: err instanceof Error ? err.message : String(err) };
        }
    }));
    const again = victims.filter((v) => reports.find((r) => r.instanceId === v.instanceId)?.release?.released);
    if (again.length === 0) {
        return;
    }
    const { opened, triggeredAt } = await triggerCases(world, again, "Contain");
    await Promise.all(again.map(async (v) => {
        const r = reports.find((x) => x.instanceId === v.instanceId) as CaseReport;
        const answer = opened.get(v.instanceId);
        const second = await runCase(options, world, v, answer, triggeredAt.get(v.instanceId) as number, progress);
        const fresh = second.caseId !== null && second.caseId !== r.caseId;
        (r.release as ReleaseReport).recontain = {
            caseId: second.caseId, status: fresh ? second.status : "not-opened", outcome: second.outcome, onInstance: second.onInstance,
            ...(second.error || !fresh ? { error: second.error ?? `the Contain tag opened no new case (${JSON.stringify(answer ?? null)})` } : {}),
        };
    }));
}
