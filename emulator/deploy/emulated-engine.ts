/**
 * The engine's AWS side on a moto server, for the end-to-end test and the benchmarks: what the stacks
 * would have created (evidence bucket, case table, topic, state machine name, member profiles), suspect
 * instances to respond to, and the incident run with aws-local-stepfunctions.
 */
import "../node-compat";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import {
    AssignIpv6AddressesCommand, AssociateIamInstanceProfileCommand, CreateSecurityGroupCommand, CreateSubnetCommand, CreateVpcCommand,
    DescribeNetworkInterfacesCommand, DescribeVpcsCommand, RunInstancesCommand,
} from "@aws-sdk/client-ec2";
import { AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, PutRolePolicyCommand } from "@aws-sdk/client-iam";
import { GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { responderStatements } from "../../components/member/memberIrAutomation";
import { evidenceCopierStatements } from "../../components/forensic/evidenceCopier";
import { EVIDENCE_COPIER_ROLE_NAME, EVIDENCE_COPIER_ROLE_PATH, MEMBER_NAMES } from "../../components/shared/conventions";
import { CreateKeyCommand } from "@aws-sdk/client-kms";
import { CreateBucketCommand, PutBucketPolicyCommand, PutObjectLockConfigurationCommand } from "@aws-sdk/client-s3";
import { CreateStateMachineCommand } from "@aws-sdk/client-sfn";
import { CreateTopicCommand, SubscribeCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand, GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { StateMachine } from "aws-local-stepfunctions";
import type { EngineSettings } from "../../functions/shared/settings";
import { InstanceRef } from "../../functions/shared/types";
import { AccountClients, DEFAULT_REGION } from "../aws/aws-clients";

/** A workload instance profile every suspect carries before the incident. */
export const WORKLOAD_PROFILE = "web-app";

/**
 * Creates, in moto, the resources `settings` names: the evidence bucket and key (forensic account, Object
 * Lock; the security account may write cases and use the key through S3), the case table, the notification
 * topic (with an SQS queue subscribed, returned) and a state machine of that name (security account), the
 * member responder role and the IR, contained and workload profiles (member account), and the evidence copier
 * (forensic account). The evidence key's ARN is moto's: use the returned one in place of `settings`'.
 */
export async function prepareEngine(
    settings: EngineSettings,
    clients: { forensic: AccountClients; security: AccountClients; member: AccountClients },
): Promise<{ notificationQueueUrl: string; evidenceKeyArn: string }> {
    const { forensic, security, member } = clients;
    const forensicAccount = (await forensic.sts.send(new GetCallerIdentityCommand({}))).Account ?? "";
    const securityAccount = settings.topicArn.split(":")[4] ?? "";
    await forensic.s3.send(new CreateBucketCommand({
        Bucket: settings.evidenceBucket, ObjectLockEnabledForBucket: true, CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION },
    }));
    const doc = (...Statement: object[]) => JSON.stringify({ Version: "2012-10-17", Statement });
    const engine = { AWS: `arn:${settings.partition}:iam::${securityAccount}:root` };
    await forensic.s3.send(new PutBucketPolicyCommand({
        Bucket: settings.evidenceBucket,
        Policy: doc(
            {
                Sid: "EngineWritesCases", Effect: "Allow", Principal: engine, Resource: `arn:aws:s3:::${settings.evidenceBucket}/cases/*`,
                Action: ["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
            },
            { Sid: "EngineLists", Effect: "Allow", Principal: engine, Action: ["s3:ListBucket", "s3:ListBucketVersions"], Resource: `arn:aws:s3:::${settings.evidenceBucket}` },
        ),
    }));
    const evidenceKeyArn = (await forensic.kms.send(new CreateKeyCommand({
        Description: "evidence",
        Policy: doc(
            { Sid: "AccountAdministration", Effect: "Allow", Principal: { AWS: `arn:${settings.partition}:iam::${forensicAccount}:root` }, Action: "kms:*", Resource: "*" },
            { Sid: "EngineThroughS3", Effect: "Allow", Principal: engine, Action: ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"], Resource: "*" },
        ),
    }))).KeyMetadata?.Arn ?? "";
    await forensic.s3.send(new PutObjectLockConfigurationCommand({
        Bucket: settings.evidenceBucket,
        ObjectLockConfiguration: { ObjectLockEnabled: "Enabled", Rule: { DefaultRetention: { Mode: "GOVERNANCE", Days: 90 } } },
    }));
    await security.dynamodb.send(new CreateTableCommand({
        TableName: settings.casesTable, BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [{ AttributeName: "instanceKey", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "instanceKey", KeyType: "HASH" }],
    }));
    const topic = await security.sns.send(new CreateTopicCommand({ Name: settings.topicArn.split(":").pop() }));
    if (topic.TopicArn !== settings.topicArn) {
        throw new Error(`topic ${topic.TopicArn} is not the configured ${settings.topicArn}`);
    }
    const queueUrl = (await security.sqs.send(new CreateQueueCommand({ QueueName: "ir-forensics-notifications" }))).QueueUrl ?? "";
    const queueArn = (await security.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }))).Attributes?.QueueArn;
    await security.sns.send(new SubscribeCommand({ TopicArn: topic.TopicArn, Protocol: "sqs", Endpoint: queueArn }));
    // The incident definition runs locally (aws-local-stepfunctions); moto only has to accept StartExecution.
    const role = await security.iam.send(new CreateRoleCommand({ RoleName: "ir-forensics-incident", AssumeRolePolicyDocument: "{}" }));
    const machine = await security.sfn.send(new CreateStateMachineCommand({
        name: settings.stateMachineArn.split(":").pop(),
        roleArn: role.Role?.Arn,
        definition: JSON.stringify({ StartAt: "Hold", States: { Hold: { Type: "Wait", Seconds: 3600, End: true } } }),
    }));
    if (machine.stateMachineArn !== settings.stateMachineArn) {
        throw new Error(`state machine ${machine.stateMachineArn} is not the configured ${settings.stateMachineArn}`);
    }
    // The member responder role with the footprint's own policy; trusted by the security account (whose root
    // the harness runs the engine as here; the deployed trust, on the engine's roles, is the drill's to prove).
    const memberAccount = (await member.sts.send(new GetCallerIdentityCommand({}))).Account ?? "";
    const passable = [settings.member.irProfileName, settings.member.containedProfileName]
        .map((name) => `arn:${settings.partition}:iam::${memberAccount}:role${settings.member.responderRolePath}${name}`);
    await member.iam.send(new CreateRoleCommand({
        RoleName: settings.member.responderRoleName, Path: settings.member.responderRolePath,
        AssumeRolePolicyDocument: JSON.stringify({
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Principal: { AWS: `arn:${settings.partition}:iam::${securityAccount}:root` }, Action: "sts:AssumeRole" }],
        }),
    }));
    const names = { ...MEMBER_NAMES, path: settings.member.responderRolePath, responderRoleName: settings.member.responderRoleName,
        irProfileName: settings.member.irProfileName, containedProfileName: settings.member.containedProfileName };
    await member.iam.send(new PutRolePolicyCommand({
        RoleName: settings.member.responderRoleName, PolicyName: "responder",
        PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: responderStatements(settings.partition, memberAccount, names, passable, forensicAccount) }),
    }));
    // The forensic account's evidence copier with its own policy, trusted by the security account.
    await forensic.iam.send(new CreateRoleCommand({
        RoleName: EVIDENCE_COPIER_ROLE_NAME, Path: EVIDENCE_COPIER_ROLE_PATH,
        AssumeRolePolicyDocument: JSON.stringify({
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Principal: { AWS: `arn:${settings.partition}:iam::${securityAccount}:root` }, Action: "sts:AssumeRole" }],
        }),
    }));
    await forensic.iam.send(new PutRolePolicyCommand({
        RoleName: EVIDENCE_COPIER_ROLE_NAME, PolicyName: "copier",
        PolicyDocument: JSON.stringify({
            Version: "2012-10-17",
            Statement: evidenceCopierStatements(settings.partition, forensicAccount, "o-unknown", evidenceKeyArn, MEMBER_NAMES.irKeyAlias),
        }),
    }));
    for (const profile of [settings.member.irProfileName, settings.member.containedProfileName, WORKLOAD_PROFILE]) {
        const path = profile === WORKLOAD_PROFILE ? "/" : settings.member.responderRolePath;
        await member.iam.send(new CreateRoleCommand({ RoleName: profile, Path: path, AssumeRolePolicyDocument: "{}" }));
        await member.iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: profile, Path: path }));
        await member.iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: profile, RoleName: profile }));
    }
    return { notificationQueueUrl: queueUrl, evidenceKeyArn };
}

export interface SuspectNetwork {
    vpcId: string;
    subnetId: string;
    groupId: string;
}

/** A dual-stack VPC with one subnet and a workload security group, in the member account. */
export async function suspectNetwork(member: AccountClients, index: number): Promise<SuspectNetwork> {
    const vpc = await member.ec2.send(new CreateVpcCommand({ CidrBlock: `10.${100 + index}.0.0/16`, AmazonProvidedIpv6CidrBlock: true }));
    const vpcId = vpc.Vpc?.VpcId ?? "";
    const v6 = (await member.ec2.send(new DescribeVpcsCommand({ VpcIds: [vpcId] }))).Vpcs?.[0]?.Ipv6CidrBlockAssociationSet?.[0]?.Ipv6CidrBlock ?? "";
    const subnet = await member.ec2.send(new CreateSubnetCommand({
        VpcId: vpcId, CidrBlock: `10.${100 + index}.0.0/20`, AvailabilityZone: `${DEFAULT_REGION}a`, Ipv6CidrBlock: v6.replace(/::\/\d+$/, "::/64"),
    }));
    const group = await member.ec2.send(new CreateSecurityGroupCommand({ GroupName: "web", Description: "web", VpcId: vpcId }));
    return { vpcId, subnetId: subnet.Subnet?.SubnetId ?? "", groupId: group.GroupId ?? "" };
}

/** An instance with `eniCount` interfaces (each with an IPv6 address) and the workload profile. */
export async function launchSuspect(member: AccountClients, accountId: string, net: SuspectNetwork, eniCount = 2): Promise<{ ref: InstanceRef; enis: string[] }> {
    const run = await member.ec2.send(new RunInstancesCommand({
        ImageId: "ami-04681a1dbd79675a5", InstanceType: "t3.micro", MinCount: 1, MaxCount: 1,
        NetworkInterfaces: Array.from({ length: eniCount }, (_, i) => ({ DeviceIndex: i, SubnetId: net.subnetId, Groups: [net.groupId] })),
    }));
    const instanceId = run.Instances?.[0]?.InstanceId ?? "";
    await member.ec2.send(new AssociateIamInstanceProfileCommand({ InstanceId: instanceId, IamInstanceProfile: { Name: WORKLOAD_PROFILE } }));
    const enis = ((await member.ec2.send(new DescribeNetworkInterfacesCommand({
        Filters: [{ Name: "attachment.instance-id", Values: [instanceId] }],
    }))).NetworkInterfaces ?? []).map((e) => e.NetworkInterfaceId ?? "");
    for (const eni of enis) {
        // moto ignores per-interface IPv6 counts at launch.
        await member.ec2.send(new AssignIpv6AddressesCommand({ NetworkInterfaceId: eni, Ipv6AddressCount: 1 }));
    }
    return { ref: { accountId, region: DEFAULT_REGION, instanceId }, enis };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- state documents are whatever the steps return
export type TaskHandlers = Record<string, (input: any) => Promise<unknown>>;

/** Runs an incident definition locally; `executionArn` stands in for the context object's execution id. */
type AslState = { Type?: string; Resource?: string; Branches?: object[]; ItemProcessor?: object; Iterator?: object };

/** Every state of a definition by name, inside Parallel and Map states too (names are unique across a definition). */
export function allStates(definition: object): [string, AslState][] {
    const states = (definition as { States?: Record<string, AslState> }).States ?? {};
    return Object.entries(states).flatMap(([name, state]) => [
        [name, state] as [string, AslState],
        ...[...(state.Branches ?? []), ...[state.ItemProcessor, state.Iterator].filter((x): x is object => !!x)].flatMap(allStates),
    ]);
}

/** Names of every Wait state of a definition. */
export function waitStates(definition: object): string[] {
    return allStates(definition).filter(([, s]) => s.Type === "Wait").map(([name]) => name);
}

export async function runIncident(definition: object, input: unknown, executionArn: string, handlers: TaskHandlers): Promise<Record<string, unknown>> {
    const execution = new StateMachine(definition as never, { validationOptions: { checkArn: false } }).run(input as never, {
        // Wait states (acquisition polls) pass at once: moto's snapshots and commands complete immediately.
        overrides: { taskResourceLocalHandlers: handlers as never, waitTimeOverrides: Object.fromEntries(waitStates(definition).map((n) => [n, 0])) },
        // aws-local-stepfunctions has no context object of its own.
        context: { Execution: { Id: executionArn }, State: { EnteredTime: new Date().toISOString() } } as never,
    });
    return execution.result as Promise<Record<string, unknown>>;
}
