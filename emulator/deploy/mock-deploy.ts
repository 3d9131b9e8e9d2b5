/**
 * Deploys a stack program onto a moto server: the program runs under Pulumi mocks whose `newResource`
 * creates each resource the response touches at run time in moto, in the account and region of the
 * resource's provider (a member provider's assumed role names its account), and hands moto's real ids and
 * ARNs back to the program, so that everything downstream (policies, Lambda environments, the state
 * machine definition, stack outputs) carries them, as after `pulumi up`.
 *
 * Types in {@link SUPPORTED_TYPES} are created for real; any other `aws:` type gets a recorded placeholder id
 * and ARN (listed in `placeholders`). Policies are applied exactly as written: the strict layer in front of
 * moto evaluates them (emulator/strict/). One adaptation to what moto can do is recorded rather than hidden:
 * EventBridge rules and SNS topics cannot deliver to Lambda or Step Functions in moto (PutEvents fails when a
 * matching rule has such a target): those targets are routed through an SQS queue each (`routes`), from which
 * the caller invokes the deployed function, as the service would.
 */
import { CreateTableCommand, UpdateTimeToLiveCommand } from "@aws-sdk/client-dynamodb";
import {
    AssociateRouteTableCommand, AuthorizeSecurityGroupEgressCommand, AuthorizeSecurityGroupIngressCommand, CreateRouteTableCommand,
    CreateSecurityGroupCommand, CreateSubnetCommand, CreateVpcCommand, IpPermission, RevokeSecurityGroupEgressCommand,
} from "@aws-sdk/client-ec2";
import { CreateEventBusCommand, PutPermissionCommand, PutRuleCommand, PutTargetsCommand, Target } from "@aws-sdk/client-eventbridge";
import {
    AddRoleToInstanceProfileCommand, AttachRolePolicyCommand, CreateInstanceProfileCommand, CreatePolicyCommand, CreateRoleCommand,
    PutRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { CreateAliasCommand, CreateKeyCommand, EnableKeyRotationCommand, KeySpec, KeyUsageType } from "@aws-sdk/client-kms";
import {
    BucketLocationConstraint, CreateBucketCommand, ObjectLockRetentionMode, ObjectOwnership, PutBucketEncryptionCommand,
    PutBucketOwnershipControlsCommand, PutBucketPolicyCommand, PutBucketVersioningCommand, PutObjectLockConfigurationCommand,
    PutPublicAccessBlockCommand, ServerSideEncryption,
} from "@aws-sdk/client-s3";
import { CreateStateMachineCommand, StateMachineType } from "@aws-sdk/client-sfn";
import { CreateTopicCommand, SetTopicAttributesCommand, SubscribeCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand, GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { CreateDocumentCommand, DocumentFormat, DocumentType, ParameterType, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import * as pulumi from "@pulumi/pulumi";
import { randomBytes } from "crypto";
import { AccountClients, clientConfig, clientsFor, forAccount } from "../aws/aws-clients";
import { callerInvoke, defaultDeployer, imageRecipesAnswer, loadConfigFile, loadStackConfig, RecordedResource, RenderedStack, runProgram } from "./render";

/** Where a resource lives. */
export interface Placement {
    account: string;
    region: string;
}

/** A Lambda or Step Functions target that moto cannot deliver to, delivered to an SQS queue instead. */
export interface Route {
    /** What delivers: an EventBridge rule or an SNS topic subscription. */
    via: "eventbridge" | "sns";
    /** The rule's or topic's ARN. */
    source: string;
    /** The function or state machine the stack targets. */
    targetArn: string;
    queueUrl: string;
    placement: Placement;
}

export interface CreatedResource {
    type: string;
    name: string;
    id: string;
    placement: Placement;
}

export interface DeployedStack extends RenderedStack {
    stack: string;
    /** Resources created in moto, in creation order. */
    created: CreatedResource[];
    /** `aws:` resources that got placeholder ids (their types are not in SUPPORTED_TYPES). */
    placeholders: { type: string; name: string }[];
    routes: Route[];
    /** What was applied differently from the program's inputs, and why. */
    adaptations: string[];
}

export interface DeployOptions {
    /** moto's endpoint. */
    endpoint: string;
    /** Stack name (forensic | security | <role>-<anything>). */
    stack: string;
    /** Settings file (default Pulumi.<stack>.yaml in the project). */
    configPath?: string;
    /** Dotted-path config overrides, as render.ts takes them. */
    config?: Record<string, unknown>;
    secrets?: Record<string, string>;
    /** Outputs of the stacks this one reads by StackReference, by stack name. */
    stackOutputs?: Record<string, Record<string, unknown>>;
    /** IAM role ARN the program runs as (default: render.ts's defaultDeployer). */
    callerRoleArn?: string;
}

/** A resource's inputs as the engine hands them to the mocks: plain JSON, shaped by each resource type. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Inputs = Record<string, any>;

interface Context {
    name: string;
    inputs: Inputs;
    placement: Placement;
    clients: AccountClients & { ssm: SSMClient };
    deploy: Deployment;
}

interface Created {
    id: string;
    state: Record<string, unknown>;
}

type Creator = (ctx: Context) => Promise<Created>;

/** A physical name as Pulumi's auto-naming makes it: the logical name and a random suffix. */
function autoName(name: string, explicit?: string): string {
    return explicit ?? `${name}-${randomBytes(4).toString("hex").slice(0, 7)}`;
}

const json = (value: unknown): string => (typeof value === "string" ? value : JSON.stringify(value));
const keyIdOf = (keyOrArn: string): string => keyOrArn.replace(/^arn:[^:]+:kms:[^:]*:\d+:key\//, "");

/** A new SQS queue that stands in for a target moto cannot deliver to. */
async function routeQueue(ctx: Context, label: string): Promise<{ url: string; arn: string }> {
    const name = `irf-route-${label}`.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 72) + `-${randomBytes(3).toString("hex")}`;
    const url = (await ctx.clients.sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl ?? "";
    const arn = (await ctx.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }))).Attributes?.QueueArn ?? "";
    return { url, arn };
}

const undeliverable = (arn: string): boolean => /^arn:[^:]+:(lambda|states):/.test(arn);

function ipPermission(i: Inputs): IpPermission {
    return {
        IpProtocol: String(i.ipProtocol ?? i.protocol ?? "-1"),
        FromPort: i.fromPort, ToPort: i.toPort,
        IpRanges: [...(i.cidrIpv4 ? [i.cidrIpv4] : []), ...(i.cidrBlocks ?? [])].map((c: string) => ({ CidrIp: c, Description: i.description })),
        Ipv6Ranges: [...(i.cidrIpv6 ? [i.cidrIpv6] : []), ...(i.ipv6CidrBlocks ?? [])].map((c: string) => ({ CidrIpv6: c, Description: i.description })),
        UserIdGroupPairs: [...(i.referencedSecurityGroupId ? [i.referencedSecurityGroupId] : []), ...(i.securityGroups ?? [])].map((g: string) => ({ GroupId: g })),
        PrefixListIds: [...(i.prefixListId ? [i.prefixListId] : []), ...(i.prefixListIds ?? [])].map((p: string) => ({ PrefixListId: p })),
    };
}

/** Attaches a managed policy; an AWS managed policy moto does not know (it loads none by default) is recorded, not attached. */
async function attachPolicy(ctx: Context, role: string, policyArn: string): Promise<void> {
    try {
        await ctx.clients.iam.send(new AttachRolePolicyCommand({ RoleName: role, PolicyArn: policyArn }));
    } catch (err) {
        if (!policyArn.startsWith("arn:aws:iam::aws:policy/") || (err as { name?: string }).name !== "NoSuchEntityException") {
            throw err;
        }
        ctx.deploy.adaptations.push(`${ctx.name}: AWS managed policy ${policyArn} is unknown to moto, not attached`);
    }
}

/** How each supported type is created in moto. */
const CREATORS: Record<string, Creator> = {
    "aws:s3/bucket:Bucket": async ({ name, inputs, placement, clients }) => {
        const bucket = autoName(name, inputs.bucket).toLowerCase();
        await clients.s3.send(new CreateBucketCommand({
            Bucket: bucket, ObjectLockEnabledForBucket: inputs.objectLockEnabled === true || undefined,
            CreateBucketConfiguration: placement.region === "us-east-1" ? undefined : { LocationConstraint: placement.region as BucketLocationConstraint },
        }));
        return {
            id: bucket,
            state: { bucket, arn: `arn:aws:s3:::${bucket}`, region: placement.region, bucketDomainName: `${bucket}.s3.amazonaws.com`, bucketRegionalDomainName: `${bucket}.s3.${placement.region}.amazonaws.com` },
        };
    },
    "aws:s3/bucketVersioning:BucketVersioning": async ({ inputs, clients }) => {
        await clients.s3.send(new PutBucketVersioningCommand({ Bucket: inputs.bucket, VersioningConfiguration: { Status: inputs.versioningConfiguration?.status } }));
        return { id: inputs.bucket, state: {} };
    },
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": async ({ inputs, clients }) => {
        await clients.s3.send(new PutBucketEncryptionCommand({
            Bucket: inputs.bucket,
            ServerSideEncryptionConfiguration: {
                Rules: (inputs.rules ?? []).map((r: Inputs) => ({
                    ApplyServerSideEncryptionByDefault: r.applyServerSideEncryptionByDefault && {
                        SSEAlgorithm: r.applyServerSideEncryptionByDefault.sseAlgorithm as ServerSideEncryption,
                        KMSMasterKeyID: r.applyServerSideEncryptionByDefault.kmsMasterKeyId,
                    },
                    BucketKeyEnabled: r.bucketKeyEnabled,
                })),
            },
        }));
        return { id: inputs.bucket, state: {} };
    },
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": async ({ inputs, clients }) => {
        const retention = inputs.rule?.defaultRetention;
        await clients.s3.send(new PutObjectLockConfigurationCommand({
            Bucket: inputs.bucket,
            ObjectLockConfiguration: {
                ObjectLockEnabled: "Enabled",
                Rule: retention ? { DefaultRetention: { Mode: retention.mode as ObjectLockRetentionMode, Days: retention.days, Years: retention.years } } : undefined,
            },
        }));
        return { id: inputs.bucket, state: {} };
    },
    "aws:s3/bucketPolicy:BucketPolicy": async ({ inputs, clients }) => {
        await clients.s3.send(new PutBucketPolicyCommand({ Bucket: inputs.bucket, Policy: json(inputs.policy) }));
        return { id: inputs.bucket, state: {} };
    },
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": async ({ inputs, clients }) => {
        await clients.s3.send(new PutPublicAccessBlockCommand({
            Bucket: inputs.bucket,
            PublicAccessBlockConfiguration: {
                BlockPublicAcls: inputs.blockPublicAcls, BlockPublicPolicy: inputs.blockPublicPolicy,
                IgnorePublicAcls: inputs.ignorePublicAcls, RestrictPublicBuckets: inputs.restrictPublicBuckets,
            },
        }));
        return { id: inputs.bucket, state: {} };
    },
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": async ({ inputs, clients }) => {
        await clients.s3.send(new PutBucketOwnershipControlsCommand({
            Bucket: inputs.bucket, OwnershipControls: { Rules: [{ ObjectOwnership: inputs.rule?.objectOwnership as ObjectOwnership }] },
        }));
        return { id: inputs.bucket, state: {} };
    },
    "aws:kms/key:Key": async ({ inputs, clients }) => {
        const key = (await clients.kms.send(new CreateKeyCommand({
            Description: inputs.description, Policy: inputs.policy === undefined ? undefined : json(inputs.policy),
            KeyUsage: inputs.keyUsage as KeyUsageType | undefined, KeySpec: (inputs.customerMasterKeySpec ?? inputs.keySpec) as KeySpec | undefined,
            MultiRegion: inputs.multiRegion,
        }))).KeyMetadata;
        if (inputs.enableKeyRotation) {
            await clients.kms.send(new EnableKeyRotationCommand({ KeyId: key?.KeyId }));
        }
        return { id: key?.KeyId ?? "", state: { keyId: key?.KeyId, arn: key?.Arn } };
    },
    "aws:kms/alias:Alias": async ({ name, inputs, placement, clients }) => {
        const alias = autoName(name, inputs.name);
        await clients.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: keyIdOf(inputs.targetKeyId) }));
        return { id: alias, state: { name: alias, arn: `arn:aws:kms:${placement.region}:${placement.account}:${alias}`, targetKeyArn: inputs.targetKeyId } };
    },
    "aws:iam/role:Role": async (ctx) => {
        const { name, inputs, clients } = ctx;
        const roleName = autoName(name, inputs.name);
        const role = (await clients.iam.send(new CreateRoleCommand({
            RoleName: roleName, Path: inputs.path, AssumeRolePolicyDocument: json(inputs.assumeRolePolicy), Description: inputs.description,
            MaxSessionDuration: inputs.maxSessionDuration, PermissionsBoundary: inputs.permissionsBoundary,
        }))).Role;
        for (const p of inputs.inlinePolicies ?? []) {
            if (p.name && p.policy) {
                await clients.iam.send(new PutRolePolicyCommand({ RoleName: roleName, PolicyName: p.name, PolicyDocument: json(p.policy) }));
            }
        }
        for (const arn of inputs.managedPolicyArns ?? []) {
            await attachPolicy(ctx, roleName, arn);
        }
        return { id: roleName, state: { name: roleName, arn: role?.Arn, uniqueId: role?.RoleId, createDate: role?.CreateDate?.toISOString() } };
    },
    "aws:iam/rolePolicy:RolePolicy": async ({ name, inputs, clients }) => {
        const policyName = autoName(name, inputs.name);
        await clients.iam.send(new PutRolePolicyCommand({ RoleName: inputs.role, PolicyName: policyName, PolicyDocument: json(inputs.policy) }));
        return { id: `${inputs.role}:${policyName}`, state: { name: policyName } };
    },
    "aws:iam/policy:Policy": async ({ name, inputs, clients }) => {
        const policy = (await clients.iam.send(new CreatePolicyCommand({
            PolicyName: autoName(name, inputs.name), Path: inputs.path, PolicyDocument: json(inputs.policy), Description: inputs.description,
        }))).Policy;
        return { id: policy?.Arn ?? "", state: { arn: policy?.Arn, name: policy?.PolicyName, policyId: policy?.PolicyId } };
    },
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": async (ctx) => {
        const { inputs } = ctx;
        await attachPolicy(ctx, inputs.role, inputs.policyArn);
        return { id: `${inputs.role}-${randomBytes(4).toString("hex")}`, state: {} };
    },
    "aws:iam/instanceProfile:InstanceProfile": async ({ name, inputs, clients }) => {
        const profileName = autoName(name, inputs.name);
        const profile = (await clients.iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: profileName, Path: inputs.path }))).InstanceProfile;
        if (inputs.role) {
            await clients.iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: profileName, RoleName: inputs.role }));
        }
        return { id: profileName, state: { name: profileName, arn: profile?.Arn, uniqueId: profile?.InstanceProfileId } };
    },
    "aws:sns/topic:Topic": async ({ name, inputs, clients }) => {
        const attributes: Record<string, string> = {};
        if (inputs.kmsMasterKeyId) {
            attributes.KmsMasterKeyId = inputs.kmsMasterKeyId;
        }
        if (inputs.policy) {
            attributes.Policy = json(inputs.policy);
        }
        const arn = (await clients.sns.send(new CreateTopicCommand({ Name: autoName(name, inputs.name), Attributes: attributes }))).TopicArn ?? "";
        return { id: arn, state: { arn, name: arn.split(":").pop() } };
    },
    "aws:sns/topicPolicy:TopicPolicy": async ({ inputs, clients }) => {
        await clients.sns.send(new SetTopicAttributesCommand({ TopicArn: inputs.arn, AttributeName: "Policy", AttributeValue: json(inputs.policy) }));
        return { id: inputs.arn, state: {} };
    },
    "aws:sns/topicSubscription:TopicSubscription": async (ctx) => {
        const { inputs, clients, placement, deploy } = ctx;
        let endpoint: string = inputs.endpoint;
        let protocol: string = inputs.protocol;
        if (protocol === "lambda") {
            const queue = await routeQueue(ctx, `sns-${String(endpoint).split(":").pop()}`);
            deploy.routes.push({ via: "sns", source: inputs.topic, targetArn: endpoint, queueUrl: queue.url, placement });
            [protocol, endpoint] = ["sqs", queue.arn];
        }
        const arn = (await clients.sns.send(new SubscribeCommand({
            TopicArn: inputs.topic, Protocol: protocol, Endpoint: endpoint, ReturnSubscriptionArn: true,
            Attributes: {
                ...(inputs.rawMessageDelivery ? { RawMessageDelivery: "true" } : {}),
                ...(inputs.filterPolicy ? { FilterPolicy: json(inputs.filterPolicy) } : {}),
            },
        }))).SubscriptionArn ?? "";
        return { id: arn, state: { arn } };
    },
    "aws:cloudwatch/eventBus:EventBus": async ({ name, inputs, clients }) => {
        const busName = autoName(name, inputs.name);
        const out = await clients.events.send(new CreateEventBusCommand({ Name: busName }));
        return { id: busName, state: { name: busName, arn: out.EventBusArn } };
    },
    "aws:cloudwatch/eventBusPolicy:EventBusPolicy": async ({ inputs, clients }) => {
        await clients.events.send(new PutPermissionCommand({ EventBusName: inputs.eventBusName, Policy: json(inputs.policy) }));
        return { id: inputs.eventBusName ?? "default", state: {} };
    },
    "aws:cloudwatch/eventRule:EventRule": async ({ name, inputs, clients }) => {
        const ruleName = autoName(name, inputs.name);
        const out = await clients.events.send(new PutRuleCommand({
            Name: ruleName, EventBusName: inputs.eventBusName, EventPattern: inputs.eventPattern === undefined ? undefined : json(inputs.eventPattern),
            ScheduleExpression: inputs.scheduleExpression, Description: inputs.description,
            State: inputs.state ?? (inputs.isEnabled === false ? "DISABLED" : "ENABLED"),
        }));
        return { id: inputs.eventBusName ? `${inputs.eventBusName}/${ruleName}` : ruleName, state: { name: ruleName, arn: out.RuleArn } };
    },
    "aws:cloudwatch/eventTarget:EventTarget": async (ctx) => {
        const { name, inputs, clients, placement, deploy } = ctx;
        const targetId = inputs.targetId ?? autoName(name).slice(-20);
        let arn: string = inputs.arn;
        let roleArn: string | undefined = inputs.roleArn;
        if (undeliverable(arn)) {
            const queue = await routeQueue(ctx, `rule-${inputs.rule}`);
            deploy.routes.push({ via: "eventbridge", source: `${inputs.eventBusName ?? "default"}/${inputs.rule}`, targetArn: arn, queueUrl: queue.url, placement });
            [arn, roleArn] = [queue.arn, undefined];
        }
        const target: Target = {
            Id: targetId, Arn: arn, RoleArn: roleArn, Input: inputs.input, InputPath: inputs.inputPath,
            InputTransformer: inputs.inputTransformer && { InputPathsMap: inputs.inputTransformer.inputPaths, InputTemplate: inputs.inputTransformer.inputTemplate },
            RetryPolicy: inputs.retryPolicy && { MaximumEventAgeInSeconds: inputs.retryPolicy.maximumEventAgeInSeconds, MaximumRetryAttempts: inputs.retryPolicy.maximumRetryAttempts },
            DeadLetterConfig: inputs.deadLetterConfig && { Arn: inputs.deadLetterConfig.arn },
        };
        const out = await clients.events.send(new PutTargetsCommand({ Rule: inputs.rule, EventBusName: inputs.eventBusName, Targets: [target] }));
        if (out.FailedEntryCount) {
            throw new Error(`PutTargets failed: ${JSON.stringify(out.FailedEntries)}`);
        }
        return { id: `${inputs.eventBusName ?? "default"}-${inputs.rule}-${targetId}`, state: { targetId } };
    },
    "aws:dynamodb/table:Table": async ({ name, inputs, clients }) => {
        const tableName = autoName(name, inputs.name);
        const key = (hash?: string, range?: string) => [
            ...(hash ? [{ AttributeName: hash, KeyType: "HASH" as const }] : []),
            ...(range ? [{ AttributeName: range, KeyType: "RANGE" as const }] : []),
        ];
        const provisioned = inputs.billingMode === "PROVISIONED";
        const throughput = (r: Inputs) => (provisioned ? { ReadCapacityUnits: r.readCapacity ?? 1, WriteCapacityUnits: r.writeCapacity ?? 1 } : undefined);
        const out = await clients.dynamodb.send(new CreateTableCommand({
            TableName: tableName, BillingMode: provisioned ? "PROVISIONED" : "PAY_PER_REQUEST",
            AttributeDefinitions: (inputs.attributes ?? []).map((a: Inputs) => ({ AttributeName: a.name, AttributeType: a.type })),
            KeySchema: key(inputs.hashKey, inputs.rangeKey),
            ProvisionedThroughput: throughput(inputs),
            GlobalSecondaryIndexes: inputs.globalSecondaryIndexes?.length ? inputs.globalSecondaryIndexes.map((g: Inputs) => ({
                IndexName: g.name, KeySchema: key(g.hashKey, g.rangeKey),
                Projection: { ProjectionType: g.projectionType, NonKeyAttributes: g.nonKeyAttributes }, ProvisionedThroughput: throughput(g),
            })) : undefined,
        }));
        if (inputs.ttl?.enabled && inputs.ttl.attributeName) {
            await clients.dynamodb.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { Enabled: true, AttributeName: inputs.ttl.attributeName } }));
        }
        return { id: tableName, state: { name: tableName, arn: out.TableDescription?.TableArn } };
    },
    "aws:sfn/stateMachine:StateMachine": async ({ name, inputs, clients }) => {
        const machineName = autoName(name, inputs.name);
        const out = await clients.sfn.send(new CreateStateMachineCommand({
            name: machineName, definition: json(inputs.definition), roleArn: inputs.roleArn, type: inputs.type as StateMachineType | undefined,
        }));
        return { id: out.stateMachineArn ?? "", state: { name: machineName, arn: out.stateMachineArn } };
    },
    "aws:sqs/queue:Queue": async ({ name, inputs, clients }) => {
        const attributes: Record<string, string> = {};
        for (const [input, attribute] of [["visibilityTimeoutSeconds", "VisibilityTimeout"], ["messageRetentionSeconds", "MessageRetentionPeriod"],
            ["kmsMasterKeyId", "KmsMasterKeyId"], ["fifoQueue", "FifoQueue"], ["policy", "Policy"]] as const) {
            if (inputs[input] !== undefined) {
                attributes[attribute] = typeof inputs[input] === "object" ? JSON.stringify(inputs[input]) : String(inputs[input]);
            }
        }
        const url = (await clients.sqs.send(new CreateQueueCommand({ QueueName: autoName(name, inputs.name), Attributes: attributes }))).QueueUrl ?? "";
        const arn = (await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }))).Attributes?.QueueArn;
        return { id: url, state: { url, arn } };
    },
    "aws:ssm/parameter:Parameter": async ({ name, inputs, placement, clients }) => {
        const parameterName = autoName(name, inputs.name);
        await clients.ssm.send(new PutParameterCommand({
            Name: parameterName, Type: (inputs.type ?? "String") as ParameterType, Value: inputs.value ?? inputs.insecureValue, Description: inputs.description,
            KeyId: inputs.keyId, Overwrite: inputs.overwrite,
        }));
        return { id: parameterName, state: { name: parameterName, arn: `arn:aws:ssm:${placement.region}:${placement.account}:parameter${parameterName.startsWith("/") ? "" : "/"}${parameterName}` } };
    },
    "aws:ssm/document:Document": async ({ name, inputs, placement, clients }) => {
        const documentName = autoName(name, inputs.name);
        await clients.ssm.send(new CreateDocumentCommand({
            Name: documentName, Content: json(inputs.content), DocumentType: (inputs.documentType ?? "Command") as DocumentType,
            DocumentFormat: (inputs.documentFormat ?? "JSON") as DocumentFormat, TargetType: inputs.targetType,
        }));
        return { id: documentName, state: { name: documentName, arn: `arn:aws:ssm:${placement.region}:${placement.account}:document/${documentName}` } };
    },
    "aws:ec2/vpc:Vpc": async ({ inputs, placement, clients }) => {
        const vpc = (await clients.ec2.send(new CreateVpcCommand({ CidrBlock: inputs.cidrBlock, AmazonProvidedIpv6CidrBlock: inputs.assignGeneratedIpv6CidrBlock }))).Vpc;
        const id = vpc?.VpcId ?? "";
        return { id, state: { arn: `arn:aws:ec2:${placement.region}:${placement.account}:vpc/${id}`, defaultSecurityGroupId: undefined } };
    },
    "aws:ec2/subnet:Subnet": async ({ inputs, clients }) => {
        const subnet = (await clients.ec2.send(new CreateSubnetCommand({
            VpcId: inputs.vpcId, CidrBlock: inputs.cidrBlock, AvailabilityZone: inputs.availabilityZone, Ipv6CidrBlock: inputs.ipv6CidrBlock,
        }))).Subnet;
        return { id: subnet?.SubnetId ?? "", state: { arn: subnet?.SubnetArn, availabilityZone: subnet?.AvailabilityZone } };
    },
    "aws:ec2/securityGroup:SecurityGroup": async ({ name, inputs, placement, clients }) => {
        const groupName = autoName(name, inputs.name);
        const id = (await clients.ec2.send(new CreateSecurityGroupCommand({ GroupName: groupName, Description: inputs.description ?? "Managed by Pulumi", VpcId: inputs.vpcId }))).GroupId ?? "";
        // As the provider does: the default allow-all egress goes, the declared rules come in.
        await clients.ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId: id, IpPermissions: [{ IpProtocol: "-1", IpRanges: [{ CidrIp: "0.0.0.0/0" }] }] }));
        if (inputs.ingress?.length) {
            await clients.ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: id, IpPermissions: inputs.ingress.map(ipPermission) }));
        }
        if (inputs.egress?.length) {
            await clients.ec2.send(new AuthorizeSecurityGroupEgressCommand({ GroupId: id, IpPermissions: inputs.egress.map(ipPermission) }));
        }
        return { id, state: { name: groupName, arn: `arn:aws:ec2:${placement.region}:${placement.account}:security-group/${id}` } };
    },
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": async ({ inputs, clients }) => {
        const out = await clients.ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: inputs.securityGroupId, IpPermissions: [ipPermission(inputs)] }));
        const id = out.SecurityGroupRules?.[0]?.SecurityGroupRuleId ?? `sgr-${randomBytes(8).toString("hex")}`;
        return { id, state: { securityGroupRuleId: id } };
    },
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": async ({ inputs, clients }) => {
        const out = await clients.ec2.send(new AuthorizeSecurityGroupEgressCommand({ GroupId: inputs.securityGroupId, IpPermissions: [ipPermission(inputs)] }));
        const id = out.SecurityGroupRules?.[0]?.SecurityGroupRuleId ?? `sgr-${randomBytes(8).toString("hex")}`;
        return { id, state: { securityGroupRuleId: id } };
    },
    "aws:ec2/routeTable:RouteTable": async ({ inputs, clients }) => {
        const table = (await clients.ec2.send(new CreateRouteTableCommand({ VpcId: inputs.vpcId }))).RouteTable;
        return { id: table?.RouteTableId ?? "", state: {} };
    },
    "aws:ec2/routeTableAssociation:RouteTableAssociation": async ({ inputs, clients }) => {
        const out = await clients.ec2.send(new AssociateRouteTableCommand({ RouteTableId: inputs.routeTableId, SubnetId: inputs.subnetId }));
        return { id: out.AssociationId ?? "", state: {} };
    },
};

/** The resource types the drill creates in moto. */
export const SUPPORTED_TYPES: readonly string[] = Object.keys(CREATORS).sort();

/** ARNs for placeholders, shaped as AWS would (the program and the callbacks' settings carry them). */
function placeholder(type: string, name: string, inputs: Inputs, { account, region }: Placement): Created {
    const physical = autoName(name, inputs.name);
    const service = type.split(":")[1].split("/")[0];
    switch (type) {
        case "aws:lambda/function:Function":
            return { id: physical, state: { name: physical, arn: `arn:aws:lambda:${region}:${account}:function:${physical}`, invokeArn: `arn:aws:apigateway:${region}:lambda:path/functions/${physical}` } };
        case "aws:cloudwatch/logGroup:LogGroup":
            return { id: physical, state: { name: physical, arn: `arn:aws:logs:${region}:${account}:log-group:${physical}` } };
        case "aws:securityhub/actionTarget:ActionTarget":
            return { id: inputs.identifier, state: { arn: `arn:aws:securityhub:${region}:${account}:action/custom/${inputs.identifier}` } };
        case "aws:cloudtrail/trail:Trail":
            return { id: physical, state: { name: physical, arn: `arn:aws:cloudtrail:${region}:${account}:trail/${physical}` } };
        default:
            return { id: `${physical}-placeholder`, state: { name: physical, arn: `arn:aws:${service}:${region}:${account}:${physical}` } };
    }
}

/** Per-deployment state the mocks read and fill. */
class Deployment {
    readonly resources: RecordedResource[] = [];
    readonly created: CreatedResource[] = [];
    readonly placeholders: { type: string; name: string }[] = [];
    readonly routes: Route[] = [];
    readonly adaptations: string[] = [];
    readonly failures: string[] = [];
    readonly invokes: RenderedStack["invokes"] = [];
    /** IAM role ARN the program runs as (the identity invokes answer with it). */
    callerRoleArn = "";
    readonly options = new Map<string, { opts: pulumi.ResourceOptions; props: Inputs }>();
    private readonly providers = new Map<string, Placement>();
    private readonly clients = new Map<string, AccountClients & { ssm: SSMClient }>();

    constructor(readonly endpoint: string, readonly home: Placement, readonly stackOutputs: Record<string, Record<string, unknown>>) {}

    clientsFor(p: Placement): AccountClients & { ssm: SSMClient } {
        const key = `${p.account}/${p.region}`;
        let c = this.clients.get(key);
        if (!c) {
            c = { ...clientsFor(this.endpoint, p.account, p.region), ssm: forAccount(new SSMClient(clientConfig(this.endpoint, p.region)), p.account) };
            this.clients.set(key, c);
        }
        return c;
    }

    /** A provider's placement: the account of the role it assumes (or the stack's), its region. */
    addProvider(id: string, inputs: Inputs): void {
        const roles = typeof inputs.assumeRoles === "string" ? JSON.parse(inputs.assumeRoles) : inputs.assumeRoles ?? (inputs.assumeRole ? [inputs.assumeRole] : []);
        const roleArn: string | undefined = roles?.[0]?.roleArn;
        const account = /^arn:[^:]+:iam::(\d{12}):/.exec(roleArn ?? "")?.[1] ?? this.home.account;
        this.providers.set(id, { account, region: inputs.region ?? this.home.region });
    }

    placementOf(provider: string | undefined): Placement {
        if (!provider) {
            return this.home;
        }
        return this.providers.get(provider.slice(provider.lastIndexOf("::") + 2)) ?? this.home;
    }

    destroy(): void {
        for (const c of this.clients.values()) {
            Object.values(c).forEach((client) => client.destroy());
        }
    }
}

function mocksFor(deploy: Deployment): pulumi.runtime.Mocks {
    return {
        async newResource(args) {
            const record = (state: Inputs) => {
                const captured = deploy.options.get(`${args.type}::${args.name}`) ?? { opts: {}, props: {} };
                deploy.resources.push({ type: args.type, name: args.name, inputs: args.inputs, provider: args.provider ?? "", state, ...captured });
            };
            if (args.type === "pulumi:pulumi:StackReference") {
                const stackName = String(args.inputs.name ?? args.name);
                const outputs = deploy.stackOutputs[stackName];
                if (!outputs) {
                    throw new Error(`StackReference ${stackName}: deploy that stack first (known: ${Object.keys(deploy.stackOutputs).join(", ") || "none"})`);
                }
                record({ outputs });
                return { id: stackName, state: { name: stackName, outputs, secretOutputNames: [] } };
            }
            if (args.type === "pulumi:providers:aws") {
                const id = `${args.name}-${randomBytes(4).toString("hex")}`;
                deploy.addProvider(id, args.inputs);
                record(args.inputs);
                return { id, state: args.inputs };
            }
            if (!args.type.startsWith("aws:")) {
                // Components and other providers: nothing in the cloud.
                record(args.inputs);
                return { id: `${args.name}-id`, state: args.inputs };
            }
            const placement = deploy.placementOf(args.provider);
            const creator = CREATORS[args.type];
            let made: Created;
            if (creator) {
                try {
                    made = await creator({ name: args.name, inputs: args.inputs, placement, clients: deploy.clientsFor(placement), deploy });
                } catch (err) {
                    const message = `${args.type} ${args.name} in ${placement.account}/${placement.region}: ${err instanceof Error ? err.message : String(err)}`;
                    deploy.failures.push(message);
                    throw new Error(message, { cause: err });
                }
                deploy.created.push({ type: args.type, name: args.name, id: made.id, placement });
            } else {
                made = placeholder(args.type, args.name, args.inputs, placement);
                deploy.placeholders.push({ type: args.type, name: args.name });
            }
            const state = { ...args.inputs, ...made.state };
            record(state);
            return { id: made.id, state };
        },
        call(args) {
            deploy.invokes.push({ token: args.token, inputs: args.inputs });
            const { account, region } = deploy.placementOf(args.provider);
            // The deployer's session is in the account the provider deploys to.
            const identity = callerInvoke(args.token, args.inputs, deploy.callerRoleArn.replace(/^(arn:[^:]+:iam::)\d{12}/, `$1${account}`));
            if (identity) {
                return identity;
            }
            switch (args.token) {
                case "aws:index/getAvailabilityZones:getAvailabilityZones": {
                    const names = ["a", "b", "c"].map((z) => `${region}${z}`);
                    return { names, zoneIds: names.map((_, i) => `${region.replace(/-/g, "").slice(0, 4)}-az${i + 1}`), id: region };
                }
                case "aws:index/getRegion:getRegion":
                    return { name: region, region, id: region };
                case "aws:index/getPartition:getPartition":
                    return { partition: "aws", dnsSuffix: "amazonaws.com", id: "aws" };
                case "aws:imagebuilder/getImageRecipes:getImageRecipes":
                    // The account holds the recipes this deployment has created there so far.
                    return imageRecipesAnswer(args.inputs, deploy.resources
                        .filter((r) => r.type === "aws:imagebuilder/imageRecipe:ImageRecipe" && deploy.placementOf(r.provider).account === account)
                        .map((r) => String(r.state.arn)), region);
                default:
                    throw new Error(`the drill's mocks cannot answer the invoke ${args.token}`);
            }
        },
    };
}

/**
 * Runs the stack's program with mocks that create its resources in moto; resolves with what was
 * registered and created, and the stack's outputs (carrying moto's ids and ARNs).
 */
export async function deployStack(options: DeployOptions): Promise<DeployedStack> {
    const values = options.configPath ? loadConfigFile(options.configPath, options.config) : loadStackConfig(options.stack, options.config);
    const accounts = values["ir-forensics:accounts"] ? JSON.parse(values["ir-forensics:accounts"]) as Record<string, string> : {};
    const role = values["ir-forensics:role"] ?? options.stack.split("-")[0];
    const home: Placement = { account: String(accounts[role] ?? "123456789012"), region: values["aws:region"] ?? "us-east-1" };
    const deploy = new Deployment(options.endpoint, home, options.stackOutputs ?? {});
    deploy.callerRoleArn = options.callerRoleArn ?? defaultDeployer(values, home.account);
    await pulumi.runtime.setMocks(mocksFor(deploy), "ir-forensics", options.stack, false, "organization");
    pulumi.runtime.setAllConfig({ ...values, ...options.secrets }, Object.keys(options.secrets ?? {}));
    try {
        const { outputs, failure } = await runProgram(deploy.options);
        if (failure || deploy.failures.length > 0) {
            const detail = deploy.failures.length > 0 ? `\n  ${deploy.failures.join("\n  ")}` : "";
            throw new Error(`deploying ${options.stack} onto moto failed: ${failure instanceof Error ? failure.message : String(failure ?? "")}${detail}`);
        }
        await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
        return {
            stack: options.stack,
            resources: [...deploy.resources], outputs: (outputs ?? {}) as Inputs, invokes: [...deploy.invokes],
            created: [...deploy.created], placeholders: [...deploy.placeholders], routes: [...deploy.routes], adaptations: [...deploy.adaptations],
        };
    } finally {
        deploy.destroy();
    }
}
