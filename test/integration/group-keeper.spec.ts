/**
 * The group keeper (functions/response/groupKeeper.ts) against moto: the engine's three groups in every VPC of a
 * member region, idempotent, brought up to date when an endpoint appears; a first case in a kept VPC
 * creates and configures nothing before its cut; a target that cannot be read is reported, the others kept.
 */
import * as assert from "assert";
import {
    CreateSubnetCommand, CreateVpcCommand, DescribeSecurityGroupsCommand, DescribeSubnetsCommand, EC2Client, RevokeSecurityGroupIngressCommand, RunInstancesCommand,
} from "@aws-sdk/client-ec2";
import { CreateInstanceProfileCommand } from "@aws-sdk/client-iam";
import { DEFAULT_REGION, clientsFor } from "../../emulator/aws/aws-clients";
import { MemberClientFactory } from "../../functions/shared/aws";
import { KeptVpc, keepEngineGroups, keeperOutcome } from "../../functions/response/groupKeeper";
import { isolate } from "../../functions/response/isolation";
import { GROUP_NAMES } from "../../functions/response/securityGroups";
import { newCase, stepSettings } from "../support/cases";
import { countCalls } from "../support/engine";
import { MEMBER, OTHER_MEMBER, useMoto } from "../support/moto";

const AMI = "ami-04681a1dbd79675a5";

describe("group keeper: the engine's groups ready in every member VPC before the first case", function () {
    this.timeout(120_000);
    const moto = useMoto();
    const settings = stepSettings({ evidenceBucket: "irf-evidence-keeper", evidenceKeyArn: "" });
    let member: ReturnType<typeof clientsFor>;
    let factory: MemberClientFactory;
    let vpcs: string[];

    async function groupsIn(ec2: EC2Client, vpcId: string): Promise<Record<string, { id: string; ingress: number; egress: number }>> {
        const out = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: "vpc-id", Values: [vpcId] }, { Name: "group-name", Values: Object.values(GROUP_NAMES) }] }));
        return Object.fromEntries((out.SecurityGroups ?? []).map((g) => [g.GroupName ?? "", { id: g.GroupId ?? "", ingress: g.IpPermissions?.length ?? 0, egress: g.IpPermissionsEgress?.length ?? 0 }]));
    }

    const mine = (kept: KeptVpc[]) => kept.filter((v) => vpcs.includes(v.vpcId));
    const subnetOf = async (vpcId: string) =>
        (await member.ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: "vpc-id", Values: [vpcId] }] }))).Subnets![0].SubnetId!;

    before(async () => {
        member = clientsFor(moto().endpoint, MEMBER);
        factory = async () => member as never;
        vpcs = [];
        for (const cidr of ["10.71.0.0/16", "10.72.0.0/16"]) {
            const { Vpc } = await member.ec2.send(new CreateVpcCommand({ CidrBlock: cidr }));
            vpcs.push(Vpc!.VpcId!);
            await member.ec2.send(new CreateSubnetCommand({ VpcId: Vpc!.VpcId!, CidrBlock: cidr.replace(".0.0/16", ".1.0/24") }));
        }
    });

    it("creates the three groups in each VPC, as isolation would: allow-all open, contained without a rule, acquisition egress 443 only", async () => {
        const report = await keepEngineGroups([{ accountId: MEMBER, region: DEFAULT_REGION }], { member: factory, settings });
        assert.deepStrictEqual(report.failed, []);
        const kept = mine(report.vpcs);
        assert.strictEqual(kept.length, 2, JSON.stringify(report.vpcs.map((v) => v.vpcId)));
        for (const vpc of kept) {
            assert.deepStrictEqual(vpc.created.sort(), ["acquisition-isolation", "allow-all", "contained"], JSON.stringify(vpc));
            const groups = await groupsIn(member.ec2, vpc.vpcId);
            assert.deepStrictEqual(Object.keys(groups).sort(), Object.values(GROUP_NAMES).sort());
            assert.deepStrictEqual(groups[GROUP_NAMES.contained], { id: vpc.groups.contained, ingress: 0, egress: 0 });
            assert.ok(groups[GROUP_NAMES["allow-all"]].ingress > 0 && groups[GROUP_NAMES["allow-all"]].egress > 0);
            assert.strictEqual(groups[GROUP_NAMES["acquisition-isolation"]].ingress, 0);
        }
        assert.deepStrictEqual(keeperOutcome(report).error, undefined);
    });

    it("a second run changes nothing; a group whose rules were changed by hand is put back", async () => {
        const again = mine((await keepEngineGroups([{ accountId: MEMBER, region: DEFAULT_REGION }], { member: factory, settings })).vpcs);
        assert.deepStrictEqual(again.map((v) => [v.created, v.changed]), [[[], []], [[], []]]);
        const tampered = (await groupsIn(member.ec2, vpcs[0]))[GROUP_NAMES["allow-all"]].id;
        await member.ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: tampered, IpPermissions: [{ IpProtocol: "-1", IpRanges: [{ CidrIp: "0.0.0.0/0" }] }] }));
        const restored = mine((await keepEngineGroups([{ accountId: MEMBER, region: DEFAULT_REGION }], { member: factory, settings })).vpcs);
        assert.deepStrictEqual(restored.find((v) => v.vpcId === vpcs[0])?.changed, ["allow-all"], JSON.stringify(restored));
        assert.deepStrictEqual(restored.find((v) => v.vpcId === vpcs[1])?.changed, []);
        assert.ok((await groupsIn(member.ec2, vpcs[0]))[GROUP_NAMES["allow-all"]].ingress > 0);
    });

    it("a first case in a kept VPC creates and configures no group before (or after) its cut", async () => {
        const { Instances } = await member.ec2.send(new RunInstancesCommand({
            ImageId: AMI, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1,
            SubnetId: await subnetOf(vpcs[1]),
        }));
        const instanceId = Instances![0].InstanceId!;
        await member.iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: settings.member.irProfileName })).catch(() => undefined);
        const counter = countCalls(member.ec2, member.iam);
        const state = await isolate(newCase(instanceId), { member: factory, settings });
        counter.stop();
        const isolation = state.steps.find((s) => s.step === "isolation");
        assert.strictEqual(isolation?.status, "succeeded", JSON.stringify(isolation));
        const changes = counter.calls.filter((c) => /^(CreateSecurityGroup|AuthorizeSecurityGroup|RevokeSecurityGroup)/.test(c));
        assert.deepStrictEqual(changes, [], counter.calls.join(", "));
        assert.deepStrictEqual(isolation?.actions.filter((a) => a.action === "isolate-eni").map((a) => a.outcome), ["ok"]);
    });

    it("a target that cannot be read is reported after its retries, and the others are still kept", async () => {
        const broken: MemberClientFactory = async (ref, session) => {
            if (ref.accountId === OTHER_MEMBER) {
                throw new Error("AccessDenied: not authorized to perform sts:AssumeRole");
            }
            return factory(ref, session);
        };
        const report = await keepEngineGroups([{ accountId: MEMBER, region: DEFAULT_REGION }, { accountId: OTHER_MEMBER, region: DEFAULT_REGION }], { member: broken, settings, retryMs: [0, 0] });
        assert.strictEqual(mine(report.vpcs).length, 2);
        assert.deepStrictEqual(report.failed, [{ accountId: OTHER_MEMBER, region: DEFAULT_REGION, error: "AccessDenied: not authorized to perform sts:AssumeRole" }]);
        assert.match(keeperOutcome(report).error?.message ?? "", new RegExp(`failed in 1 place\\(s\\): ${OTHER_MEMBER}/${DEFAULT_REGION}: AccessDenied`));
    });
});
