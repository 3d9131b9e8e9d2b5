/**
 * SDK clients the engine's functions take as parameters. The Lambda wrappers (components)
 * build them from the execution role; tests build them against the emulator, one account per client set.
 */
import { AutoScalingClient } from "@aws-sdk/client-auto-scaling";
import { CloudTrailClient } from "@aws-sdk/client-cloudtrail";
import { EC2Client } from "@aws-sdk/client-ec2";
import { ElasticLoadBalancingClient } from "@aws-sdk/client-elastic-load-balancing";
import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { IAMClient } from "@aws-sdk/client-iam";
import { SSMClient } from "@aws-sdk/client-ssm";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { InstanceRef } from "./types";
import type { EngineSettings } from "./settings";

/** Clients acting in the suspect instance's account and region, through the member responder role. */
export interface MemberClients {
    ec2: EC2Client;
    autoScaling: AutoScalingClient;
    elbv2: ElasticLoadBalancingV2Client;
    elb: ElasticLoadBalancingClient;
    iam: IAMClient;
    /** The member's CloudTrail in the instance's region (who set the incident tag). */
    cloudtrail?: CloudTrailClient;
    /** Systems Manager in the instance's region (memory acquisition). */
    ssm?: SSMClient;
}

/** Gives the clients for an instance's account and region (assuming the member role on AWS). */
export type MemberClientFactory = (instance: InstanceRef, sessionName: string) => Promise<MemberClients>;

/** Clients acting in another account through a role (the forensic account's evidence copier). */
export async function assumedCredentials(sts: STSClient, roleArn: string, sessionName: string) {
    const out = await sts.send(new AssumeRoleCommand({
        RoleArn: roleArn,
        RoleSessionName: sessionName.replace(/[^\w+=,.@-]/g, "-").slice(0, 64),
        DurationSeconds: 900,
    }));
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey) {
        throw new Error(`AssumeRole ${roleArn} returned no credentials`);
    }
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken };
}

/** Member clients assumed through STS (the Lambda wrappers use this; tests pass their own factory). */
export function assumingMemberClients(sts: STSClient, settings: Pick<EngineSettings, "partition" | "member">): MemberClientFactory {
    return async (instance, sessionName) => {
        const roleArn = `arn:${settings.partition}:iam::${instance.accountId}:role${settings.member.responderRolePath}${settings.member.responderRoleName}`;
        // Session names show in the member account's CloudTrail: the case id ties each call to its case.
        const config = { region: instance.region, credentials: await assumedCredentials(sts, roleArn, sessionName), maxAttempts: 5 };
        return {
            ec2: new EC2Client(config),
            autoScaling: new AutoScalingClient(config),
            elbv2: new ElasticLoadBalancingV2Client(config),
            elb: new ElasticLoadBalancingClient(config),
            // IAM is global: its endpoint is in the partition's home region.
            cloudtrail: new CloudTrailClient(config),
            ssm: new SSMClient(config),
            iam: new IAMClient({ ...config, region: settings.partition === "aws-cn" ? "cn-north-1" : settings.partition === "aws-us-gov" ? "us-gov-west-1" : "us-east-1" }),
        };
    };
}

/** Current time as ISO 8601 (one place, so tests can read records). */
export function now(): string {
    return new Date().toISOString();
}

/** The message of anything thrown, for records. */
export function errorText(err: unknown): string {
    if (err instanceof Error) {
        const name = (err as { name?: string }).name;
        return name && name !== "Error" && !err.message.startsWith(name) ? `${name}: ${err.message}` : err.message;
    }
    return String(err);
}
