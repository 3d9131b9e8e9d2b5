/**
 * The network reachability model (emulator/strict/network.ts) against real VPCs built in moto: each scenario
 * builds a VPC the way an incident may find one (no default route, NAT, internet gateway, endpoints,
 * NACLs, IPv6), launches hosts into it and asks canReach what AWS's network would let through.
 * Where moto cannot produce a state (a blackhole route, a pending endpoint), the network read from
 * moto is edited and given to the pure reach().
 */
import * as assert from "assert";
import {
    AllocateAddressCommand, AssignIpv6AddressesCommand, AssociateRouteTableCommand, AttachInternetGatewayCommand, AuthorizeSecurityGroupEgressCommand,
    AuthorizeSecurityGroupIngressCommand, CreateEgressOnlyInternetGatewayCommand, CreateInternetGatewayCommand, CreateNatGatewayCommand,
    CreateNetworkAclCommand, CreateNetworkAclEntryCommand, CreateRouteCommand, CreateRouteTableCommand, CreateSecurityGroupCommand, CreateSubnetCommand,
    CreateVpcCommand, CreateVpcEndpointCommand, DeleteNatGatewayCommand, DescribeNetworkAclsCommand, DescribePrefixListsCommand, DetachInternetGatewayCommand,
    EC2Client, IpPermission, ModifyVpcAttributeCommand, ReplaceNetworkAclAssociationCommand, RevokeSecurityGroupEgressCommand, RunInstancesCommand,
    StopInstancesCommand,
} from "@aws-sdk/client-ec2";
import { DEFAULT_REGION, clientsFor } from "../../emulator/aws/aws-clients";
import {
    DEFAULT_VPC_GATEWAY, Destination, InstanceNetwork, Reachability, canReach, reach, readInstanceNetwork, ssmAgentReachable,
} from "../../emulator/strict/network";
import { MEMBER, useMoto } from "../support/moto";

const REGION = DEFAULT_REGION;
const OTHER_REGION = "us-east-1";
const AMI = "ami-04681a1dbd79675a5";
const ANYWHERE = "0.0.0.0/0";
const ANYWHERE_V6 = "::/0";

const tcp = (port: number, peer: Omit<IpPermission, "IpProtocol" | "FromPort" | "ToPort">): IpPermission => ({ IpProtocol: "tcp", FromPort: port, ToPort: port, ...peer });
const toCidr = (cidr: string): IpPermission => tcp(443, cidr.includes(":") ? { Ipv6Ranges: [{ CidrIpv6: cidr }] } : { IpRanges: [{ CidrIp: cidr }] });
const toGroup = (groupId: string): IpPermission => tcp(443, { UserIdGroupPairs: [{ GroupId: groupId }] });
const toPrefixList = (prefixListId: string): IpPermission => tcp(443, { PrefixListIds: [{ PrefixListId: prefixListId }] });

const s3 = (region: string): Destination => ({ service: "s3", region });
const service = (name: string, region = REGION): Destination => ({ service: name, region });

interface Expected {
    reachable: boolean;
    via?: Reachability["via"];
    endpointId?: string;
    /** Text the reason must contain (an id of the deciding group, route table, ACL or endpoint). */
    reason?: string;
}

function check(actual: Pick<Reachability, "reachable" | "reason"> & Partial<Reachability>, expected: Expected, what: string): void {
    const context = `${what}: ${JSON.stringify(actual)}`;
    assert.strictEqual(actual.reachable, expected.reachable, context);
    if (expected.via) {
        assert.strictEqual(actual.via, expected.via, context);
    }
    if (expected.endpointId) {
        assert.strictEqual(actual.endpointId, expected.endpointId, context);
    }
    if (expected.reason) {
        assert.ok(actual.reason.includes(expected.reason), `${context}: the reason should name ${expected.reason}`);
    }
}

const label = (dest: Destination) => `${dest.service} in ${dest.region}:${dest.port ?? 443}${dest.addressFamily ? ` (${dest.addressFamily})` : ""}`;

/** A copy of `net` to edit into a state moto cannot produce. */
const edited = (net: InstanceNetwork, edit: (copy: InstanceNetwork) => void): InstanceNetwork => {
    const copy = structuredClone(net);
    edit(copy);
    return copy;
};

interface AclEntry {
    rule: number;
    egress: boolean;
    allow: boolean;
    protocol: string;
    ports?: [number, number];
    cidr?: string;
}

/** Builds VPC pieces in the member account, the way an account holding a suspect host has them. */
class Lab {
    constructor(readonly ec2: EC2Client) {}

    /** A VPC with DNS resolution and hostnames on (what private DNS for endpoints needs). */
    async vpc(cidr: string, ipv6 = false): Promise<{ vpcId: string; ipv6Cidr?: string }> {
        const vpc = (await this.ec2.send(new CreateVpcCommand({ CidrBlock: cidr, AmazonProvidedIpv6CidrBlock: ipv6 }))).Vpc;
        const vpcId = vpc?.VpcId ?? "";
        await this.dnsHostnames(vpcId, true);
        return { vpcId, ipv6Cidr: vpc?.Ipv6CidrBlockAssociationSet?.[0]?.Ipv6CidrBlock };
    }

    async dnsHostnames(vpcId: string, on: boolean): Promise<void> {
        await this.ec2.send(new ModifyVpcAttributeCommand({ VpcId: vpcId, EnableDnsHostnames: { Value: on } }));
    }

    /** A subnet with its own route table (only the local routes until routes are added). */
    async subnet(vpcId: string, cidr: string, ipv6Cidr?: string): Promise<{ subnetId: string; routeTableId: string }> {
        const subnetId = (await this.ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: cidr, Ipv6CidrBlock: ipv6Cidr, AvailabilityZone: `${REGION}a` }))).Subnet?.SubnetId ?? "";
        const routeTableId = (await this.ec2.send(new CreateRouteTableCommand({ VpcId: vpcId }))).RouteTable?.RouteTableId ?? "";
        await this.ec2.send(new AssociateRouteTableCommand({ RouteTableId: routeTableId, SubnetId: subnetId }));
        return { subnetId, routeTableId };
    }

    /** A group with exactly these rules (the default allow-all egress revoked). */
    async group(vpcId: string, name: string, rules: { egress?: IpPermission[]; ingress?: IpPermission[] }): Promise<string> {
        const groupId = (await this.ec2.send(new CreateSecurityGroupCommand({ VpcId: vpcId, GroupName: name, Description: name }))).GroupId ?? "";
        await this.ec2.send(new RevokeSecurityGroupEgressCommand({
            GroupId: groupId, IpPermissions: [{ IpProtocol: "-1", IpRanges: [{ CidrIp: ANYWHERE }], Ipv6Ranges: [{ CidrIpv6: ANYWHERE_V6 }] }],
        }));
        await this.allow(groupId, rules);
        return groupId;
    }

    async allow(groupId: string, rules: { egress?: IpPermission[]; ingress?: IpPermission[] }): Promise<void> {
        if (rules.egress?.length) {
            await this.ec2.send(new AuthorizeSecurityGroupEgressCommand({ GroupId: groupId, IpPermissions: rules.egress }));
        }
        if (rules.ingress?.length) {
            await this.ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: rules.ingress }));
        }
    }

    async host(subnetId: string, groupIds: string[], options: { publicIp?: boolean; ipv6?: boolean } = {}): Promise<string> {
        const instance = (await this.ec2.send(new RunInstancesCommand({
            ImageId: AMI, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1,
            NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: subnetId, Groups: groupIds, AssociatePublicIpAddress: options.publicIp ?? false }],
        }))).Instances?.[0];
        if (options.ipv6) {
            // moto ignores Ipv6AddressCount at launch; assigning afterwards works.
            await this.ec2.send(new AssignIpv6AddressesCommand({ NetworkInterfaceId: instance?.NetworkInterfaces?.[0]?.NetworkInterfaceId, Ipv6AddressCount: 1 }));
        }
        return instance?.InstanceId ?? "";
    }

    async internetGateway(vpcId: string): Promise<string> {
        const igwId = (await this.ec2.send(new CreateInternetGatewayCommand({}))).InternetGateway?.InternetGatewayId ?? "";
        await this.ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: igwId, VpcId: vpcId }));
        return igwId;
    }

    /** A public NAT gateway in a new public subnet (its table routes 0.0.0.0/0 to a new internet gateway). */
    async natGateway(vpcId: string, cidr: string): Promise<{ natGatewayId: string; subnetId: string; routeTableId: string }> {
        const igwId = await this.internetGateway(vpcId);
        const publicSubnet = await this.subnet(vpcId, cidr);
        await this.route(publicSubnet.routeTableId, ANYWHERE, { GatewayId: igwId });
        const allocationId = (await this.ec2.send(new AllocateAddressCommand({ Domain: "vpc" }))).AllocationId;
        const nat = await this.ec2.send(new CreateNatGatewayCommand({ SubnetId: publicSubnet.subnetId, AllocationId: allocationId }));
        return { natGatewayId: nat.NatGateway?.NatGatewayId ?? "", ...publicSubnet };
    }

    async route(routeTableId: string, destination: string, target: { GatewayId?: string; NatGatewayId?: string; EgressOnlyInternetGatewayId?: string }): Promise<void> {
        const where = destination.includes(":") ? { DestinationIpv6CidrBlock: destination } : { DestinationCidrBlock: destination };
        await this.ec2.send(new CreateRouteCommand({ RouteTableId: routeTableId, ...where, ...target }));
    }

    async interfaceEndpoint(vpcId: string, name: string, subnetIds: string[], groupIds: string[] | undefined, privateDns = true): Promise<string> {
        return (await this.ec2.send(new CreateVpcEndpointCommand({
            VpcId: vpcId, VpcEndpointType: "Interface", ServiceName: `com.amazonaws.${REGION}.${name}`, SubnetIds: subnetIds, SecurityGroupIds: groupIds,
            PrivateDnsEnabled: privateDns,
        }))).VpcEndpoint?.VpcEndpointId ?? "";
    }

    async gatewayEndpoint(vpcId: string, routeTableIds: string[]): Promise<string> {
        return (await this.ec2.send(new CreateVpcEndpointCommand({
            VpcId: vpcId, VpcEndpointType: "Gateway", ServiceName: `com.amazonaws.${REGION}.s3`, RouteTableIds: routeTableIds,
        }))).VpcEndpoint?.VpcEndpointId ?? "";
    }

    /** The AWS-managed prefix list of the region's S3 (moto creates one per region). */
    async s3PrefixList(): Promise<string> {
        const lists = await this.ec2.send(new DescribePrefixListsCommand({ Filters: [{ Name: "prefix-list-name", Values: [`com.amazonaws.${REGION}.s3`] }] }));
        return lists.PrefixLists?.[0]?.PrefixListId ?? "";
    }

    /** Replaces the subnet's NACL with a new one holding exactly `entries` (and the implicit "*" deny). */
    async networkAcl(vpcId: string, subnetId: string, entries: AclEntry[]): Promise<string> {
        const aclId = (await this.ec2.send(new CreateNetworkAclCommand({ VpcId: vpcId }))).NetworkAcl?.NetworkAclId ?? "";
        for (const e of entries) {
            await this.ec2.send(new CreateNetworkAclEntryCommand({
                NetworkAclId: aclId, RuleNumber: e.rule, Egress: e.egress, RuleAction: e.allow ? "allow" : "deny", Protocol: e.protocol, CidrBlock: e.cidr ?? ANYWHERE,
                PortRange: e.ports ? { From: e.ports[0], To: e.ports[1] } : undefined,
            }));
        }
        const current = await this.ec2.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: "association.subnet-id", Values: [subnetId] }] }));
        const association = current.NetworkAcls?.flatMap((a) => a.Associations ?? []).find((a) => a.SubnetId === subnetId);
        await this.ec2.send(new ReplaceNetworkAclAssociationCommand({ AssociationId: association?.NetworkAclAssociationId, NetworkAclId: aclId }));
        return aclId;
    }
}

describe("network reachability of a suspect host (emulator/strict/network.ts against moto)", function () {
    this.timeout(60_000);
    const moto = useMoto();
    let lab: Lab;

    before(async () => {
        await moto().reset();
        lab = new Lab(clientsFor(moto().endpoint, MEMBER, REGION).ec2);
    });
    after(() => lab?.ec2.destroy());

    const expectAll = async (instanceId: string, cases: [Destination, Expected][]) => {
        const net = await readInstanceNetwork(lab.ec2, instanceId);
        for (const [dest, expected] of cases) {
            check(reach(net, dest), expected, label(dest));
        }
    };

    it("an unknown instance is the SDK's InvalidInstanceID.NotFound", async () => {
        await assert.rejects(readInstanceNetwork(lab.ec2, "i-0123456789abcdef0"), (err: Error) => err.name === "InvalidInstanceID.NotFound");
    });

    it("the default VPC has AWS's internet gateway and default route (moto lacks both): a launched host reaches S3 and SSM", async () => {
        const instance = (await lab.ec2.send(new RunInstancesCommand({ ImageId: AMI, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1 }))).Instances?.[0];
        const net = await readInstanceNetwork(lab.ec2, instance?.InstanceId ?? "");
        assert.ok(net.notes.some((n) => n.includes(DEFAULT_VPC_GATEWAY)), JSON.stringify(net.notes));
        check(reach(net, s3(OTHER_REGION)), { reachable: true, via: "internet-gateway", reason: DEFAULT_VPC_GATEWAY }, "default VPC");
        check(ssmAgentReachable(net), { reachable: true }, "the SSM agent in the default VPC");
    });

    it("a subnet without a default route is cut off though its group allows 443 to 0.0.0.0/0 (the reason names the route table)", async () => {
        const { vpcId } = await lab.vpc("10.1.0.0/16");
        const { subnetId, routeTableId } = await lab.subnet(vpcId, "10.1.1.0/24");
        const host = await lab.host(subnetId, [await lab.group(vpcId, "open-443", { egress: [toCidr(ANYWHERE)] })]);
        check(await canReach(lab.ec2, host, s3(OTHER_REGION)), { reachable: false, reason: `${routeTableId} (${subnetId}) has no route to 0.0.0.0/0` }, "s3");
        const agent = ssmAgentReachable(await readInstanceNetwork(lab.ec2, host));
        check(agent, { reachable: false, reason: routeTableId }, "the SSM agent");
        assert.deepStrictEqual(Object.keys(agent.services), ["ssm", "ec2messages"]);
    });

    describe("a private subnet behind a NAT gateway", () => {
        let vpcId: string;
        let subnetId: string;
        let nat: Awaited<ReturnType<Lab["natGateway"]>>;
        let groupId: string;
        let host: string;

        before(async () => {
            ({ vpcId } = await lab.vpc("10.2.0.0/16"));
            let routeTableId: string;
            ({ subnetId, routeTableId } = await lab.subnet(vpcId, "10.2.1.0/24"));
            nat = await lab.natGateway(vpcId, "10.2.0.0/24");
            await lab.route(routeTableId, ANYWHERE, { NatGatewayId: nat.natGatewayId });
            groupId = await lab.group(vpcId, "nat-443", { egress: [toCidr(ANYWHERE)] });
            host = await lab.host(subnetId, [groupId]);
        });

        it("reaches another region's S3 and SSM through the NAT gateway, on 443 only", async () => {
            await expectAll(host, [
                [s3(OTHER_REGION), { reachable: true, via: "nat-gateway", reason: nat.natGatewayId }],
                [s3(REGION), { reachable: true, via: "nat-gateway" }],
                [service("ssm"), { reachable: true, via: "nat-gateway" }],
                [{ ...s3(OTHER_REGION), port: 80 }, { reachable: false, reason: `${groupId} allows no egress to 0.0.0.0/0 on tcp 80` }],
            ]);
            check(ssmAgentReachable(await readInstanceNetwork(lab.ec2, host)), { reachable: true, reason: "ssm: via nat-gateway; ec2messages: via nat-gateway" }, "agent");
        });

        it("an egress rule naming the region's S3 prefix list opens that region's S3 through NAT, not another region's", async () => {
            const prefixOnly = await lab.host(subnetId, [await lab.group(vpcId, "nat-s3-prefix-list", { egress: [toPrefixList(await lab.s3PrefixList())] })]);
            await expectAll(prefixOnly, [
                [s3(REGION), { reachable: true, via: "nat-gateway" }],
                [s3(OTHER_REGION), { reachable: false, reason: "allows no egress to 0.0.0.0/0" }],
            ]);
        });

        it("an interface endpoint for sts only does not take SSM's traffic: ssm and ec2messages still go through NAT", async () => {
            const endpointGroup = await lab.group(vpcId, "sts-endpoint", { ingress: [toGroup(groupId)] });
            const sts = await lab.interfaceEndpoint(vpcId, "sts", [subnetId], [endpointGroup]);
            await expectAll(host, [
                [service("ssm"), { reachable: true, via: "nat-gateway" }],
                [service("ec2messages"), { reachable: true, via: "nat-gateway" }],
                [service("sts"), { reachable: true, via: "interface-endpoint", endpointId: sts }],
                [service("sts", OTHER_REGION), { reachable: true, via: "nat-gateway" }],
            ]);
            check(ssmAgentReachable(await readInstanceNetwork(lab.ec2, host)), { reachable: true }, "the SSM agent");
        });

        it("a blackhole route, or a NAT gateway in a subnet without a route to an internet gateway, carries nothing", async () => {
            const net = await readInstanceNetwork(lab.ec2, host);
            const routes = (copy: InstanceNetwork, tableId: string) => copy.routeTables[tableId].routes;
            const holed = edited(net, (copy) => routes(copy, copy.subnets[subnetId].routeTableId ?? "")
                .filter((r) => r.target === nat.natGatewayId).forEach((r) => { r.state = "blackhole"; }));
            check(reach(holed, s3(OTHER_REGION)), { reachable: false, reason: `${nat.natGatewayId}, a blackhole` }, "blackhole route");
            const stranded = edited(net, (copy) => { copy.routeTables[nat.routeTableId].routes = routes(copy, nat.routeTableId).filter((r) => r.destination !== ANYWHERE); });
            check(reach(stranded, s3(OTHER_REGION)), { reachable: false, reason: `from its subnet ${nat.routeTableId} (${nat.subnetId}) has no route` }, "NAT without internet");
            check(reach(net, s3(OTHER_REGION)), { reachable: true, via: "nat-gateway" }, "the network as read");
        });

        it("the NAT gateway's subnet NACL must let the host's traffic in and out", async () => {
            const aclId = await lab.networkAcl(vpcId, nat.subnetId, [
                { rule: 100, egress: true, allow: true, protocol: "-1" },
                { rule: 100, egress: false, allow: true, protocol: "-1", cidr: "10.9.0.0/16" },
            ]);
            check(await canReach(lab.ec2, host, s3(OTHER_REGION)), { reachable: false, reason: `${aclId} (${nat.subnetId}) inbound rule * denies tcp 443 from 10.2.1.` }, "NAT subnet NACL");
            await lab.networkAcl(vpcId, nat.subnetId, [{ rule: 100, egress: true, allow: true, protocol: "-1" }, { rule: 100, egress: false, allow: true, protocol: "-1" }]);
            check(await canReach(lab.ec2, host, s3(OTHER_REGION)), { reachable: true, via: "nat-gateway" }, "NAT subnet NACL opened");
        });

        it("a stopped host reaches nothing; a deleted NAT gateway leaves a blackhole (moto keeps the route active)", async () => {
            const other = await lab.host(subnetId, [groupId]);
            await lab.ec2.send(new StopInstancesCommand({ InstanceIds: [other] }));
            check(await canReach(lab.ec2, other, s3(OTHER_REGION)), { reachable: false, reason: `${other} is stopped` }, "stopped");
            await lab.ec2.send(new DeleteNatGatewayCommand({ NatGatewayId: nat.natGatewayId }));
            check(await canReach(lab.ec2, host, s3(OTHER_REGION)), { reachable: false, reason: `${nat.natGatewayId}, which is deleted` }, "deleted NAT");
        });
    });

    describe("a subnet routed to an internet gateway", () => {
        let vpcId: string;
        let igwId: string;
        let withoutIp: string;
        let withIp: string;

        before(async () => {
            ({ vpcId } = await lab.vpc("10.3.0.0/16"));
            const { subnetId, routeTableId } = await lab.subnet(vpcId, "10.3.1.0/24");
            igwId = await lab.internetGateway(vpcId);
            await lab.route(routeTableId, ANYWHERE, { GatewayId: igwId });
            const groupId = await lab.group(vpcId, "igw-443", { egress: [toCidr(ANYWHERE)] });
            withoutIp = await lab.host(subnetId, [groupId]);
            withIp = await lab.host(subnetId, [groupId], { publicIp: true });
        });

        it("needs a public IPv4 address on the host's ENI", async () => {
            check(await canReach(lab.ec2, withoutIp, s3(OTHER_REGION)), { reachable: false, reason: `${igwId}, but eni-` }, "no public IP");
            check(await canReach(lab.ec2, withoutIp, s3(OTHER_REGION)), { reachable: false, reason: "has no public IPv4 address" }, "no public IP");
            check(await canReach(lab.ec2, withIp, s3(OTHER_REGION)), { reachable: true, via: "internet-gateway", reason: igwId }, "public IP");
        });

        it("a detached internet gateway carries nothing (moto keeps the route active)", async () => {
            await lab.ec2.send(new DetachInternetGatewayCommand({ InternetGatewayId: igwId, VpcId: vpcId }));
            check(await canReach(lab.ec2, withIp, s3(OTHER_REGION)), { reachable: false, reason: `${igwId}, which is not attached` }, "detached");
        });
    });

    describe("an S3 gateway endpoint", () => {
        let vpcId: string;
        let endpointId: string;
        let prefixListId: string;
        let subnetId: string;
        let prefixOnly: string;

        before(async () => {
            ({ vpcId } = await lab.vpc("10.4.0.0/16"));
            let routeTableId: string;
            ({ subnetId, routeTableId } = await lab.subnet(vpcId, "10.4.1.0/24"));
            endpointId = await lab.gatewayEndpoint(vpcId, [routeTableId]);
            prefixListId = await lab.s3PrefixList();
            prefixOnly = await lab.group(vpcId, "s3-prefix-list", { egress: [toPrefixList(prefixListId)] });
        });

        it("reaches the VPC region's buckets when the egress allows its prefix list, never another region's", async () => {
            const host = await lab.host(subnetId, [prefixOnly]);
            await expectAll(host, [
                [s3(REGION), { reachable: true, via: "gateway-endpoint", endpointId }],
                [s3(OTHER_REGION), { reachable: false, reason: `${prefixOnly} allows no egress to 0.0.0.0/0 on tcp 443` }],
                [service("dynamodb"), { reachable: false, reason: prefixOnly }],
                [{ ...s3(REGION), port: 8443 }, { reachable: false, via: "gateway-endpoint", reason: `${prefixOnly} allows no egress to ${prefixListId} (com.amazonaws.${REGION}.s3) on tcp 8443` }],
            ]);
        });

        it("0.0.0.0/0 egress covers the prefix list; another region still needs a route out", async () => {
            const host = await lab.host(subnetId, [await lab.group(vpcId, "s3-anywhere", { egress: [toCidr(ANYWHERE)] })]);
            await expectAll(host, [
                [s3(REGION), { reachable: true, via: "gateway-endpoint", endpointId }],
                [s3(OTHER_REGION), { reachable: false, reason: "has no route to 0.0.0.0/0" }],
            ]);
        });

        it("a pending gateway endpoint already owns the route but does not carry traffic yet", async () => {
            const net = await readInstanceNetwork(lab.ec2, await lab.host(subnetId, [prefixOnly]));
            const waiting = edited(net, (copy) => copy.endpoints.filter((e) => e.endpointId === endpointId).forEach((e) => { e.state = "pending"; }));
            check(reach(waiting, s3(REGION)), { reachable: false, via: "gateway-endpoint", endpointId, reason: `${endpointId} (gateway-endpoint for com.amazonaws.${REGION}.s3) is pending` }, "pending");
        });

        it("serves only the route tables it is associated with; there an S3 interface endpoint takes over", async () => {
            const other = await lab.subnet(vpcId, "10.4.2.0/24");
            const elsewhere = await lab.host(other.subnetId, [prefixOnly]);
            await expectAll(elsewhere, [[s3(REGION), { reachable: false, reason: `gateway endpoint ${endpointId} does not serve ${other.routeTableId}` }]]);

            const endpointGroup = await lab.group(vpcId, "s3-interface", { ingress: [toGroup(prefixOnly)] });
            const s3Interface = await lab.interfaceEndpoint(vpcId, "s3", [other.subnetId], [endpointGroup]);
            await lab.allow(prefixOnly, { egress: [toGroup(endpointGroup)] });
            await expectAll(elsewhere, [[s3(REGION), { reachable: true, via: "interface-endpoint", endpointId: s3Interface }]]);
            // In the associated subnet the gateway endpoint's prefix-list route wins.
            await expectAll(await lab.host(subnetId, [prefixOnly]), [[s3(REGION), { reachable: true, via: "gateway-endpoint", endpointId }]]);
        });
    });

    describe("an interface endpoint for ssm with private DNS", () => {
        let vpcId: string;
        let hostSubnet: string;
        let endpointSubnet: string;
        let endpointGroup: string;
        let endpointId: string;
        let admitted: string;
        let tight: string;
        let open: string;

        before(async () => {
            ({ vpcId } = await lab.vpc("10.5.0.0/16"));
            let routeTableId: string;
            ({ subnetId: hostSubnet, routeTableId } = await lab.subnet(vpcId, "10.5.1.0/24"));
            // The public path is open (NAT): private DNS still sends ssm to the endpoint.
            await lab.route(routeTableId, ANYWHERE, { NatGatewayId: (await lab.natGateway(vpcId, "10.5.0.0/24")).natGatewayId });
            ({ subnetId: endpointSubnet } = await lab.subnet(vpcId, "10.5.2.0/24"));
            endpointGroup = await lab.group(vpcId, "ssm-endpoint", {});
            endpointId = await lab.interfaceEndpoint(vpcId, "ssm", [endpointSubnet], [endpointGroup]);
            admitted = await lab.group(vpcId, "to-endpoint", { egress: [toGroup(endpointGroup)] });
            tight = await lab.group(vpcId, "admitted-but-no-egress", { egress: [toPrefixList(await lab.s3PrefixList())] });
            open = await lab.group(vpcId, "anywhere-not-admitted", { egress: [toCidr(ANYWHERE)] });
            await lab.allow(endpointGroup, { ingress: [toGroup(admitted), toGroup(tight)] });
        });

        it("is reachable when the host's egress names the endpoint's group and the endpoint's ingress admits the host", async () => {
            await expectAll(await lab.host(hostSubnet, [admitted]), [
                [service("ssm"), { reachable: true, via: "interface-endpoint", endpointId }],
                // Endpoints serve their own region only; the other region's ssm goes out, which this group does not allow.
                [service("ssm", OTHER_REGION), { reachable: false, reason: `${admitted} allows no egress to 0.0.0.0/0` }],
            ]);
        });

        it("is unreachable when the host's egress does not allow the endpoint, though the endpoint admits it", async () => {
            await expectAll(await lab.host(hostSubnet, [tight]), [
                [service("ssm"), { reachable: false, via: "interface-endpoint", endpointId, reason: `${tight} allows no egress to ${endpointId}` }],
            ]);
        });

        it("with 0.0.0.0/0 egress but the endpoint's ingress closed to the host it is unreachable: no fallback to NAT", async () => {
            await expectAll(await lab.host(hostSubnet, [open]), [
                [service("ssm"), { reachable: false, via: "interface-endpoint", endpointId, reason: `${endpointGroup} allows no ingress from 10.5.1.` }],
                [service("ec2messages"), { reachable: true, via: "nat-gateway" }],
            ]);
        });

        it("CIDR rules work too: egress covering the endpoint's subnet, ingress covering the host's", async () => {
            const cidrSubnet = await lab.subnet(vpcId, "10.5.3.0/24");
            await lab.allow(endpointGroup, { ingress: [toCidr("10.5.3.0/24")] });
            const host = await lab.host(cidrSubnet.subnetId, [await lab.group(vpcId, "by-cidr", { egress: [toCidr("10.5.2.0/24")] })]);
            await expectAll(host, [[service("ssm"), { reachable: true, via: "interface-endpoint", endpointId }]]);
            const narrow = await lab.host(cidrSubnet.subnetId, [await lab.group(vpcId, "too-narrow", { egress: [toCidr("10.5.2.0/25")] })]);
            await expectAll(narrow, [[service("ssm"), { reachable: false, reason: "allows no egress to" }]]);
        });

        it("the endpoint subnet's NACL must admit the host (NACLs filter between subnets)", async () => {
            const net = await readInstanceNetwork(lab.ec2, await lab.host(hostSubnet, [admitted]));
            const closed = edited(net, (copy) => {
                copy.networkAcls["acl-closed"] = { networkAclId: "acl-closed", isDefault: false, entries: [] };
                copy.subnets[endpointSubnet].networkAclId = "acl-closed";
            });
            check(reach(closed, service("ssm")), { reachable: false, via: "interface-endpoint", reason: `acl-closed (${endpointSubnet}) inbound rule * denies tcp 443` }, "closed NACL");
        });

        it("a pending endpoint already takes the service's names but does not answer yet", async () => {
            const net = await readInstanceNetwork(lab.ec2, await lab.host(hostSubnet, [admitted]));
            const waiting = edited(net, (copy) => copy.endpoints.filter((e) => e.endpointId === endpointId).forEach((e) => { e.state = "pending"; }));
            check(reach(waiting, service("ssm")), { reachable: false, via: "interface-endpoint", endpointId, reason: "is pending" }, "pending");
        });

        it("without private DNS (on the endpoint, or the VPC's DNS hostnames off) the service's name resolves publicly", async () => {
            const kms = await lab.interfaceEndpoint(vpcId, "kms", [endpointSubnet], [endpointGroup], false);
            const host = await lab.host(hostSubnet, [open]);
            await expectAll(host, [[service("kms"), { reachable: true, via: "nat-gateway" }]]);
            assert.ok((await readInstanceNetwork(lab.ec2, host)).endpoints.some((e) => e.endpointId === kms && !e.privateDns));
            await lab.dnsHostnames(vpcId, false);
            try {
                await expectAll(host, [[service("ssm"), { reachable: true, via: "nat-gateway" }]]);
            } finally {
                await lab.dnsHostnames(vpcId, true);
            }
        });

        it("an endpoint created without groups has the VPC's default group (moto lists none), which here admits nobody", async () => {
            const sts = await lab.interfaceEndpoint(vpcId, "sts", [endpointSubnet], undefined);
            const net = await readInstanceNetwork(lab.ec2, await lab.host(hostSubnet, [open]));
            const defaultGroup = net.vpc.defaultGroupId ?? "";
            assert.ok(defaultGroup.startsWith("sg-"));
            assert.deepStrictEqual(net.endpoints.find((e) => e.endpointId === sts)?.groupIds, [defaultGroup]);
            check(reach(net, service("sts")), { reachable: false, endpointId: sts, reason: `${defaultGroup} allows no ingress` }, "default group");
        });
    });

    describe("a network ACL", () => {
        let vpcId: string;
        let groupId: string;
        let igwId: string;
        let subnets = 0;

        before(async () => {
            ({ vpcId } = await lab.vpc("10.6.0.0/16"));
            igwId = await lab.internetGateway(vpcId);
            groupId = await lab.group(vpcId, "acl-443", { egress: [toCidr(ANYWHERE)] });
        });

        /** A public host in a new subnet routed to the internet gateway, whose NACL holds `entries`. */
        async function hostBehind(entries: AclEntry[]): Promise<{ host: string; aclId: string; subnetId: string }> {
            const { subnetId, routeTableId } = await lab.subnet(vpcId, `10.6.${++subnets}.0/24`);
            await lab.route(routeTableId, ANYWHERE, { GatewayId: igwId });
            const aclId = await lab.networkAcl(vpcId, subnetId, entries);
            return { host: await lab.host(subnetId, [groupId], { publicIp: true }), aclId, subnetId };
        }

        const allowAll = (egress: boolean, rule = 100): AclEntry => ({ rule, egress, allow: true, protocol: "-1" });

        it("denying outbound 443 makes S3 unreachable (the reason names the ACL and rule)", async () => {
            const { host, aclId, subnetId } = await hostBehind([{ rule: 90, egress: true, allow: false, protocol: "6", ports: [443, 443] }, allowAll(true), allowAll(false)]);
            check(await canReach(lab.ec2, host, s3(OTHER_REGION)), { reachable: false, reason: `${aclId} (${subnetId}) outbound rule 90 denies tcp 443 to 0.0.0.0/0` }, "deny 443");
            check(await canReach(lab.ec2, host, { ...s3(OTHER_REGION), port: 8443 }), { reachable: false, reason: `${groupId} allows no egress` }, "the group decides 8443");
        });

        it("is stateless: the return traffic on the ephemeral ports must be allowed inbound", async () => {
            const closed = await hostBehind([
                { rule: 100, egress: true, allow: true, protocol: "6", ports: [443, 443] },
                { rule: 100, egress: false, allow: true, protocol: "6", ports: [22, 22] },
            ]);
            check(await canReach(lab.ec2, closed.host, s3(OTHER_REGION)), { reachable: false, reason: `${closed.aclId} (${closed.subnetId}) inbound rule * denies return traffic tcp 1024-65535 from 0.0.0.0/0` }, "closed");
            const narrow = await hostBehind([
                { rule: 100, egress: true, allow: true, protocol: "6", ports: [443, 443] },
                { rule: 100, egress: false, allow: true, protocol: "6", ports: [32768, 60999] },
            ]);
            check(await canReach(lab.ec2, narrow.host, s3(OTHER_REGION)), { reachable: false, reason: "return traffic tcp 1024-65535" }, "Linux range only");
            const open = await hostBehind([
                { rule: 100, egress: true, allow: true, protocol: "6", ports: [443, 443] },
                { rule: 100, egress: false, allow: true, protocol: "6", ports: [1024, 65535] },
            ]);
            check(await canReach(lab.ec2, open.host, s3(OTHER_REGION)), { reachable: true, via: "internet-gateway" }, "open");
        });

        it("for an unknown public address, rules on private blocks do not apply and a partial public deny closes the path", async () => {
            const privateDeny = await hostBehind([{ rule: 50, egress: true, allow: false, protocol: "-1", cidr: "10.0.0.0/8" }, allowAll(true), allowAll(false)]);
            check(await canReach(lab.ec2, privateDeny.host, s3(OTHER_REGION)), { reachable: true, via: "internet-gateway" }, "deny 10/8");
            const publicDeny = await hostBehind([{ rule: 50, egress: true, allow: false, protocol: "-1", cidr: "52.0.0.0/8" }, allowAll(true), allowAll(false)]);
            check(await canReach(lab.ec2, publicDeny.host, s3(OTHER_REGION)), { reachable: false, reason: "outbound rule 50 denies" }, "deny 52/8");
        });
    });

    describe("IPv6 through an egress-only internet gateway", () => {
        let eigw: string;
        let groupId: string;
        let host: string;
        let v4Only: string;

        before(async () => {
            const { vpcId, ipv6Cidr } = await lab.vpc("10.7.0.0/16", true);
            const { subnetId, routeTableId } = await lab.subnet(vpcId, "10.7.1.0/24", (ipv6Cidr ?? "").replace(/\/56$/, "/64"));
            eigw = (await lab.ec2.send(new CreateEgressOnlyInternetGatewayCommand({ VpcId: vpcId }))).EgressOnlyInternetGateway?.EgressOnlyInternetGatewayId ?? "";
            await lab.route(routeTableId, ANYWHERE_V6, { EgressOnlyInternetGatewayId: eigw });
            groupId = await lab.group(vpcId, "v6-443", { egress: [toCidr(ANYWHERE_V6)] });
            host = await lab.host(subnetId, [groupId], { ipv6: true });
            v4Only = await lab.host(subnetId, [groupId]);
        });

        it("reaches ::/0 on 443 from a host with an IPv6 address; IPv4 (the clients' default) has no path", async () => {
            const v6 = (d: Destination): Destination => ({ ...d, addressFamily: "ipv6" });
            await expectAll(host, [
                [v6(s3(OTHER_REGION)), { reachable: true, via: "egress-only-internet-gateway", reason: eigw }],
                [v6(service("ssm")), { reachable: true, via: "egress-only-internet-gateway" }],
                [{ ...s3(OTHER_REGION), addressFamily: "dual-stack" }, { reachable: true, via: "egress-only-internet-gateway" }],
                [s3(OTHER_REGION), { reachable: false, reason: groupId }],
            ]);
            await expectAll(v4Only, [[v6(s3(OTHER_REGION)), { reachable: false, reason: "has no IPv6 address" }]]);
        });

        it("the default NACL allows IPv6 as on AWS (moto lists no IPv6 entries; the read adds AWS's)", async () => {
            const net = await readInstanceNetwork(lab.ec2, host);
            assert.ok(net.notes.some((n) => n.includes("default NACL without IPv6 entries")), JSON.stringify(net.notes));
        });
    });

    describe("ssmAgentReachable: ssm and ec2messages (or, for newer agents, ssmmessages)", () => {
        let vpcId: string;
        let subnetId: string;
        let endpointGroup: string;
        let host: string;
        let outsider: string;

        before(async () => {
            ({ vpcId } = await lab.vpc("10.8.0.0/16"));
            ({ subnetId } = await lab.subnet(vpcId, "10.8.1.0/24"));
            endpointGroup = await lab.group(vpcId, "agent-endpoints", {});
            const hostGroup = await lab.group(vpcId, "agent", { egress: [toGroup(endpointGroup)] });
            await lab.allow(endpointGroup, { ingress: [toGroup(hostGroup)] });
            await lab.interfaceEndpoint(vpcId, "ssm", [subnetId], [endpointGroup]);
            host = await lab.host(subnetId, [hostGroup]);
            outsider = await lab.host(subnetId, [await lab.group(vpcId, "not-admitted", { egress: [toGroup(endpointGroup)] })]);
        });

        const agent = async (instanceId: string, channel?: Parameters<typeof ssmAgentReachable>[1]) =>
            ssmAgentReachable(await readInstanceNetwork(lab.ec2, instanceId), channel);

        it("is false with an ssm endpoint alone (ec2messages has no path)", async () => {
            const result = await agent(host);
            check(result, { reachable: false, reason: "ec2messages: " }, "ssm endpoint only");
            check(result.services.ssm, { reachable: true, via: "interface-endpoint" }, "ssm");
        });

        it("with an ssmmessages endpoint: true for agents that take commands through it, still false for ec2messages", async () => {
            await lab.interfaceEndpoint(vpcId, "ssmmessages", [subnetId], [endpointGroup]);
            check(await agent(host, "either"), { reachable: true, reason: "ssmmessages: via vpce-" }, "either");
            check(await agent(host), { reachable: false, reason: "ec2messages" }, "ec2messages");
        });

        it("is true with ssm and ec2messages endpoints", async () => {
            await lab.interfaceEndpoint(vpcId, "ec2messages", [subnetId], [endpointGroup]);
            check(await agent(host), { reachable: true, reason: "ec2messages: via vpce-" }, "ssm + ec2messages");
        });

        it("is false for a host the endpoints' group does not admit", async () => {
            check(await agent(outsider), { reachable: false, reason: `${endpointGroup} allows no ingress` }, "not admitted");
        });
    });
});
