/**
 * The engine's AWS side on a moto server, for the end-to-end test and the benchmarks: what the stacks
 * would have created (evidence bucket, case table, topic, state machine name, member profiles), suspect
 * instances to respond to, and the incident run with aws-local-stepfunctions.
 */
import "./node-compat";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import {
    AssignIpv6AddressesCommand, AssociateIamInstanceProfileCommand, CreateSecurityGroupCommand, CreateSubnetCommand, CreateVpcCommand,
    DescribeNetworkInterfacesCommand, DescribeVpcsCommand, RunInstancesCommand,
} from "@aws-sdk/client-ec2";
import { AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand } from "@aws-sdk/client-iam";
import { CreateBucketCommand, PutObjectLockConfigurationCommand } from "@aws-sdk/client-s3";
import { CreateStateMachineCommand } from "@aws-sdk/client-sfn";
import { CreateTopicCommand, SubscribeCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand, GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { StateMachine } from "aws-local-stepfunctions";
import { EngineSettings } from "../functions/aws";
import { InstanceRef } from "../functions/types";
import { AccountClients, DEFAULT_REGION } from "./aws-clients";

/** A workload instance profile every suspect carries before the incident. */
export const WORKLOAD_PROFILE = "web-app";

/**
 * Creates, in moto, the resources `settings` names: the evidence bucket (forensic account, Object Lock),
 * the case table, the notification topic (with an SQS queue subscribed, returned) and a state machine of
 * that name (security account), and the IR, contained and workload profiles (member account).
 */
export async function prepareEngine(
    settings: EngineSettings,
    clients: { forensic: AccountClients; security: AccountClients; member: AccountClients },
): Promise<{ notificationQueueUrl: string }> {
    const { forensic, security, member } = clients;
    await forensic.s3.send(new CreateBucketCommand({
        Bucket: settings.evidenceBucket, ObjectLockEnabledForBucket: true, CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION },
    }));
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
    for (const profile of [settings.member.irProfileName, settings.member.containedProfileName, WORKLOAD_PROFILE]) {
        const path = profile === WORKLOAD_PROFILE ? "/" : settings.member.responderRolePath;
        await member.iam.send(new CreateRoleCommand({ RoleName: profile, Path: path, AssumeRolePolicyDocument: "{}" }));
        await member.iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: profile, Path: path }));
        await member.iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: profile, RoleName: profile }));
    }
    return { notificationQueueUrl: queueUrl };
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
