/**
 * The response's steps (triage, isolation, containment) run against moto as the Lambdas would: the
 * suspect instances live in the member account, the evidence bucket in the forensic account and the
 * case registry and topic in the security account. State is asserted through the same APIs the code
 * uses (moto: ENI groups through the ENI, profiles through the associations; research/moto.md §1).
 */
import * as assert from "assert";
import { createHash, randomBytes, randomUUID } from "crypto";
import {
    CreateAutoScalingGroupCommand, CreateLaunchConfigurationCommand, DescribeAutoScalingGroupsCommand, DescribeAutoScalingInstancesCommand,
} from "@aws-sdk/client-auto-scaling";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import {
    AllocateAddressCommand, AssignIpv6AddressesCommand, AssociateIamInstanceProfileCommand, AuthorizeSecurityGroupIngressCommand, CreateEgressOnlyInternetGatewayCommand,
    CreateNatGatewayCommand, CreateRouteCommand, CreateSecurityGroupCommand, CreateSubnetCommand, CreateVpcCommand, CreateVpcEndpointCommand,
    DescribeIamInstanceProfileAssociationsCommand, DescribeInstanceAttributeCommand, DescribeInstancesCommand, DescribeNetworkInterfacesCommand,
    DescribeRouteTablesCommand, DescribeSecurityGroupsCommand, DescribeVpcsCommand, RunInstancesCommand, TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import {
    DescribeInstanceHealthCommand, CreateLoadBalancerCommand as CreateClassicLoadBalancerCommand, RegisterInstancesWithLoadBalancerCommand,
} from "@aws-sdk/client-elastic-load-balancing";
import {
    CreateTargetGroupCommand, DescribeTargetHealthCommand, RegisterTargetsCommand,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import {
    AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, GetRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { CreateKeyCommand } from "@aws-sdk/client-kms";
import {
    CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectLockConfigurationCommand,
} from "@aws-sdk/client-s3";
import { CreateTopicCommand, SubscribeCommand } from "@aws-sdk/client-sns";
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { AccountClients, DEFAULT_REGION, clientsFor } from "../../emulator/aws/aws-clients";
import { MemberClientFactory } from "../../functions/shared/aws";
import type { EngineSettings } from "../../functions/shared/settings";
import { contain } from "../../functions/response/containment";
import { REVOCATION_POLICY, revokedInstanceIds } from "../../functions/response/revocation";
import { caseOutcome } from "../../functions/response/record";
import { isolate } from "../../functions/response/isolation";
import { getInstance } from "../../functions/response/registry";
import { GROUP_NAMES, GroupPurpose, PURPOSE_TAG } from "../../functions/response/securityGroups";
import { triage } from "../../functions/response/triage";
import { CASE_TAG, CaseState, Requested, STATUS_CONTAIN, STATUS_TAG, StepName, StepRecord } from "../../functions/shared/types";
import { FORENSIC, MEMBER, SECURITY, useMoto } from "../support/moto";

const AMI = "ami-04681a1dbd79675a5";
const AZ = `${DEFAULT_REGION}a`;
const IR_PROFILE = "ir-forensics-ir";
const CONTAINED_PROFILE = "ir-forensics-contained";
const WORKLOAD_PROFILE = "web-app";
/** Shared by the instances of the containment tests only, so its revocation policy lists only theirs. */
const BATCH_PROFILE = "batch-worker";
/** The terminated-instance test's own role (so that the others' revocation policies list only theirs). */
const ETL_PROFILE = "etl-worker";

/** Records the SDK calls made through the clients it is attached to (one per send, retries aside). */
class CallLog {
    calls: { name: string; input: any }[] = [];
    private on = false;

    attach<T extends { middlewareStack: unknown }>(client: T): T {
        (client.middlewareStack as any).add((next: any, context: any) => async (args: any) => {
            if (this.on) {
                this.calls.push({ name: context.commandName.replace(/Command$/, ""), input: args.input });
            }
            return next(args);
        }, { step: "initialize", name: "callLog", override: true });
        return client;
    }

    start(): void {
        this.calls = [];
        this.on = true;
    }

    /** Stops recording; returns the names of the calls made since start(). */
    stop(): string[] {
        this.on = false;
        return this.calls.map((c) => c.name);
    }

    /** Inputs of the recorded calls named `name`. */
    inputs(name: string): any[] {
        return this.calls.filter((c) => c.name === name).map((c) => c.input);
    }
}

function stepOf(state: CaseState, name: StepName): StepRecord {
    const steps = state.steps.filter((s) => s.step === name);
    assert.strictEqual(steps.length, 1, `expected one ${name} step, got ${steps.length}`);
    return steps[0];
}

function actionsOf(step: StepRecord, action: string) {
    return step.actions.filter((a) => a.action === action);
}

function newCase(instanceId: string, requested: Requested = "analyze"): CaseState {
    const openedAt = new Date().toISOString();
    return {
        caseId: `${MEMBER}-${DEFAULT_REGION}-${instanceId}-${openedAt.replace(/[-:]|\.\d+/g, "")}`,
        mode: requested,
        instance: { accountId: MEMBER, region: DEFAULT_REGION, instanceId },
        trigger: {
            source: "tag", requested, eventId: randomUUID(), eventTime: openedAt, rawValue: "analyze",
            identity: { arn: `arn:aws:sts::${MEMBER}:assumed-role/responder/alice` },
        },
        openedAt,
        steps: [],
        artifacts: [],
    };
}

describe("response steps against moto: triage, isolation, containment", function () {
    // The first EC2 call of a moto process loads its AMI data (about 1.5 s); runs without .mocharc have a 2 s default.
    this.timeout(60_000);
    const moto = useMoto();
    const run = randomBytes(4).toString("hex");
    const log = new CallLog();
    let member: AccountClients;
    let forensic: AccountClients;
    let security: AccountClients;
    let settings: EngineSettings;
    let queueUrl: string;
    let vpcCount = 0;

    /** Member clients pinned to the instance's account, as the responder role would give them. */
    const factory: MemberClientFactory = async (ref) => {
        assert.strictEqual(ref.accountId, MEMBER);
        return { ec2: member.ec2, autoScaling: member.autoScaling, elbv2: member.elbv2, elb: member.elb, iam: member.iam };
    };
    const triageDeps = () => ({ member: factory, s3: forensic.s3, settings });
    const isolationDeps = (overrides: Partial<EngineSettings["member"]> = {}, member = factory) => ({
        member, sns: security.sns, settings: { ...settings, member: { ...settings.member, ...overrides } },
    });
    const containmentDeps = (member = factory) => ({ member, dynamodb: security.dynamodb, sns: security.sns, settings, revocationSettleMs: 100 });

    /**
     * Member clients whose `held` calls wait until `count` calls matching `released` have answered:
     * makes concurrent cases all read before any of them writes, so the race is not left to timing.
     */
    function racingFactory(held: (name: string, input: any) => boolean, released: (name: string, input: any) => boolean, count: number): MemberClientFactory {
        const clients = clientsFor(moto().endpoint, MEMBER);
        let answered = 0;
        const waiting: (() => void)[] = [];
        for (const client of [clients.ec2, clients.iam]) {
            log.attach(client);
            (client.middlewareStack as any).add((next: any, context: any) => async (args: any) => {
                const name = context.commandName.replace(/Command$/, "");
                if (held(name, args.input) && answered < count) {
                    await new Promise<void>((resolve) => waiting.push(resolve));
                }
                const out = await next(args);
                if (released(name, args.input) && ++answered >= count) {
                    waiting.splice(0).forEach((resolve) => resolve());
                }
                return out;
            }, { step: "initialize", name: "race" });
        }
        return async () => ({ ec2: clients.ec2, autoScaling: clients.autoScaling, elbv2: clients.elbv2, elb: clients.elb, iam: clients.iam });
    }

    async function role(name: string, path: string, profile: string): Promise<void> {
        const trust = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }] });
        await member.iam.send(new CreateRoleCommand({ RoleName: name, Path: path, AssumeRolePolicyDocument: trust }));
        await member.iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: profile, Path: path }));
        await member.iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: profile, RoleName: name }));
    }

    before("evidence store (forensic), registry and topic (security), profiles (member)", async function () {
        await moto().reset();
        member = clientsFor(moto().endpoint, MEMBER);
        forensic = clientsFor(moto().endpoint, FORENSIC);
        security = clientsFor(moto().endpoint, SECURITY);
        for (const client of [member.ec2, member.autoScaling, member.elbv2, member.elb, member.iam, forensic.s3]) {
            log.attach(client);
        }

        const key = await forensic.kms.send(new CreateKeyCommand({ Description: `evidence ${run}` }));
        const bucket = `irf-evidence-${run}`;
        await forensic.s3.send(new CreateBucketCommand({
            Bucket: bucket, ObjectLockEnabledForBucket: true, CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION },
        }));
        await forensic.s3.send(new PutObjectLockConfigurationCommand({
            Bucket: bucket,
            ObjectLockConfiguration: { ObjectLockEnabled: "Enabled", Rule: { DefaultRetention: { Mode: "GOVERNANCE", Days: 1 } } },
        }));

        const table = `irf-cases-${run}`;
        await security.dynamodb.send(new CreateTableCommand({
            TableName: table, BillingMode: "PAY_PER_REQUEST",
            AttributeDefinitions: [{ AttributeName: "instanceKey", AttributeType: "S" }],
            KeySchema: [{ AttributeName: "instanceKey", KeyType: "HASH" }],
        }));
        const topic = await security.sns.send(new CreateTopicCommand({ Name: `irf-${run}` }));
        queueUrl = (await security.sqs.send(new CreateQueueCommand({ QueueName: `irf-${run}` }))).QueueUrl ?? "";
        const queueArn = (await security.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }))).Attributes?.QueueArn;
        await security.sns.send(new SubscribeCommand({ TopicArn: topic.TopicArn, Protocol: "sqs", Endpoint: queueArn }));

        await role("ir-forensics-ir", "/ir-forensics/", IR_PROFILE);
        await role("ir-forensics-contained", "/ir-forensics/", CONTAINED_PROFILE);
        await role("web-app", "/", WORKLOAD_PROFILE);
        await role("batch-worker", "/workloads/", BATCH_PROFILE);
        await role("etl-worker", "/workloads/", ETL_PROFILE);

        settings = {
            partition: "aws",
            evidenceBucket: bucket,
            evidenceKeyArn: key.KeyMetadata?.Arn ?? "",
            casesTable: table,
            topicArn: topic.TopicArn ?? "",
            stateMachineArn: `arn:aws:states:${DEFAULT_REGION}:${SECURITY}:stateMachine:irf-incident`,
            member: {
                responderRolePath: "/ir-forensics/",
                responderRoleName: "ir-forensics-responder",
                irProfileName: IR_PROFILE,
                containedProfileName: CONTAINED_PROFILE,
                protectedRolePathPrefix: "/ir-forensics/",
            },
            isolation: { enabled: true, fallbackHttpsEgress: "0.0.0.0/0" },
        };
    });

    after(function () {
        for (const clients of [member, forensic, security]) {
            for (const client of Object.values(clients ?? {})) {
                client.destroy();
            }
        }
    });

    /** Notifications published since the last call: kind and case id of each. */
    async function notifications(): Promise<{ kind: string; caseId?: string }[]> {
        const seen: { kind: string; caseId?: string }[] = [];
        for (;;) {
            const out = await security.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
            if (!out.Messages?.length) {
                return seen;
            }
            for (const m of out.Messages) {
                const body = JSON.parse(m.Body ?? "{}");
                seen.push({ kind: body.MessageAttributes?.kind?.Value, caseId: body.MessageAttributes?.caseId?.Value });
            }
        }
    }

    interface Network {
        vpcId: string;
        subnetId: string;
        workloadGroups: string[];
        mainRouteTableId: string;
        ipv6: boolean;
    }

    /** A VPC (optionally dual-stack) with one subnet and two workload security groups. */
    async function network(ipv6: boolean): Promise<Network> {
        const n = ++vpcCount;
        const vpc = await member.ec2.send(new CreateVpcCommand({ CidrBlock: `10.${n}.0.0/16`, AmazonProvidedIpv6CidrBlock: ipv6 }));
        const vpcId = vpc.Vpc?.VpcId ?? "";
        const described = await member.ec2.send(new DescribeVpcsCommand({ VpcIds: [vpcId] }));
        const v6 = described.Vpcs?.[0]?.Ipv6CidrBlockAssociationSet?.[0]?.Ipv6CidrBlock;
        assert.ok(!ipv6 || v6, "the VPC has no IPv6 block");
        const subnet = await member.ec2.send(new CreateSubnetCommand({
            VpcId: vpcId, CidrBlock: `10.${n}.1.0/24`, AvailabilityZone: AZ,
            ...(v6 ? { Ipv6CidrBlock: v6.replace(/::\/\d+$/, "::/64") } : {}),
        }));
        const workloadGroups: string[] = [];
        for (const name of ["web", "admin"]) {
            const sg = await member.ec2.send(new CreateSecurityGroupCommand({ GroupName: `${name}-${n}`, Description: name, VpcId: vpcId }));
            await member.ec2.send(new AuthorizeSecurityGroupIngressCommand({
                GroupId: sg.GroupId, IpPermissions: [{ IpProtocol: "tcp", FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: "0.0.0.0/0" }] }],
            }));
            workloadGroups.push(sg.GroupId ?? "");
        }
        const tables = await member.ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: "vpc-id", Values: [vpcId] }] }));
        const mainRouteTableId = tables.RouteTables?.find((t) => t.Associations?.some((a) => a.Main))?.RouteTableId ?? "";
        return { vpcId, subnetId: subnet.Subnet?.SubnetId ?? "", workloadGroups, mainRouteTableId, ipv6 };
    }

    /** Launches an instance with a workload profile and `enis` network interfaces in the subnet. */
    async function instance(net: Network, enis = 1, profile = WORKLOAD_PROFILE): Promise<string> {
        const out = await member.ec2.send(new RunInstancesCommand({
            ImageId: AMI, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1,
            NetworkInterfaces: Array.from({ length: enis }, (_, i) => ({
                DeviceIndex: i, SubnetId: net.subnetId, Groups: [net.workloadGroups[i % net.workloadGroups.length]],
            })),
            TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: STATUS_TAG, Value: "analyze" }, { Key: "run", Value: run }] }],
        }));
        const id = out.Instances?.[0]?.InstanceId ?? "";
        if (net.ipv6) {
            // moto ignores a per-interface Ipv6AddressCount at launch; assigning afterwards works on both.
            await Promise.all([...(await eniGroups(id)).keys()].map((eni) =>
                member.ec2.send(new AssignIpv6AddressesCommand({ NetworkInterfaceId: eni, Ipv6AddressCount: 1 }))));
        }
        await member.ec2.send(new AssociateIamInstanceProfileCommand({ InstanceId: id, IamInstanceProfile: { Name: profile } }));
        return id;
    }

    /** Each ENI of the instance and its groups, read from the ENIs (what ModifyNetworkInterfaceAttribute changes). */
    async function eniGroups(instanceId: string): Promise<Map<string, string[]>> {
        const out = await member.ec2.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: "attachment.instance-id", Values: [instanceId] }] }));
        return new Map((out.NetworkInterfaces ?? []).map((e) => [e.NetworkInterfaceId ?? "", (e.Groups ?? []).map((g) => g.GroupId ?? "")]));
    }

    async function engineGroups(vpcId: string, purpose: GroupPurpose) {
        const out = await member.ec2.send(new DescribeSecurityGroupsCommand({
            Filters: [{ Name: "vpc-id", Values: [vpcId] }, { Name: "group-name", Values: [GROUP_NAMES[purpose]] }],
        }));
        return out.SecurityGroups ?? [];
    }

    async function engineGroup(vpcId: string, purpose: GroupPurpose) {
        const groups = await engineGroups(vpcId, purpose);
        assert.strictEqual(groups.length, 1, `${GROUP_NAMES[purpose]} in ${vpcId}: ${groups.length} groups`);
        return groups[0];
    }

    async function profileOf(instanceId: string): Promise<string | undefined> {
        const out = await member.ec2.send(new DescribeIamInstanceProfileAssociationsCommand({ Filters: [{ Name: "instance-id", Values: [instanceId] }] }));
        return out.IamInstanceProfileAssociations?.find((a) => a.State !== "disassociated")?.IamInstanceProfile?.Arn?.split("/").pop();
    }

    async function attribute(instanceId: string, name: "disableApiTermination" | "disableApiStop" | "instanceInitiatedShutdownBehavior") {
        const out = await member.ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute: name }));
        return out.DisableApiTermination?.Value ?? out.DisableApiStop?.Value ?? out.InstanceInitiatedShutdownBehavior?.Value;
    }

    async function assertProtected(instanceId: string): Promise<void> {
        assert.strictEqual(await attribute(instanceId, "disableApiTermination"), true);
        assert.strictEqual(await attribute(instanceId, "disableApiStop"), true);
        assert.strictEqual(await attribute(instanceId, "instanceInitiatedShutdownBehavior"), "stop");
        const out = await member.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
        const mappings = out.Reservations?.[0]?.Instances?.[0]?.BlockDeviceMappings ?? [];
        assert.ok(mappings.length > 0, "the instance has no block devices");
        for (const m of mappings) {
            assert.strictEqual(m.Ebs?.DeleteOnTermination, false, `${m.DeviceName} still deleted on termination`);
        }
    }

    it("triage stores the metadata as locked, hashed evidence; isolation moves BOTH ENIs of a dual-stack instance to the acquisition group", async function () {
        const net = await network(true);
        // What acquisition needs in this VPC: S3 through a gateway endpoint, SSM through an interface endpoint.
        await member.ec2.send(new CreateVpcEndpointCommand({
            VpcId: net.vpcId, ServiceName: `com.amazonaws.${DEFAULT_REGION}.s3`, VpcEndpointType: "Gateway", RouteTableIds: [net.mainRouteTableId],
        }));
        const endpointGroup = await member.ec2.send(new CreateSecurityGroupCommand({ GroupName: "endpoints", Description: "endpoints", VpcId: net.vpcId }));
        // Run Command's two endpoints: with them (and the S3 gateway for the region's buckets) nothing needs the internet.
        for (const service of ["ssm", "ec2messages"]) {
            await member.ec2.send(new CreateVpcEndpointCommand({
                VpcId: net.vpcId, ServiceName: `com.amazonaws.${DEFAULT_REGION}.${service}`, VpcEndpointType: "Interface",
                SubnetIds: [net.subnetId], SecurityGroupIds: [endpointGroup.GroupId ?? ""],
            }));
        }
        // Paths whose flows stay tracked: a NAT gateway (IPv4) and an egress-only gateway (IPv6).
        const eip = await member.ec2.send(new AllocateAddressCommand({ Domain: "vpc" }));
        const nat = await member.ec2.send(new CreateNatGatewayCommand({ SubnetId: net.subnetId, AllocationId: eip.AllocationId }));
        await member.ec2.send(new CreateRouteCommand({ RouteTableId: net.mainRouteTableId, DestinationCidrBlock: "0.0.0.0/0", NatGatewayId: nat.NatGateway?.NatGatewayId }));
        const eigw = await member.ec2.send(new CreateEgressOnlyInternetGatewayCommand({ VpcId: net.vpcId }));
        await member.ec2.send(new CreateRouteCommand({
            RouteTableId: net.mainRouteTableId, DestinationIpv6CidrBlock: "::/0", EgressOnlyInternetGatewayId: eigw.EgressOnlyInternetGateway?.EgressOnlyInternetGatewayId,
        }));
        const id = await instance(net, 2);
        const before = await eniGroups(id);
        assert.strictEqual(before.size, 2, "the instance should have two ENIs");
        await notifications();

        log.start();
        const started = Date.now();
        const triaged = await triage(newCase(id), triageDeps());
        const isolated = await isolate(triaged, isolationDeps());
        const elapsed = Date.now() - started;
        const calls = log.stop();
        const toCut = calls.lastIndexOf("ModifyNetworkInterfaceAttribute") + 1;
        console.log(`      triage+isolate, 2 ENIs, first case in the VPC: ${calls.length} AWS calls (${toCut} up to the network cut), ${elapsed} ms: ${calls.join(" ")}`);

        // Triage: facts, and one evidence object whose bytes and hash are what S3 holds.
        const t = stepOf(triaged, "triage");
        assert.strictEqual(t.status, "succeeded", JSON.stringify(t, null, 1));
        assert.strictEqual(triaged.facts?.networkInterfaces.length, 2);
        assert.deepStrictEqual(triaged.facts?.networkInterfaces.map((e) => e.groupIds), net.workloadGroups.map((g) => [g]));
        assert.ok(triaged.facts?.networkInterfaces.every((e) => e.ipv6Addresses.length === 1), "each ENI has an IPv6 address");
        assert.strictEqual(triaged.facts?.profileAssociation?.profileArn.split("/").pop(), WORKLOAD_PROFILE);
        assert.strictEqual(triaged.artifacts.length, 1);
        const artifact = triaged.artifacts[0];
        assert.strictEqual(artifact.key, `cases/${triaged.caseId}/triage/instance-metadata.json`);
        assert.strictEqual(artifact.kind, "metadata");
        assert.strictEqual(artifact.producedBy, "triage");
        const object = await forensic.s3.send(new GetObjectCommand({ Bucket: settings.evidenceBucket, Key: artifact.key, VersionId: artifact.versionId, ChecksumMode: "ENABLED" }));
        const bytes = Buffer.from(await object.Body!.transformToByteArray());
        assert.strictEqual(bytes.length, artifact.bytes);
        assert.strictEqual(createHash("sha256").update(bytes).digest("hex"), artifact.sha256);
        assert.strictEqual(object.ChecksumSHA256, artifact.s3Checksum);
        assert.strictEqual(Buffer.from(artifact.s3Checksum ?? "", "base64").toString("hex"), artifact.sha256);
        const head = await forensic.s3.send(new HeadObjectCommand({ Bucket: settings.evidenceBucket, Key: artifact.key }));
        assert.strictEqual(head.ServerSideEncryption, "aws:kms");
        assert.strictEqual(head.SSEKMSKeyId, settings.evidenceKeyArn);
        assert.strictEqual(head.ObjectLockMode, "GOVERNANCE");
        const evidence = JSON.parse(bytes.toString("utf8"));
        assert.strictEqual(evidence.instance.InstanceId, id);
        assert.strictEqual(evidence.instance.NetworkInterfaces.length, 2);
        assert.deepStrictEqual(evidence.securityGroups.map((g: any) => g.GroupId).sort(), [...net.workloadGroups].sort());
        assert.ok(evidence.securityGroups.every((g: any) => g.IpPermissions[0].FromPort === 22), "the rules at incident time are recorded");
        assert.ok(evidence.volumes.length > 0);
        assert.ok(evidence.iamInstanceProfileAssociations.length > 0);
        assert.ok(evidence.consoleOutput.output.length > 0, "console output decoded");
        assert.strictEqual(evidence.trigger.identity.arn, triaged.trigger.identity?.arn);
        assert.ok(evidence.collectedAt);

        // Isolation: both ENIs (not only the primary) in the acquisition group, through allow-all.
        const i = stepOf(isolated, "isolation");
        assert.strictEqual(i.status, "succeeded", JSON.stringify(i, null, 1));
        const allowAll = await engineGroup(net.vpcId, "allow-all");
        const acquisition = await engineGroup(net.vpcId, "acquisition-isolation");
        const after = await eniGroups(id);
        for (const [eni, groups] of after) {
            assert.deepStrictEqual(groups, [acquisition.GroupId], `${eni} is in ${groups.join(",")}`);
        }
        const moves = actionsOf(i, "isolate-eni");
        assert.strictEqual(moves.length, 2);
        for (const m of moves) {
            assert.strictEqual(m.outcome, "ok");
            assert.strictEqual(m.detail?.via, allowAll.GroupId);
            assert.deepStrictEqual(m.detail?.previousGroups, before.get(m.target ?? ""));
        }
        assert.deepStrictEqual(i.detail?.previousGroups, Object.fromEntries(before));
        // What was sent: per ENI, allow-all first, then the acquisition group; and before anything else changed.
        for (const eni of before.keys()) {
            const sent = log.inputs("ModifyNetworkInterfaceAttribute").filter((x) => x.NetworkInterfaceId === eni).map((x) => x.Groups);
            assert.deepStrictEqual(sent, [[allowAll.GroupId], [acquisition.GroupId]]);
        }
        const firstChange = calls.findIndex((c) => /^(ModifyInstanceAttribute|Replace|Associate|Detach|Deregister|SetInstanceProtection)/.test(c));
        assert.ok(firstChange === -1 || firstChange > calls.lastIndexOf("ModifyNetworkInterfaceAttribute"), `something changed before the network cut: ${calls.join(" ")}`);

        // allow-all covers IPv6 both ways, else IPv6 flows would stay tracked.
        for (const rules of [allowAll.IpPermissions, allowAll.IpPermissionsEgress]) {
            const all = (rules ?? []).filter((r) => r.IpProtocol === "-1");
            assert.ok(all.some((r) => r.IpRanges?.some((x) => x.CidrIp === "0.0.0.0/0")), "allow-all lacks 0.0.0.0/0");
            assert.ok(all.some((r) => r.Ipv6Ranges?.some((x) => x.CidrIpv6 === "::/0")), "allow-all lacks ::/0");
        }
        assert.strictEqual(allowAll.Tags?.find((x) => x.Key === PURPOSE_TAG)?.Value, "allow-all");
        // The acquisition group: no ingress, no default egress (v4 or v6), 443 to the endpoints only.
        assert.deepStrictEqual(acquisition.IpPermissions, []);
        const egress = acquisition.IpPermissionsEgress ?? [];
        assert.ok(egress.every((r) => r.IpProtocol === "tcp" && r.FromPort === 443 && r.ToPort === 443), JSON.stringify(egress));
        assert.ok(!egress.some((r) => r.Ipv6Ranges?.length), "IPv6 egress left in the acquisition group");
        assert.ok(!egress.some((r) => r.IpRanges?.length), "no 0.0.0.0/0 fallback when endpoints carry every service acquisition needs");
        assert.ok(egress.some((r) => r.PrefixListIds?.some((p) => p.PrefixListId?.startsWith("pl-"))), "no 443 to the S3 prefix list");
        assert.ok(egress.some((r) => r.UserIdGroupPairs?.some((p) => p.GroupId === endpointGroup.GroupId)), "no 443 to the interface endpoint's group");
        assert.strictEqual(acquisition.Tags?.find((x) => x.Key === PURPOSE_TAG)?.Value, "acquisition-isolation");
        assert.strictEqual(acquisition.Tags?.find((x) => x.Key === "Name")?.Value, GROUP_NAMES["acquisition-isolation"]);

        // The rest: protections, IR profile, and the paths whose flows the swap cannot cut.
        await assertProtected(id);
        assert.strictEqual(await profileOf(id), IR_PROFILE);
        assert.strictEqual((i.detail?.previousProfile as any)?.profileArn.split("/").pop(), WORKLOAD_PROFILE);
        const kinds = (i.detail?.trackedPaths as any[]).map((p) => p.kind);
        for (const kind of ["nat-gateway", "egress-only-internet-gateway", "interface-endpoint"]) {
            assert.ok(kinds.includes(kind), `${kind} missing from ${kinds.join(", ")}`);
        }
        assert.match(String(i.detail?.trackedFlowsWarning), /tracked/);
        assert.deepStrictEqual((await notifications()).map((n) => n.kind), ["isolated"]);
    });

    it("an Auto Scaling member gets scale-in protection, then leaves its group, which keeps its desired capacity", async function () {
        const net = await network(false);
        const name = `irf-asg-${run}`;
        await member.autoScaling.send(new CreateLaunchConfigurationCommand({
            LaunchConfigurationName: name, ImageId: AMI, InstanceType: "t3.micro", SecurityGroups: [net.workloadGroups[0]],
        }));
        await member.autoScaling.send(new CreateAutoScalingGroupCommand({
            AutoScalingGroupName: name, LaunchConfigurationName: name, MinSize: 1, MaxSize: 2, DesiredCapacity: 1, VPCZoneIdentifier: net.subnetId,
        }));
        const group = async () => (await member.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }))).AutoScalingGroups?.[0];
        const id = (await group())?.Instances?.[0]?.InstanceId ?? "";
        assert.ok(id, "the group launched no instance");

        log.start();
        const state = await isolate(await triage(newCase(id), triageDeps()), isolationDeps());
        const calls = log.stop();

        const step = stepOf(state, "isolation");
        assert.strictEqual(step.status, "succeeded", JSON.stringify(step, null, 1));
        assert.strictEqual(step.detail?.autoScalingGroup, name);
        assert.strictEqual(actionsOf(step, "autoscaling:SetInstanceProtection")[0]?.outcome, "ok");
        assert.strictEqual(actionsOf(step, "autoscaling:DetachInstances")[0]?.detail?.shouldDecrementDesiredCapacity, false);
        assert.ok(calls.indexOf("SetInstanceProtection") >= 0 && calls.indexOf("SetInstanceProtection") < calls.indexOf("DetachInstances"),
            `scale-in protection must come before the detach: ${calls.join(" ")}`);
        const after = await group();
        assert.strictEqual(after?.DesiredCapacity, 1);
        assert.ok(!after?.Instances?.some((i) => i.InstanceId === id), "the suspect is still in the group");
        assert.strictEqual(after?.Instances?.length, 1, "the group launched no replacement");
        const membership = await member.autoScaling.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [id] }));
        assert.deepStrictEqual(membership.AutoScalingInstances ?? [], []);
        await assertProtected(id);
        // It had no profile: the IR profile is associated rather than swapped in.
        assert.strictEqual(actionsOf(step, "ec2:AssociateIamInstanceProfile")[0]?.outcome, "ok");
        assert.strictEqual(await profileOf(id), IR_PROFILE);
        // No interface endpoints in this VPC: the configured fallback, 443 to anywhere (IPv4) and nothing else.
        const acquisition = await engineGroup(net.vpcId, "acquisition-isolation");
        assert.deepStrictEqual(acquisition.IpPermissionsEgress?.map((r) => [r.IpProtocol, r.FromPort, r.ToPort, r.IpRanges?.map((x) => x.CidrIp)]),
            [["tcp", 443, 443, ["0.0.0.0/0"]]]);
    });

    it("a load-balanced instance leaves every target group (by instance id and by IP) and classic load balancer; NLB flows are reported as tracked", async function () {
        const net = await network(false);
        const id = await instance(net);
        const bystander = await instance(net);
        const described = await member.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
        const ip = described.Reservations?.[0]?.Instances?.[0]?.PrivateIpAddress ?? "";
        const byId = await member.elbv2.send(new CreateTargetGroupCommand({ Name: `irf-tcp-${run}`, Protocol: "TCP", Port: 22, VpcId: net.vpcId, TargetType: "instance" }));
        const byIp = await member.elbv2.send(new CreateTargetGroupCommand({ Name: `irf-ip-${run}`, Protocol: "HTTP", Port: 80, VpcId: net.vpcId, TargetType: "ip" }));
        const byIdArn = byId.TargetGroups?.[0]?.TargetGroupArn ?? "";
        const byIpArn = byIp.TargetGroups?.[0]?.TargetGroupArn ?? "";
        await member.elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: byIdArn, Targets: [{ Id: id, Port: 22 }, { Id: bystander, Port: 22 }] }));
        await member.elbv2.send(new RegisterTargetsCommand({ TargetGroupArn: byIpArn, Targets: [{ Id: ip, Port: 80 }] }));
        const classic = `irf-clb-${run}`;
        await member.elb.send(new CreateClassicLoadBalancerCommand({
            LoadBalancerName: classic, Subnets: [net.subnetId], Listeners: [{ Protocol: "TCP", LoadBalancerPort: 22, InstancePort: 22 }],
        }));
        await member.elb.send(new RegisterInstancesWithLoadBalancerCommand({ LoadBalancerName: classic, Instances: [{ InstanceId: id }, { InstanceId: bystander }] }));

        const state = await isolate(await triage(newCase(id), triageDeps()), isolationDeps());

        const step = stepOf(state, "isolation");
        assert.strictEqual(step.status, "succeeded", JSON.stringify(step, null, 1));
        const registered = async (arn: string) => ((await member.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }))).TargetHealthDescriptions ?? [])
            .filter((d) => d.TargetHealth?.State !== "draining").map((d) => d.Target?.Id);
        assert.deepStrictEqual(await registered(byIdArn), [bystander]);
        assert.deepStrictEqual(await registered(byIpArn), []);
        assert.deepStrictEqual([...(step.detail?.targetGroups as string[])].sort(), [byIdArn, byIpArn].sort());
        const health = await member.elb.send(new DescribeInstanceHealthCommand({ LoadBalancerName: classic }));
        assert.deepStrictEqual(health.InstanceStates?.map((s) => s.InstanceId), [bystander]);
        assert.deepStrictEqual(step.detail?.classicLoadBalancers, [classic]);
        const nlb = (step.detail?.trackedPaths as any[]).filter((p) => p.kind === "nlb-target-group").map((p) => p.id);
        assert.deepStrictEqual(nlb, [byIdArn], "the TCP target group's flows stay tracked");
    });

    it("a missing instance: triage fails without facts, isolation fails, containment records the failure without throwing", async function () {
        await notifications();
        const triaged = await triage(newCase("i-0123456789abcdef0"), triageDeps());
        const t = stepOf(triaged, "triage");
        assert.strictEqual(t.status, "failed");
        assert.strictEqual(t.error, "instance not found");
        assert.strictEqual(triaged.facts, undefined);
        assert.deepStrictEqual(triaged.artifacts, []);

        // Isolation describes the instance itself (it runs first): not found fails it, nothing is cut.
        const isolated = await isolate(triaged, isolationDeps());
        assert.strictEqual(stepOf(isolated, "isolation").status, "failed");
        assert.strictEqual(stepOf(isolated, "isolation").error, "instance not found");

        const lastError = { Error: "States.TaskFailed", Cause: "an earlier step threw" };
        const contained = await contain({ ...isolated, lastError }, containmentDeps());
        const c = stepOf(contained, "containment");
        assert.strictEqual(c.status, "failed");
        assert.strictEqual(c.error, "instance not found");
        assert.deepStrictEqual(c.detail?.lastError, lastError);
        assert.strictEqual(await getInstance(security.dynamodb, settings.casesTable, contained.instance), undefined, "a missing instance is not registered as contained");
        assert.deepStrictEqual((await notifications()).map((n) => n.kind), ["failed"]);
    });

    it("an instance terminated mid-case: containment denies its credentials, records it missing, and the case does not claim containment", async function () {
        const net = await network(false);
        const id = await instance(net, 1, ETL_PROFILE);
        const triaged = await triage(newCase(id), triageDeps());
        await member.ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
        await notifications();
        const contained = await contain(triaged, containmentDeps());
        const c = stepOf(contained, "containment");
        assert.strictEqual(c.status, "failed");
        assert.match(c.error ?? "", /instance terminated: nothing to contain/);
        assert.strictEqual(c.detail?.instanceMissing, true);
        const policy = await member.iam.send(new GetRolePolicyCommand({ RoleName: "etl-worker", PolicyName: REVOCATION_POLICY }));
        assert.deepStrictEqual(revokedInstanceIds(policy.PolicyDocument), [triaged.instance.instanceId], "the role's credentials are denied for it");
        assert.strictEqual(caseOutcome(contained), "instance-missing");
        assert.deepStrictEqual((await notifications()).map((n) => n.kind), ["failed"]);
    });

    let alone: { input: CaseState; output: CaseState; net: Network; bystander: string } | undefined;

    it("containment alone (a human tagged Contain, no triage): contained group on every ENI, deny-all profile, this instance's credentials denied, tagged, registered", async function () {
        const net = await network(true);
        const id = await instance(net, 2, BATCH_PROFILE);
        const bystander = await instance(net, 1, BATCH_PROFILE);
        const bystanderGroups = await eniGroups(bystander);
        await notifications();
        const input = newCase(id, "contain");
        const output = await contain(input, containmentDeps());
        alone = { input, output, net, bystander };

        const c = stepOf(output, "containment");
        assert.strictEqual(c.status, "succeeded", JSON.stringify(c, null, 1));
        const contained = await engineGroup(net.vpcId, "contained");
        assert.deepStrictEqual([contained.IpPermissions, contained.IpPermissionsEgress], [[], []], "the contained group must have no rules, IPv6 default egress included");
        assert.strictEqual(contained.Tags?.find((x) => x.Key === PURPOSE_TAG)?.Value, "contained");
        for (const [eni, groups] of await eniGroups(id)) {
            assert.deepStrictEqual(groups, [contained.GroupId], `${eni} is in ${groups.join(",")}`);
        }
        assert.ok(actionsOf(c, "isolate-eni").every((a) => a.detail?.via), "moved through the allow-all group");
        assert.deepStrictEqual(await eniGroups(bystander), bystanderGroups, "the bystander was touched");
        assert.strictEqual(await profileOf(id), CONTAINED_PROFILE);
        await assertProtected(id);

        // Credentials: denied to this instance on its original role (shared with the bystander) and the IR role.
        const policy = await member.iam.send(new GetRolePolicyCommand({ RoleName: "batch-worker", PolicyName: REVOCATION_POLICY }));
        assert.deepStrictEqual(revokedInstanceIds(policy.PolicyDocument), [input.instance.instanceId]);
        const document = JSON.parse(policy.PolicyDocument!.startsWith("{") ? policy.PolicyDocument! : decodeURIComponent(policy.PolicyDocument!));
        assert.deepStrictEqual(document.Statement.map((s: any) => [s.Effect, s.Action, s.Resource]), [["Deny", "*", "*"]]);
        const ir = await member.iam.send(new GetRolePolicyCommand({ RoleName: "ir-forensics-ir", PolicyName: REVOCATION_POLICY }));
        assert.ok(revokedInstanceIds(ir.PolicyDocument).includes(input.instance.instanceId));
        await assert.rejects(member.iam.send(new GetRolePolicyCommand({ RoleName: "ir-forensics-contained", PolicyName: REVOCATION_POLICY })),
            /NoSuchEntity/, "the project's own (protected) roles are never touched");
        assert.strictEqual((c.detail?.originalProfile as any)?.profileArn.split("/").pop(), BATCH_PROFILE);

        const tags = (await member.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]?.Tags ?? [];
        assert.strictEqual(tags.find((t) => t.Key === STATUS_TAG)?.Value, STATUS_CONTAIN);
        assert.strictEqual(tags.find((t) => t.Key === CASE_TAG)?.Value, input.caseId);
        const registered = await getInstance(security.dynamodb, settings.casesTable, input.instance);
        assert.strictEqual(registered?.status, "contained");
        assert.deepStrictEqual((await notifications()).map((n) => [n.kind, n.caseId]), [["contained", input.caseId]]);
    });

    it("containing it again (a retry of the same step) changes nothing: every action is a no-op", async function () {
        assert.ok(alone, "needs the previous test");
        const again = await contain(alone.input, containmentDeps());
        const c = stepOf(again, "containment");
        assert.strictEqual(c.status, "succeeded", JSON.stringify(c, null, 1));
        // A notification is not a change to the instance.
        const changes = c.actions.filter((a) => a.outcome !== "noop" && a.action !== "sns:Publish");
        assert.deepStrictEqual(changes, []);
        assert.ok(actionsOf(c, "isolate-eni").length === 2);
        const contained = await engineGroup(alone.net.vpcId, "contained");
        for (const groups of (await eniGroups(alone.input.instance.instanceId)).values()) {
            assert.deepStrictEqual(groups, [contained.GroupId]);
        }
    });

    it("two containments at once of instances sharing a role: the case table's lease batches or serialises their writes, both end up in its revocation policy", async function () {
        assert.ok(alone, "needs the containment test");
        const net = await network(false);
        const ids = await Promise.all([instance(net, 1, BATCH_PROFILE), instance(net, 1, BATCH_PROFILE)]);
        const revocationCall = (c: { name: string; input: any }) => /^(Get|Put)RolePolicy$/.test(c.name) && c.input.RoleName === "batch-worker" && c.input.PolicyName === REVOCATION_POLICY;
        log.start();
        const states = await Promise.all(ids.map((id) => contain(newCase(id, "contain"), containmentDeps())));
        log.stop();
        // Whoever holds the lease writes every instance queued by then: one write with both, or two in turn.
        // Each write reads the policy first and keeps what the one before it wrote (none lost), and adds an
        // instance no earlier write had (none repeated).
        const calls = log.calls.filter(revocationCall);
        const order = calls.map((c) => c.name.slice(0, 3));
        assert.deepStrictEqual(order.slice(0, 2), ["Get", "Put"], order.join(" "));
        const writes = calls.filter((c) => c.name === "PutRolePolicy").map((c) => revokedInstanceIds(c.input.PolicyDocument));
        assert.ok(writes.length === 1 || writes.length === 2, order.join(" "));
        const revokedBefore = [alone.input.instance.instanceId];
        writes.forEach((ids, i) => {
            const before = i === 0 ? revokedBefore : writes[i - 1];
            assert.ok(before.every((id) => ids.includes(id)), `write ${i + 1} keeps what was there: ${ids.join(" ")}`);
            assert.ok(ids.length > before.length, `write ${i + 1} adds an instance: ${ids.join(" ")}`);
        });
        assert.ok(ids.every((id) => writes[writes.length - 1].includes(id)), "the last write holds both");
        for (const s of states) {
            assert.strictEqual(stepOf(s, "containment").status, "succeeded", JSON.stringify(stepOf(s, "containment"), null, 1));
        }
        const policy = await member.iam.send(new GetRolePolicyCommand({ RoleName: "batch-worker", PolicyName: REVOCATION_POLICY }));
        const expected = [alone.input.instance.instanceId, ...ids];
        assert.deepStrictEqual(revokedInstanceIds(policy.PolicyDocument).sort(), expected.sort());
        assert.ok(!revokedInstanceIds(policy.PolicyDocument).includes(alone.bystander), "the bystander is not revoked");
    });

    it("containment after isolation and acquisition: records the acquisition results and the earlier failure, revokes the role isolation replaced", async function () {
        const net = await network(false);
        const id = await instance(net);
        const isolated = await isolate(await triage(newCase(id), triageDeps()), isolationDeps());
        assert.strictEqual(stepOf(isolated, "isolation").status, "succeeded");
        assert.strictEqual(await profileOf(id), IR_PROFILE);
        const at = new Date().toISOString();
        const acquisition: StepRecord[] = [
            { step: "memory", status: "failed", startedAt: at, endedAt: at, actions: [], error: "SSM agent not registered" },
            { step: "disk", status: "succeeded", startedAt: at, endedAt: at, actions: [] },
        ];
        const lastError = { Error: "Lambda.Unknown", Cause: "memory branch timed out" };

        const contained = await contain({ ...isolated, acquisition, lastError }, containmentDeps());

        const c = stepOf(contained, "containment");
        assert.strictEqual(c.status, "succeeded", JSON.stringify(c, null, 1));
        assert.deepStrictEqual(contained.steps.map((s) => s.step), ["triage", "isolation", "memory", "disk", "containment"]);
        assert.strictEqual(contained.acquisition, undefined);
        assert.deepStrictEqual(c.detail?.acquisition, [{ step: "memory", status: "failed", error: "SSM agent not registered" }, { step: "disk", status: "succeeded" }]);
        assert.deepStrictEqual(c.detail?.lastError, lastError);
        assert.strictEqual(actionsOf(c, "protect-instance")[0]?.outcome, "noop", "isolation's protections are not applied twice");
        const acquisitionGroup = await engineGroup(net.vpcId, "acquisition-isolation");
        const containedGroup = await engineGroup(net.vpcId, "contained");
        for (const move of actionsOf(c, "isolate-eni")) {
            assert.deepStrictEqual(move.detail?.previousGroups, [acquisitionGroup.GroupId]);
            assert.ok(move.detail?.via, "tracked 443 flows of the acquisition group are cut through allow-all too");
        }
        for (const groups of (await eniGroups(id)).values()) {
            assert.deepStrictEqual(groups, [containedGroup.GroupId]);
        }
        assert.strictEqual(await profileOf(id), CONTAINED_PROFILE);
        // The instance held the IR profile at containment: the original role comes from isolation's record.
        const original = await member.iam.send(new GetRolePolicyCommand({ RoleName: "web-app", PolicyName: REVOCATION_POLICY }));
        assert.ok(revokedInstanceIds(original.PolicyDocument).includes(contained.instance.instanceId));
        const ir = await member.iam.send(new GetRolePolicyCommand({ RoleName: "ir-forensics-ir", PolicyName: REVOCATION_POLICY }));
        assert.ok(revokedInstanceIds(ir.PolicyDocument).includes(contained.instance.instanceId));
    });

    it("a failed profile swap (the IR profile is missing) leaves the step partial and the instance isolated: nothing is rolled back", async function () {
        const net = await network(false);
        const id = await instance(net, 2);
        await notifications();
        const state = await isolate(await triage(newCase(id), triageDeps()), isolationDeps({ irProfileName: "ir-forensics-missing" }));

        const step = stepOf(state, "isolation");
        assert.strictEqual(step.status, "partial", JSON.stringify(step, null, 1));
        const swap = actionsOf(step, "ec2:ReplaceIamInstanceProfileAssociation")[0];
        assert.strictEqual(swap?.outcome, "failed");
        assert.match(swap?.error ?? "", /not found|NoSuchEntity/i);
        const acquisition = await engineGroup(net.vpcId, "acquisition-isolation");
        for (const groups of (await eniGroups(id)).values()) {
            assert.deepStrictEqual(groups, [acquisition.GroupId], "the ENIs must stay isolated");
        }
        await assertProtected(id);
        assert.strictEqual(await profileOf(id), WORKLOAD_PROFILE, "the old profile stays until containment replaces it");
        assert.deepStrictEqual((await notifications()).map((n) => n.kind), ["isolated"]);
    });

    it("two instances in one VPC isolated at once share one group of each kind", async function () {
        const net = await network(true);
        const ids = await Promise.all([instance(net, 2), instance(net, 1)]);
        const triaged = await Promise.all(ids.map((id) => triage(newCase(id), triageDeps())));
        // Both look the groups up before either creates them: both create, one hears InvalidGroup.Duplicate.
        const racing = racingFactory((n) => n === "CreateSecurityGroup", (n, i) => n === "DescribeSecurityGroups" && i.Filters?.length === 2, 2);
        log.start();
        const isolated = await Promise.all(triaged.map((s) => isolate(s, isolationDeps({}, racing))));
        assert.strictEqual(log.stop().filter((c) => c === "CreateSecurityGroup").length, 4, "each case tries to create both groups");

        for (const s of isolated) {
            assert.strictEqual(stepOf(s, "isolation").status, "succeeded", JSON.stringify(stepOf(s, "isolation"), null, 1));
        }
        for (const purpose of ["allow-all", "acquisition-isolation"] as GroupPurpose[]) {
            const groups = await engineGroups(net.vpcId, purpose);
            assert.strictEqual(groups.length, 1, `${groups.length} ${GROUP_NAMES[purpose]} groups`);
            const created = isolated.flatMap((s) => actionsOf(stepOf(s, "isolation"), "ec2:CreateSecurityGroup")).filter((a) => a.detail?.purpose === purpose);
            assert.strictEqual(created.length, 1, `${GROUP_NAMES[purpose]} created ${created.length} times`);
        }
        const acquisition = await engineGroup(net.vpcId, "acquisition-isolation");
        for (const id of ids) {
            for (const groups of (await eniGroups(id)).values()) {
                assert.deepStrictEqual(groups, [acquisition.GroupId]);
            }
        }
    });
});
