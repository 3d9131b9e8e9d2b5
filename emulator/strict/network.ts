/**
 * A network reachability model for one EC2 instance: can the host open a TCP connection to an AWS
 * service in some region right now, the way AWS's network would decide it?
 *
 *   const net = await readInstanceNetwork(ec2, "i-0123");            // everything it depends on, read once
 *   reach(net, { service: "s3", region: "us-east-1" });              // pure: { reachable, via, reason }
 *   ssmAgentReachable(net);                                          // ssm + ec2messages (Run Command)
 *
 * The emulator uses it to decide whether the acquisition-isolation group (functions/response/securityGroups.ts)
 * still lets SSM deliver the memory-capture command and the host upload to S3 through presigned URLs.
 *
 * Modelled, in the order a packet meets them: the primary ENI's security groups (egress; stateful),
 * the subnet's network ACL (stateless, both directions), name resolution (interface endpoints with
 * private DNS take their service's names), the subnet's route table (gateway endpoints, internet,
 * NAT and egress-only gateways) and the NAT gateway's own subnet. Not modelled: endpoint and bucket
 * policies, IAM, peering/transit/VPN/appliance routes (such a route makes the destination
 * unreachable here), custom DNS, and which exact public address a service name resolves to.
 *
 * What moto 5.2.1 lacks, and what the read does about it (each is recorded in `notes`):
 * - a default VPC has no internet gateway or default route: AWS's are assumed (withDefaultVpcGateway);
 * - a default NACL has no IPv6 entries: AWS's rules 101 are assumed (withDefaultIpv6);
 * - an interface endpoint created without groups lists none: the VPC's default group is assumed;
 * - endpoint ENIs get addresses outside their subnet and the VPC's default group: the subnet's CIDR
 *   stands for the address, and the endpoint's own groups (as DescribeVpcEndpoints lists them) apply;
 * - routes stay "active" when their NAT gateway is deleted or their internet gateway detached: the
 *   gateway's state is checked, not just the route's;
 * - ModifyInstanceAttribute leaves the ENI's groups old + new: groups are read from the ENI.
 * Not worked around: moto's default security group has no self-referencing ingress rule (AWS's has).
 */
import {
    DescribeInstancesCommand, DescribeNetworkInterfacesCommand, DescribeVpcAttributeCommand, DescribeVpcsCommand, EC2Client, Instance,
    IpPermission, NetworkAcl, NetworkAclEntry, NetworkInterface, Route, RouteTable, SecurityGroup, VpcEndpoint,
    paginateDescribeEgressOnlyInternetGateways, paginateDescribeInternetGateways, paginateDescribeManagedPrefixLists,
    paginateDescribeNatGateways, paginateDescribeNetworkAcls, paginateDescribeRouteTables, paginateDescribeSecurityGroups,
    paginateDescribeSubnets, paginateDescribeVpcEndpoints, paginateGetManagedPrefixListEntries,
} from "@aws-sdk/client-ec2";

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/**
 * Which addresses the client uses. AWS SDKs and the SSM agent use IPv4-only endpoint names unless
 * dual-stack endpoints are configured (e.g. s3.dualstack.<region>.amazonaws.com), hence the default.
 */
export type AddressFamily = "ipv4" | "ipv6" | "dual-stack";

export interface Destination {
    service: string;
    region: string;
    /** Default 443. */
    port?: number;
    /** Default "ipv4"; "dual-stack" is reachable when either family is (clients fall back). */
    addressFamily?: AddressFamily;
}

/** Stands for the internet gateway of a default VPC whose gateway EC2 does not list (see withDefaultVpcGateway). */
export const DEFAULT_VPC_GATEWAY = "igw-of-the-default-vpc";

export type Via = "gateway-endpoint" | "interface-endpoint" | "internet-gateway" | "nat-gateway" | "egress-only-internet-gateway";

export interface Reachability {
    reachable: boolean;
    /** The path the traffic takes; also set when unreachable once the path is decided (e.g. an endpoint's private DNS). */
    via?: Via;
    endpointId?: string;
    /** One line saying why, naming the deciding group/route/endpoint (e.g. "sg-123 allows no egress to pl-68a54001 on tcp 443"). */
    reason: string;
}

/** One security group rule with one peer; protocol is "-1" (all), "tcp", "udp", "icmp"... */
export interface SgRule {
    protocol: string;
    fromPort?: number;
    toPort?: number;
    /** IPv4 or IPv6 CIDR. */
    cidr?: string;
    prefixListId?: string;
    groupId?: string;
}

export interface SecurityGroupInfo {
    groupId: string;
    groupName?: string;
    ingress: SgRule[];
    egress: SgRule[];
}

export interface NaclEntry {
    ruleNumber: number;
    egress: boolean;
    allow: boolean;
    /** "-1" (all), "tcp", "udp", ... (NACLs report protocol numbers; "6" is normalised to "tcp"). */
    protocol: string;
    fromPort?: number;
    toPort?: number;
    /** IPv4 or IPv6 CIDR. */
    cidr: string;
}

export interface NetworkAclInfo {
    networkAclId: string;
    isDefault: boolean;
    entries: NaclEntry[];
}

export interface RouteInfo {
    /** IPv4 or IPv6 destination CIDR; absent for prefix-list routes. */
    destination?: string;
    prefixListId?: string;
    /** igw-…, nat-…, eigw-…, vpce-…, local, pcx-…, tgw-…, eni-…, i-… */
    target: string;
    /** "active" or "blackhole". */
    state: string;
}

export interface RouteTableInfo {
    routeTableId: string;
    main: boolean;
    routes: RouteInfo[];
}

export interface SubnetInfo {
    subnetId: string;
    cidr: string;
    ipv6Cidrs: string[];
    availabilityZone?: string;
    /** The explicitly associated table, else the VPC's main table. */
    routeTableId?: string;
    networkAclId?: string;
}

export interface EndpointInterface {
    networkInterfaceId: string;
    subnetId: string;
    privateIp?: string;
}

export interface EndpointInfo {
    endpointId: string;
    /** "interface", "gateway", "gatewayloadbalancer", ... (lower case). */
    type: string;
    serviceName: string;
    /** Lower case: "available", "pending", "deleting", ... */
    state: string;
    routeTableIds: string[];
    subnetIds: string[];
    /** The endpoint's security groups (those of its network interfaces). */
    groupIds: string[];
    privateDns: boolean;
    networkInterfaces: EndpointInterface[];
}

export interface PrefixListInfo {
    prefixListId: string;
    name?: string;
    /** Undefined when the entries could not be read. */
    cidrs?: string[];
}

export interface NatGatewayInfo {
    natGatewayId: string;
    state: string;
    subnetId?: string;
    /** "public" or "private". */
    connectivityType: string;
}

/** Everything about an instance's network that reachability depends on, read from EC2 at one moment. */
export interface InstanceNetwork {
    readAt: string;
    /** The instance's (and so the VPC's) region. */
    region: string;
    instance: { instanceId: string; state: string };
    vpc: { vpcId: string; isDefault: boolean; cidrs: string[]; ipv6Cidrs: string[]; dnsSupport: boolean; dnsHostnames: boolean; defaultGroupId?: string };
    /** The primary ENI (device index 0): the host's traffic leaves through it. */
    eni: {
        networkInterfaceId: string;
        subnetId: string;
        privateIp: string;
        privateIps: string[];
        publicIp?: string;
        ipv6Addresses: string[];
        groupIds: string[];
    };
    /** Every subnet of the VPC, by id. */
    subnets: Record<string, SubnetInfo>;
    routeTables: Record<string, RouteTableInfo>;
    networkAcls: Record<string, NetworkAclInfo>;
    /** The ENI's groups and the interface endpoints' groups. */
    securityGroups: Record<string, SecurityGroupInfo>;
    endpoints: EndpointInfo[];
    /** The region's gateway-service lists and every list a rule or route names. */
    prefixLists: Record<string, PrefixListInfo>;
    /** Internet gateways attached to the VPC. */
    internetGateways: string[];
    /** Egress-only internet gateways attached to the VPC. */
    egressOnlyInternetGateways: string[];
    natGateways: Record<string, NatGatewayInfo>;
    /** What had to be assumed or worked around while reading (emulator gaps, failed reads). */
    notes: string[];
}

// ---------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------

/** An inclusive address range of one family. */
interface Range {
    v6: boolean;
    first: bigint;
    last: bigint;
}

function parseIpv4(text: string): bigint | undefined {
    const parts = text.split(".");
    if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
        return undefined;
    }
    return parts.reduce((n, p) => (n << 8n) | BigInt(p), 0n);
}

function parseHextets(text: string): bigint[] | undefined {
    if (text === "") {
        return [];
    }
    const out: bigint[] = [];
    for (const part of text.split(":")) {
        const v4 = part.includes(".") ? parseIpv4(part) : undefined;
        if (v4 !== undefined) {
            out.push(v4 >> 16n, v4 & 0xffffn);
        } else if (/^[0-9a-f]{1,4}$/i.test(part)) {
            out.push(BigInt(`0x${part}`));
        } else {
            return undefined;
        }
    }
    return out;
}

function parseIpv6(text: string): bigint | undefined {
    const halves = text.split("::");
    if (halves.length > 2) {
        return undefined;
    }
    const head = parseHextets(halves[0]);
    const tail = halves.length === 2 ? parseHextets(halves[1]) : [];
    if (!head || !tail) {
        return undefined;
    }
    const zeros = 8 - head.length - tail.length;
    if (zeros < 0 || (halves.length === 1 && zeros !== 0)) {
        return undefined;
    }
    return [...head, ...Array<bigint>(zeros).fill(0n), ...tail].reduce((n, h) => (n << 16n) | h, 0n);
}

/** A CIDR ("10.0.0.0/16", "::/0") or a single address as a range; undefined when malformed. */
function parseRange(text: string): Range | undefined {
    const [address, length] = text.trim().split("/");
    const v6 = address.includes(":");
    const value = v6 ? parseIpv6(address) : parseIpv4(address);
    const width = v6 ? 128 : 32;
    const bits = length === undefined ? width : Number(length);
    if (value === undefined || !Number.isInteger(bits) || bits < 0 || bits > width) {
        return undefined;
    }
    const host = (1n << BigInt(width - bits)) - 1n;
    return { v6, first: value & ~host, last: value | host };
}

function covers(outer: string, inner: string): boolean {
    const a = parseRange(outer);
    const b = parseRange(inner);
    return !!a && !!b && a.v6 === b.v6 && a.first <= b.first && b.last <= a.last;
}

function overlaps(x: string, y: string): boolean {
    const a = parseRange(x);
    const b = parseRange(y);
    return !!a && !!b && a.v6 === b.v6 && a.first <= b.last && b.first <= a.last;
}

const isV6 = (cidr: string) => cidr.includes(":");
const ALL_V4 = "0.0.0.0/0";
const ALL_V6 = "::/0";

/**
 * Address space no public service address is in (RFC 6890 special-purpose blocks): a rule that only
 * covers these says nothing about a public destination.
 */
const NON_PUBLIC = [
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/3",
    "::1/128", "fc00::/7", "fe80::/10", "ff00::/8",
];
const nonPublic = (cidr: string) => NON_PUBLIC.some((block) => covers(block, cidr));

// ---------------------------------------------------------------------------------------------
// Peers and ports
// ---------------------------------------------------------------------------------------------

/** The other end of a connection, as the rules see it. */
interface Peer {
    label: string;
    /** Every one of these must be allowed: which address inside them is used is not known. */
    ranges: string[];
    /** An unknown public address: rules covering only non-public space do not apply to it. */
    public?: boolean;
    /** Security group rules naming this prefix list match the peer. */
    prefixListId?: string;
    /** Security group rules naming one of these groups match the peer. */
    groupIds?: string[];
}

type Ports = readonly [number, number];

/**
 * Return traffic reaches the client's ephemeral port, which the client's OS picks: a NACL must allow
 * all of 1024-65535 to be sure of it.
 * https://docs.aws.amazon.com/vpc/latest/userguide/nacl-ephemeral-ports.html
 */
const EPHEMERAL: Ports = [1024, 65535];

/** Normalises a protocol as EC2 reports it ("-1", "tcp", "6", "all") to "-1" / "tcp" / the name. */
function protocolOf(value: string | undefined): string {
    const p = (value ?? "-1").toLowerCase();
    return p === "6" ? "tcp" : p === "17" ? "udp" : p === "all" ? "-1" : p;
}

/** The ports a TCP-matching rule covers; all of them for protocol "-1" or an absent range. */
function rulePorts(rule: { protocol: string; fromPort?: number; toPort?: number }): Ports {
    if (rule.protocol === "-1" || rule.fromPort === undefined || rule.fromPort < 0) {
        return [0, 65535];
    }
    return [rule.fromPort, rule.toPort ?? rule.fromPort];
}

const carriesTcp = (protocol: string) => protocol === "-1" || protocol === "tcp";
const portsCover = (outer: Ports, inner: Ports) => outer[0] <= inner[0] && inner[1] <= outer[1];
const portsOverlap = (a: Ports, b: Ports) => a[0] <= b[1] && b[0] <= a[1];
const showPorts = (p: Ports) => (p[0] === p[1] ? `${p[0]}` : `${p[0]}-${p[1]}`);

// ---------------------------------------------------------------------------------------------
// Security groups
// ---------------------------------------------------------------------------------------------

/**
 * Whether one rule lets TCP `port` reach every address of `peer`'s `range`: by CIDR, by a prefix list
 * (named by the peer, or whose CIDRs cover the range) or by naming a group the peer's ENIs carry.
 * https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html
 */
function sgRuleAllows(net: InstanceNetwork, rule: SgRule, peer: Peer, range: string, port: number): boolean {
    if (!carriesTcp(rule.protocol) || !portsCover(rulePorts(rule), [port, port])) {
        return false;
    }
    if (rule.groupId) {
        return peer.groupIds?.includes(rule.groupId) ?? false;
    }
    if (rule.prefixListId) {
        const cidrs = net.prefixLists[rule.prefixListId]?.cidrs ?? [];
        return rule.prefixListId === peer.prefixListId || cidrs.some((c) => covers(c, range));
    }
    return rule.cidr !== undefined && covers(rule.cidr, range);
}

/** Security groups only allow, so a peer passes when each of its ranges is allowed by some rule. */
function sgRulesAllow(net: InstanceNetwork, rules: SgRule[], peer: Peer, port: number): boolean {
    return peer.ranges.every((range) => rules.some((rule) => sgRuleAllows(net, rule, peer, range, port)));
}

function rulesOf(net: InstanceNetwork, groupIds: string[], direction: "ingress" | "egress"): SgRule[] {
    return groupIds.flatMap((id) => net.securityGroups[id]?.[direction] ?? []);
}

const groupList = (ids: string[]) => (ids.length > 0 ? ids.join(", ") : "no security group");
const verb = (ids: string[], singular: string) => (ids.length === 1 ? `${singular}s` : singular);

/**
 * The host's egress: its primary ENI's groups must allow the connection out; return traffic is
 * allowed because security groups are stateful.
 * https://docs.aws.amazon.com/vpc/latest/userguide/vpc-security-groups.html
 */
function hostEgress(net: InstanceNetwork, peer: Peer, port: number): string | undefined {
    const ids = net.eni.groupIds;
    return sgRulesAllow(net, rulesOf(net, ids, "egress"), peer, port)
        ? undefined
        : `${groupList(ids)} ${verb(ids, "allow")} no egress to ${peer.label} on tcp ${port}`;
}

/** The host as the other end of a connection (its primary private address and its groups). */
function hostPeer(net: InstanceNetwork): Peer {
    return { label: `${net.eni.privateIp} (${groupList(net.eni.groupIds)})`, ranges: [net.eni.privateIp], groupIds: net.eni.groupIds };
}

/**
 * The endpoint's groups must admit the host on the port.
 * https://docs.aws.amazon.com/vpc/latest/privatelink/create-interface-endpoint.html
 */
function endpointIngress(net: InstanceNetwork, endpoint: EndpointInfo, port: number): string | undefined {
    const ids = endpoint.groupIds;
    const host = hostPeer(net);
    return sgRulesAllow(net, rulesOf(net, ids, "ingress"), host, port)
        ? undefined
        : `${endpoint.endpointId}'s ${groupList(ids)} ${verb(ids, "allow")} no ingress from ${host.label} on tcp ${port}`;
}

// ---------------------------------------------------------------------------------------------
// Network ACLs
// ---------------------------------------------------------------------------------------------

interface NaclDecision {
    allowed: boolean;
    rule: string;
}

/**
 * The first rule (lowest number) that matches decides. For a peer range (an address not known
 * exactly) a rule that covers the whole range and the needed ports decides; a deny that touches part
 * of it denies (some address or port would be dropped); an allow that touches only part of it leaves
 * the rest to later rules. No match: the implicit "*" rule denies.
 * https://docs.aws.amazon.com/vpc/latest/userguide/nacl-rules.html
 */
function naclDecide(acl: NetworkAclInfo, egress: boolean, peer: Peer, range: string, ports: Ports): NaclDecision {
    const entries = acl.entries
        .filter((e) => e.egress === egress && carriesTcp(e.protocol) && isV6(e.cidr) === isV6(range))
        .sort((a, b) => a.ruleNumber - b.ruleNumber);
    for (const entry of entries) {
        const matched = overlaps(entry.cidr, range) && portsOverlap(rulePorts(entry), ports);
        if (!matched || (peer.public && nonPublic(entry.cidr))) {
            continue;
        }
        const whole = covers(entry.cidr, range) && portsCover(rulePorts(entry), ports);
        if (!entry.allow || whole) {
            return { allowed: entry.allow, rule: `rule ${entry.ruleNumber}` };
        }
    }
    return { allowed: false, rule: "rule *" };
}

/** One direction of one NACL for every range of the peer; the failure, if any. */
function naclAllows(net: InstanceNetwork, subnetId: string, egress: boolean, peer: Peer, ports: Ports, what: string): string | undefined {
    const subnet = net.subnets[subnetId];
    const acl = subnet?.networkAclId ? net.networkAcls[subnet.networkAclId] : undefined;
    if (!acl) {
        return `no network ACL is known for ${subnetId}`;
    }
    for (const range of peer.ranges) {
        const decision = naclDecide(acl, egress, peer, range, ports);
        if (!decision.allowed) {
            const direction = egress ? "outbound" : "inbound";
            const toward = egress ? "to" : "from";
            return `${acl.networkAclId} (${subnetId}) ${direction} ${decision.rule} denies ${what}tcp ${showPorts(ports)} ${toward} ${peer.public ? peer.label : range}`;
        }
    }
    return undefined;
}

/**
 * A connection crossing a subnet's boundary: NACLs are stateless, so the request and the return
 * traffic (to the client's ephemeral port) must both be allowed. "out": the client side is inside
 * the subnet; "in": the server side is.
 * https://docs.aws.amazon.com/vpc/latest/userguide/vpc-network-acls.html
 */
function naclCrossing(net: InstanceNetwork, subnetId: string, side: "out" | "in", peer: Peer, port: number): string | undefined {
    const out = side === "out";
    return naclAllows(net, subnetId, out, peer, [port, port], "")
        ?? naclAllows(net, subnetId, !out, peer, EPHEMERAL, "return traffic ");
}

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

type Check = () => string | undefined;

/** The first failing check's reason, running no check after it. */
function firstFailure(checks: Check[]): string | undefined {
    for (const check of checks) {
        const failure = check();
        if (failure) {
            return failure;
        }
    }
    return undefined;
}

function routeTableOf(net: InstanceNetwork, subnetId: string): RouteTableInfo | undefined {
    const id = net.subnets[subnetId]?.routeTableId;
    return id ? net.routeTables[id] : undefined;
}

/**
 * The most specific CIDR route covering every range of the peer (longest prefix match).
 * https://docs.aws.amazon.com/vpc/latest/userguide/route-tables-priority.html
 */
function bestRoute(table: RouteTableInfo, peer: Peer): RouteInfo | undefined {
    const length = (r: RouteInfo) => Number(r.destination?.split("/")[1] ?? -1);
    return table.routes
        .filter((r) => r.destination !== undefined && peer.ranges.every((range) => covers(r.destination ?? "", range)))
        .sort((a, b) => length(b) - length(a))[0];
}

interface Hop {
    via: Via;
    gatewayId: string;
    checks: Check[];
}

type RouteResult = Hop | { failure: string };

/** Traffic toward `peer` leaving `subnetId`: from the host, or from a NAT gateway forwarding it. */
interface Leg {
    subnetId: string;
    peer: Peer;
    port: number;
    v6: boolean;
    /** Set when a NAT gateway sends the traffic on (from its own public address). */
    natGatewayId?: string;
}

/**
 * Where the subnet's table sends the peer's traffic, and what must hold for that gateway to carry it.
 * A blackhole route (its target deleted or detached) carries nothing.
 * https://docs.aws.amazon.com/vpc/latest/userguide/RouteTables.html
 */
function routeOut(net: InstanceNetwork, leg: Leg): RouteResult {
    const table = routeTableOf(net, leg.subnetId);
    if (!table) {
        return { failure: `no route table is known for ${leg.subnetId}` };
    }
    const route = bestRoute(table, leg.peer);
    const where = `${table.routeTableId} (${leg.subnetId})`;
    if (!route) {
        return { failure: `${where} has no route to ${leg.peer.label}` };
    }
    if (route.state === "blackhole") {
        return { failure: `${where} routes ${route.destination} to ${route.target}, a blackhole` };
    }
    const hop = gatewayHop(net, route.target, leg);
    return "failure" in hop ? { failure: `${where} routes ${route.destination} to ${route.target}, ${hop.failure}` } : hop;
}

function gatewayHop(net: InstanceNetwork, target: string, leg: Leg): RouteResult {
    if (target.startsWith("igw-") || target === DEFAULT_VPC_GATEWAY) {
        return internetGatewayHop(net, target, leg);
    }
    if (target.startsWith("eigw-")) {
        return egressOnlyHop(net, target, leg);
    }
    if (target.startsWith("nat-")) {
        return natGatewayHop(net, target, leg);
    }
    return { failure: target === "local" ? "which stays in the VPC" : "a target this model does not follow (peering, transit, VPN or appliance)" };
}

/**
 * An internet gateway must be attached to the VPC, and translates only for an ENI that has a public
 * IPv4 address (a NAT gateway has its own; IPv6 addresses are public already).
 * https://docs.aws.amazon.com/vpc/latest/userguide/VPC_Internet_Gateway.html
 */
function internetGatewayHop(net: InstanceNetwork, id: string, leg: Leg): RouteResult {
    if (!net.internetGateways.includes(id)) {
        return { failure: "which is not attached to the VPC (a blackhole)" };
    }
    const addressed = leg.natGatewayId !== undefined || (leg.v6 ? net.eni.ipv6Addresses.length > 0 : net.eni.publicIp !== undefined);
    if (!addressed) {
        return { failure: `but ${net.eni.networkInterfaceId} has no ${leg.v6 ? "IPv6" : "public IPv4"} address` };
    }
    return { via: "internet-gateway", gatewayId: id, checks: [] };
}

/**
 * An egress-only internet gateway carries IPv6 only, and must be attached to the VPC.
 * https://docs.aws.amazon.com/vpc/latest/userguide/egress-only-internet-gateway.html
 */
function egressOnlyHop(net: InstanceNetwork, id: string, leg: Leg): RouteResult {
    if (!leg.v6) {
        return { failure: "which carries IPv6 only" };
    }
    if (!net.egressOnlyInternetGateways.includes(id)) {
        return { failure: "which is not attached to the VPC (a blackhole)" };
    }
    return { via: "egress-only-internet-gateway", gatewayId: id, checks: [] };
}

/**
 * A NAT gateway must be available and public, and reaches the internet only through its own
 * subnet's route to an internet gateway; that subnet's NACL sees the host's traffic come in and go out.
 * https://docs.aws.amazon.com/vpc/latest/userguide/nat-gateway-basics.html
 */
function natGatewayHop(net: InstanceNetwork, id: string, leg: Leg): RouteResult {
    const nat = net.natGateways[id];
    if (leg.v6) {
        return { failure: "which carries IPv4 only (NAT64 is not modelled)" };
    }
    if (!nat || nat.state !== "available") {
        return { failure: `which is ${nat?.state ?? "unknown"} (a blackhole)` };
    }
    if (nat.connectivityType !== "public" || !nat.subnetId) {
        return { failure: "a private NAT gateway, which does not reach the internet" };
    }
    const natSubnet = nat.subnetId;
    const onward = routeOut(net, { ...leg, subnetId: natSubnet, natGatewayId: id });
    if ("failure" in onward) {
        return { failure: `but from its subnet ${onward.failure}` };
    }
    if (onward.via !== "internet-gateway") {
        return { failure: `but its subnet does not route ${leg.peer.label} to an internet gateway` };
    }
    const crossings: Check[] = natSubnet === leg.subnetId ? [] : [
        () => naclCrossing(net, natSubnet, "in", hostPeer(net), leg.port),
        () => naclCrossing(net, natSubnet, "out", leg.peer, leg.port),
    ];
    return { via: "nat-gateway", gatewayId: id, checks: crossings };
}

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

const GATEWAY_SERVICES = ["s3", "dynamodb"];
/** Endpoints in these states take their service's traffic; only available ones answer. */
const USABLE_STATES = ["available", "pending"];

const serviceName = (region: string, service: string) => `com.amazonaws.${region}.${service}`;
function unreachable(reason: string, path: { via?: Via; endpointId?: string } = {}): Reachability {
    return { reachable: false, ...(path.via ? { via: path.via } : {}), ...(path.endpointId ? { endpointId: path.endpointId } : {}), reason };
}

/** An endpoint that is still being created already owns its service's route or names, but does not answer yet. */
function pending(endpoint: EndpointInfo, via: Via): Reachability | undefined {
    return endpoint.state === "available"
        ? undefined
        : unreachable(`${endpoint.endpointId} (${via} for ${endpoint.serviceName}) is ${endpoint.state}`, { via, endpointId: endpoint.endpointId });
}

function prefixListNamed(net: InstanceNetwork, name: string): PrefixListInfo | undefined {
    return Object.values(net.prefixLists).find((p) => p.name === name);
}

/** A gateway service's own prefix list as a peer; all of 0.0.0.0/0 when its CIDRs are unknown. */
function prefixListPeer(list: PrefixListInfo | undefined, name: string): Peer {
    const known = list?.cidrs && list.cidrs.length > 0;
    return {
        label: list ? `${list.prefixListId} (${name})` : name,
        ranges: known ? list?.cidrs ?? [] : [ALL_V4],
        public: !known,
        prefixListId: list?.prefixListId,
    };
}

/**
 * The public path's peer. Addresses of other regions' services are not known here, so a rule must
 * cover every public address to count (CIDR 0.0.0.0/0 or ::/0, NACL rules on non-public blocks
 * aside): an approximation that can call a path closed that a narrower rule would open. A gateway
 * service of the VPC's own region resolves within its prefix list's CIDRs.
 */
function publicPeer(net: InstanceNetwork, service: string, region: string, v6: boolean): Peer {
    if (!v6 && region === net.region && GATEWAY_SERVICES.includes(service)) {
        const name = serviceName(region, service);
        const list = prefixListNamed(net, name);
        if (list?.cidrs?.length) {
            return prefixListPeer(list, name);
        }
    }
    const all = v6 ? ALL_V6 : ALL_V4;
    return { label: all, ranges: [all], public: true };
}

/**
 * Everything without an endpoint: egress, the subnet's NACL and a route to an internet gateway, NAT
 * gateway or (IPv6) egress-only internet gateway.
 * https://docs.aws.amazon.com/vpc/latest/userguide/VPC_Route_Tables.html
 */
function publicPath(net: InstanceNetwork, peer: Peer, port: number, v6: boolean, context: string): Reachability {
    const subnetId = net.eni.subnetId;
    const route = routeOut(net, { subnetId, peer, port, v6 });
    const hop = "failure" in route ? undefined : route;
    const failure = firstFailure([
        () => (v6 && net.eni.ipv6Addresses.length === 0 ? `${net.eni.networkInterfaceId} has no IPv6 address` : undefined),
        () => hostEgress(net, peer, port),
        () => naclCrossing(net, subnetId, "out", peer, port),
        () => ("failure" in route ? route.failure : firstFailure(route.checks)),
    ]);
    if (failure || !hop) {
        return unreachable(`${failure ?? "no route"}${context}`, { via: hop?.via });
    }
    const table = routeTableOf(net, subnetId)?.routeTableId;
    return { reachable: true, via: hop.via, reason: `${table} sends ${peer.label} to ${hop.gatewayId}; egress and network ACL allow tcp ${port}${context}` };
}

/**
 * Whether a gateway endpoint serves the subnet: the route table is one of the endpoint's, or holds
 * the endpoint's prefix-list route.
 * https://docs.aws.amazon.com/vpc/latest/privatelink/gateway-endpoints.html
 */
function servesTable(net: InstanceNetwork, endpoint: EndpointInfo, table: RouteTableInfo): boolean {
    const list = prefixListNamed(net, endpoint.serviceName);
    return endpoint.routeTableIds.includes(table.routeTableId)
        || table.routes.some((r) => r.target === endpoint.endpointId && r.state !== "blackhole" && (!list || r.prefixListId === list.prefixListId));
}

function endpointsFor(net: InstanceNetwork, type: string, name: string): EndpointInfo[] {
    return net.endpoints.filter((e) => e.type === type && e.serviceName === name && USABLE_STATES.includes(e.state));
}

/**
 * Through a gateway endpoint (same region only; the route to the prefix list beats the default
 * route): egress must allow the service's prefix list (or a CIDR covering all of it), and the NACL
 * its CIDRs. https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html
 */
function gatewayPath(net: InstanceNetwork, endpoint: EndpointInfo, port: number): Reachability {
    const path = { via: "gateway-endpoint" as const, endpointId: endpoint.endpointId };
    const peer = prefixListPeer(prefixListNamed(net, endpoint.serviceName), endpoint.serviceName);
    const failure = firstFailure([
        () => hostEgress(net, peer, port),
        () => naclCrossing(net, net.eni.subnetId, "out", peer, port),
    ]);
    const table = routeTableOf(net, net.eni.subnetId)?.routeTableId;
    return pending(endpoint, path.via) ?? (failure
        ? unreachable(`${failure} (${table} sends ${endpoint.serviceName} to ${endpoint.endpointId})`, path)
        : { reachable: true, ...path, reason: `${endpoint.endpointId} serves ${table}; egress and network ACL allow ${peer.label} on tcp ${port}` });
}

interface EndpointTarget {
    subnetId: string;
    peer: Peer;
}

/**
 * Where the endpoint's DNS name resolves: its network interfaces' addresses, or the whole subnet
 * when an address is unknown or outside it (moto draws endpoint addresses outside the subnet).
 * The host's own subnet comes first, then its zone: clients try the next address when one fails.
 */
function endpointTargets(net: InstanceNetwork, endpoint: EndpointInfo): EndpointTarget[] {
    const bySubnet = new Map(endpoint.subnetIds.map((id) => [id, undefined as string | undefined]));
    for (const eni of endpoint.networkInterfaces) {
        const cidr = net.subnets[eni.subnetId]?.cidr;
        bySubnet.set(eni.subnetId, eni.privateIp && cidr && covers(cidr, eni.privateIp) ? eni.privateIp : bySubnet.get(eni.subnetId));
    }
    const zone = net.subnets[net.eni.subnetId]?.availabilityZone;
    const rank = (id: string) => (id === net.eni.subnetId ? 0 : net.subnets[id]?.availabilityZone === zone ? 1 : 2);
    return [...bySubnet.entries()]
        .filter(([id]) => net.subnets[id])
        .sort(([a], [b]) => rank(a) - rank(b))
        .map(([subnetId, ip]) => {
            const range = ip ?? net.subnets[subnetId].cidr;
            return { subnetId, peer: { label: `${endpoint.endpointId} (${groupList(endpoint.groupIds)}, ${range})`, ranges: [range], groupIds: endpoint.groupIds } };
        });
}

/**
 * NACLs filter traffic entering and leaving a subnet, not traffic within it.
 * https://docs.aws.amazon.com/vpc/latest/userguide/vpc-network-acls.html
 */
function endpointChecks(net: InstanceNetwork, endpoint: EndpointInfo, target: EndpointTarget, port: number): Check[] {
    const checks: Check[] = [() => hostEgress(net, target.peer, port), () => endpointIngress(net, endpoint, port)];
    if (target.subnetId !== net.eni.subnetId) {
        checks.push(
            () => naclCrossing(net, net.eni.subnetId, "out", target.peer, port),
            () => naclCrossing(net, target.subnetId, "in", hostPeer(net), port),
        );
    }
    return checks;
}

/**
 * Through an interface endpoint whose private DNS has taken the service's name in the VPC: only this
 * path exists for the service then. The host's egress must allow the endpoint (its group, or a CIDR
 * covering its address) and the endpoint's groups must admit the host.
 * https://docs.aws.amazon.com/vpc/latest/privatelink/privatelink-access-aws-services.html
 */
function interfacePath(net: InstanceNetwork, endpoint: EndpointInfo, port: number): Reachability {
    const path = { via: "interface-endpoint" as const, endpointId: endpoint.endpointId };
    const waiting = pending(endpoint, path.via);
    if (waiting) {
        return waiting;
    }
    const prefix = `${endpoint.serviceName} resolves to ${endpoint.endpointId} (private DNS)`;
    let firstReason: string | undefined;
    for (const target of endpointTargets(net, endpoint)) {
        const failure = firstFailure(endpointChecks(net, endpoint, target, port));
        if (!failure) {
            return { reachable: true, ...path, reason: `${prefix}: ${target.peer.label} in ${target.subnetId} admits the host on tcp ${port}` };
        }
        firstReason ??= failure;
    }
    return unreachable(`${prefix}: ${firstReason ?? "it has no network interface in any subnet"}`, path);
}

/**
 * Private DNS needs the VPC's DNS resolution and DNS hostnames attributes; without them the
 * service's public name resolves publicly.
 * https://docs.aws.amazon.com/vpc/latest/privatelink/privatelink-access-aws-services.html
 */
function privateDnsEndpoint(net: InstanceNetwork, service: string): EndpointInfo | undefined {
    if (!net.vpc.dnsSupport || !net.vpc.dnsHostnames) {
        return undefined;
    }
    return endpointsFor(net, "interface", serviceName(net.region, service)).find((e) => e.privateDns);
}

function gatewayEndpointFor(net: InstanceNetwork, service: string): { serving?: EndpointInfo; unassociated?: EndpointInfo } {
    const table = routeTableOf(net, net.eni.subnetId);
    const all = GATEWAY_SERVICES.includes(service) ? endpointsFor(net, "gateway", serviceName(net.region, service)) : [];
    return { serving: table ? all.find((e) => servesTable(net, e, table)) : undefined, unassociated: all[0] };
}

function reachFamily(net: InstanceNetwork, dest: Destination, port: number, v6: boolean): Reachability {
    const service = dest.service.toLowerCase();
    let context = "";
    // Endpoints reach only their own region's service.
    if (dest.region === net.region) {
        // The gateway endpoint's prefix-list route wins over an S3 interface endpoint for its subnets.
        // https://docs.aws.amazon.com/AmazonS3/latest/userguide/privatelink-interface-endpoints.html
        const gateway = v6 ? {} : gatewayEndpointFor(net, service);
        if (gateway.serving) {
            return gatewayPath(net, gateway.serving, port);
        }
        const endpoint = privateDnsEndpoint(net, service);
        if (endpoint) {
            return interfacePath(net, endpoint, port);
        }
        if (gateway.unassociated) {
            context = ` (gateway endpoint ${gateway.unassociated.endpointId} does not serve ${net.subnets[net.eni.subnetId]?.routeTableId ?? "this subnet's route table"})`;
        }
    }
    return publicPath(net, publicPeer(net, service, dest.region, v6), port, v6, context);
}

/** Whether the host can connect to `dest` given `net` (pure). */
export function reach(net: InstanceNetwork, dest: Destination): Reachability {
    if (net.instance.state !== "running") {
        return unreachable(`${net.instance.instanceId} is ${net.instance.state}`);
    }
    const port = dest.port ?? 443;
    const family = dest.addressFamily ?? "ipv4";
    if (family !== "dual-stack") {
        return reachFamily(net, dest, port, family === "ipv6");
    }
    const v4 = reachFamily(net, dest, port, false);
    if (v4.reachable) {
        return v4;
    }
    const v6 = reachFamily(net, dest, port, true);
    return v6.reachable ? v6 : unreachable(`IPv4: ${v4.reason}; IPv6: ${v6.reason}`, v4);
}

/** Reads the instance's network and decides one destination. */
export async function canReach(ec2: EC2Client, instanceId: string, dest: Destination): Promise<Reachability> {
    return reach(await readInstanceNetwork(ec2, instanceId), dest);
}

// ---------------------------------------------------------------------------------------------
// The SSM agent
// ---------------------------------------------------------------------------------------------

/**
 * The message channel Run Command reaches the agent through. `ec2messages` (Message Delivery
 * Service) is what the Run Command endpoint setup requires; `ssmmessages` is Session Manager's
 * channel, and newer agents receive commands through it (Message Gateway Service) when they can
 * reach it, falling back to ec2messages: "either" models those agents.
 * https://docs.aws.amazon.com/systems-manager/latest/userguide/setup-create-vpc.html
 * https://docs.aws.amazon.com/systems-manager/latest/userguide/systems-manager-setting-up-messageAPIs.html
 */
export type AgentChannel = "ec2messages" | "ssmmessages" | "either";

export interface AgentReachability {
    reachable: boolean;
    reason: string;
    /** Each service checked, by name. */
    services: Record<string, Reachability>;
}

/** Whether the SSM agent can take a Run Command: `ssm` and (by default) `ec2messages` in the instance's region. */
export function ssmAgentReachable(net: InstanceNetwork, channel: AgentChannel = "ec2messages"): AgentReachability {
    const check = (service: string) => reach(net, { service, region: net.region });
    const services: Record<string, Reachability> = { ssm: check("ssm") };
    const channels = channel === "either" ? ["ssmmessages", "ec2messages"] : [channel];
    for (const name of channels) {
        services[name] = check(name);
    }
    const channelOk = channels.some((name) => services[name].reachable);
    const reachable = services.ssm.reachable && channelOk;
    const summary = Object.entries(services).map(([name, r]) => `${name}: ${r.reachable ? `via ${r.endpointId ?? r.via}` : r.reason}`);
    return { reachable, reason: summary.join("; "), services };
}

// ---------------------------------------------------------------------------------------------
// Reading EC2
// ---------------------------------------------------------------------------------------------

async function collect<P, T>(pages: AsyncIterable<P>, pick: (page: P) => T[] | undefined): Promise<T[]> {
    const out: T[] = [];
    for await (const page of pages) {
        out.push(...(pick(page) ?? []));
    }
    return out;
}

const defined = <T>(values: (T | undefined)[]): T[] => values.filter((v): v is T => v !== undefined);
const unique = <T>(values: T[]): T[] => [...new Set(values)];

function sgRules(permissions: IpPermission[] | undefined): SgRule[] {
    return (permissions ?? []).flatMap((p) => {
        const protocol = protocolOf(p.IpProtocol);
        const base: SgRule = protocol === "-1" ? { protocol } : { protocol, fromPort: p.FromPort, toPort: p.ToPort };
        return [
            ...defined((p.IpRanges ?? []).map((x) => x.CidrIp)).map((cidr) => ({ ...base, cidr })),
            ...defined((p.Ipv6Ranges ?? []).map((x) => x.CidrIpv6)).map((cidr) => ({ ...base, cidr })),
            ...defined((p.PrefixListIds ?? []).map((x) => x.PrefixListId)).map((prefixListId) => ({ ...base, prefixListId })),
            ...defined((p.UserIdGroupPairs ?? []).map((x) => x.GroupId)).map((groupId) => ({ ...base, groupId })),
        ];
    });
}

function securityGroupInfo(sg: SecurityGroup): SecurityGroupInfo {
    return { groupId: sg.GroupId ?? "", groupName: sg.GroupName, ingress: sgRules(sg.IpPermissions), egress: sgRules(sg.IpPermissionsEgress) };
}

function naclEntry(e: NetworkAclEntry): NaclEntry {
    return {
        ruleNumber: e.RuleNumber ?? 32767,
        egress: e.Egress ?? false,
        allow: (e.RuleAction ?? "deny").toLowerCase() === "allow",
        protocol: protocolOf(e.Protocol),
        ...(e.PortRange?.From !== undefined ? { fromPort: e.PortRange.From, toPort: e.PortRange.To } : {}),
        cidr: e.CidrBlock ?? e.Ipv6CidrBlock ?? "",
    };
}

/**
 * AWS's default NACL allows IPv6 (rules 101) once the VPC has an IPv6 block, and always lists the
 * IPv6 "*" deny rules; moto lists no IPv6 entry at all, so a default NACL without any is given AWS's.
 * https://docs.aws.amazon.com/vpc/latest/userguide/default-network-acl.html
 */
function withDefaultIpv6(acl: NetworkAcl, vpcHasIpv6: boolean, notes: string[]): NaclEntry[] {
    const entries = (acl.Entries ?? []).map(naclEntry);
    if (!acl.IsDefault || !vpcHasIpv6 || entries.some((e) => isV6(e.cidr))) {
        return entries;
    }
    notes.push(`${acl.NetworkAclId}: default NACL without IPv6 entries; assumed AWS's default rules 101 allowing ::/0`);
    const allowAll = (egress: boolean): NaclEntry => ({ ruleNumber: 101, egress, allow: true, protocol: "-1", cidr: ALL_V6 });
    return [...entries, allowAll(true), allowAll(false)];
}

function routeInfo(r: Route): RouteInfo {
    return {
        destination: r.DestinationCidrBlock ?? r.DestinationIpv6CidrBlock,
        prefixListId: r.DestinationPrefixListId,
        target: r.GatewayId ?? r.NatGatewayId ?? r.EgressOnlyInternetGatewayId ?? r.TransitGatewayId ?? r.VpcPeeringConnectionId
            ?? r.NetworkInterfaceId ?? r.InstanceId ?? r.LocalGatewayId ?? r.CarrierGatewayId ?? r.CoreNetworkArn ?? "unknown",
        state: (r.State ?? "active").toLowerCase(),
    };
}

function routeTableInfo(t: RouteTable): RouteTableInfo {
    return { routeTableId: t.RouteTableId ?? "", main: (t.Associations ?? []).some((a) => a.Main), routes: (t.Routes ?? []).map(routeInfo) };
}

async function describeInstance(ec2: EC2Client, instanceId: string): Promise<Instance> {
    const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const instance = out.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId);
    if (!instance) {
        throw new Error(`instance ${instanceId} not found`);
    }
    return instance;
}

async function describeEnis(ec2: EC2Client, ids: string[]): Promise<NetworkInterface[]> {
    if (ids.length === 0) {
        return [];
    }
    const out = await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: ids }));
    return out.NetworkInterfaces ?? [];
}

/**
 * The primary ENI as DescribeNetworkInterfaces reports it: its groups are the ones that apply
 * (moto's ModifyInstanceAttribute leaves the instance's list and the ENI's apart; the ENI's are right).
 * moto may leave the public address only on the instance, so that is the fallback.
 */
async function readEni(ec2: EC2Client, instance: Instance, notes: string[]): Promise<InstanceNetwork["eni"]> {
    const attached = (instance.NetworkInterfaces ?? []).find((n) => n.Attachment?.DeviceIndex === 0);
    if (!attached?.NetworkInterfaceId) {
        throw new Error(`instance ${instance.InstanceId} (${instance.State?.Name}) has no primary network interface`);
    }
    const [eni] = await describeEnis(ec2, [attached.NetworkInterfaceId]);
    if (!eni) {
        throw new Error(`network interface ${attached.NetworkInterfaceId} not found`);
    }
    const publicIp = eni.Association?.PublicIp ?? attached.Association?.PublicIp ?? instance.PublicIpAddress;
    if (publicIp && !eni.Association?.PublicIp) {
        notes.push(`${eni.NetworkInterfaceId}: public IPv4 taken from DescribeInstances (the ENI reports none)`);
    }
    return {
        networkInterfaceId: eni.NetworkInterfaceId ?? "",
        subnetId: eni.SubnetId ?? "",
        privateIp: eni.PrivateIpAddress ?? "",
        privateIps: defined((eni.PrivateIpAddresses ?? []).map((a) => a.PrivateIpAddress)),
        ...(publicIp ? { publicIp } : {}),
        ipv6Addresses: defined((eni.Ipv6Addresses ?? []).map((a) => a.Ipv6Address)),
        groupIds: defined((eni.Groups ?? []).map((g) => g.GroupId)),
    };
}

/** A VPC attribute; DNS is assumed on when it cannot be read (endpoints with private DNS require it). */
async function vpcAttribute(ec2: EC2Client, vpcId: string, attribute: "enableDnsSupport" | "enableDnsHostnames", notes: string[]): Promise<boolean> {
    try {
        const out = await ec2.send(new DescribeVpcAttributeCommand({ VpcId: vpcId, Attribute: attribute }));
        return (attribute === "enableDnsSupport" ? out.EnableDnsSupport?.Value : out.EnableDnsHostnames?.Value) ?? true;
    } catch (err) {
        notes.push(`${vpcId}: ${attribute} unreadable (${(err as Error).name}); assumed true`);
        return true;
    }
}

async function readVpc(ec2: EC2Client, vpcId: string, notes: string[]): Promise<InstanceNetwork["vpc"]> {
    const [described, dnsSupport, dnsHostnames, defaults] = await Promise.all([
        ec2.send(new DescribeVpcsCommand({ VpcIds: [vpcId] })),
        vpcAttribute(ec2, vpcId, "enableDnsSupport", notes),
        vpcAttribute(ec2, vpcId, "enableDnsHostnames", notes),
        collect(paginateDescribeSecurityGroups({ client: ec2 }, {
            Filters: [{ Name: "vpc-id", Values: [vpcId] }, { Name: "group-name", Values: ["default"] }],
        }), (p) => p.SecurityGroups),
    ]);
    const vpc = described.Vpcs?.[0];
    const cidrs = defined((vpc?.CidrBlockAssociationSet ?? []).map((a) => a.CidrBlock));
    return {
        vpcId,
        isDefault: vpc?.IsDefault ?? false,
        cidrs: cidrs.length > 0 ? cidrs : defined([vpc?.CidrBlock]),
        ipv6Cidrs: defined((vpc?.Ipv6CidrBlockAssociationSet ?? []).map((a) => a.Ipv6CidrBlock)),
        dnsSupport,
        dnsHostnames,
        ...(defaults[0]?.GroupId ? { defaultGroupId: defaults[0].GroupId } : {}),
    };
}

interface Layout {
    subnets: Record<string, SubnetInfo>;
    routeTables: Record<string, RouteTableInfo>;
    networkAcls: Record<string, NetworkAclInfo>;
}

/** Every subnet of the VPC with its route table (explicit association, else the main table) and NACL. */
async function readLayout(ec2: EC2Client, vpcId: string, vpcHasIpv6: boolean, notes: string[]): Promise<Layout> {
    const byVpc = { Filters: [{ Name: "vpc-id", Values: [vpcId] }] };
    const [subnets, tables, acls] = await Promise.all([
        collect(paginateDescribeSubnets({ client: ec2 }, byVpc), (p) => p.Subnets),
        collect(paginateDescribeRouteTables({ client: ec2 }, byVpc), (p) => p.RouteTables),
        collect(paginateDescribeNetworkAcls({ client: ec2 }, byVpc), (p) => p.NetworkAcls),
    ]);
    const main = tables.find((t) => (t.Associations ?? []).some((a) => a.Main))?.RouteTableId;
    const defaultAcl = acls.find((a) => a.IsDefault)?.NetworkAclId;
    const tableOf = (subnetId: string) => tables.find((t) => (t.Associations ?? []).some((a) => a.SubnetId === subnetId))?.RouteTableId ?? main;
    const aclOf = (subnetId: string) => acls.find((a) => (a.Associations ?? []).some((x) => x.SubnetId === subnetId))?.NetworkAclId ?? defaultAcl;
    const layout: Layout = { subnets: {}, routeTables: {}, networkAcls: {} };
    for (const s of subnets) {
        const id = s.SubnetId ?? "";
        layout.subnets[id] = {
            subnetId: id,
            cidr: s.CidrBlock ?? "",
            ipv6Cidrs: defined((s.Ipv6CidrBlockAssociationSet ?? []).map((a) => a.Ipv6CidrBlock)),
            availabilityZone: s.AvailabilityZone,
            routeTableId: tableOf(id),
            networkAclId: aclOf(id),
        };
    }
    for (const t of tables) {
        layout.routeTables[t.RouteTableId ?? ""] = routeTableInfo(t);
    }
    for (const a of acls) {
        layout.networkAcls[a.NetworkAclId ?? ""] = { networkAclId: a.NetworkAclId ?? "", isDefault: a.IsDefault ?? false, entries: withDefaultIpv6(a, vpcHasIpv6, notes) };
    }
    return layout;
}

type Gateways = Pick<InstanceNetwork, "internetGateways" | "egressOnlyInternetGateways" | "natGateways">;

/** The VPC's gateways; an attachment counts when attached ("available" is how EC2 reports an attached IGW). */
async function readGateways(ec2: EC2Client, vpcId: string): Promise<Gateways> {
    const [igws, eigws, nats] = await Promise.all([
        collect(paginateDescribeInternetGateways({ client: ec2 }, { Filters: [{ Name: "attachment.vpc-id", Values: [vpcId] }] }), (p) => p.InternetGateways),
        // DescribeEgressOnlyInternetGateways has no attachment filter.
        collect(paginateDescribeEgressOnlyInternetGateways({ client: ec2 }, {}), (p) => p.EgressOnlyInternetGateways),
        collect(paginateDescribeNatGateways({ client: ec2 }, { Filter: [{ Name: "vpc-id", Values: [vpcId] }] }), (p) => p.NatGateways),
    ]);
    const attachedHere = (attachments: { VpcId?: string; State?: string }[] | undefined) =>
        (attachments ?? []).some((a) => a.VpcId === vpcId && ["available", "attached"].includes(a.State ?? ""));
    const natGateways: Record<string, NatGatewayInfo> = {};
    for (const n of nats) {
        const id = n.NatGatewayId ?? "";
        natGateways[id] = { natGatewayId: id, state: n.State ?? "unknown", subnetId: n.SubnetId, connectivityType: n.ConnectivityType ?? "public" };
    }
    return {
        internetGateways: defined(igws.filter((g) => attachedHere(g.Attachments)).map((g) => g.InternetGatewayId)),
        egressOnlyInternetGateways: defined(eigws.filter((g) => attachedHere(g.Attachments)).map((g) => g.EgressOnlyInternetGatewayId)),
        natGateways,
    };
}

function endpointInfo(e: VpcEndpoint, enis: NetworkInterface[], defaultGroupId: string | undefined, notes: string[]): EndpointInfo {
    const id = e.VpcEndpointId ?? "";
    const type = (e.VpcEndpointType ?? "gateway").toLowerCase();
    let groupIds = defined((e.Groups ?? []).map((g) => g.GroupId));
    // AWS gives an interface endpoint created without groups the VPC's default group; moto lists none.
    if (type === "interface" && groupIds.length === 0 && defaultGroupId) {
        notes.push(`${id}: no security groups listed; assumed the VPC's default group ${defaultGroupId}`);
        groupIds = [defaultGroupId];
    }
    const own = new Set(e.NetworkInterfaceIds ?? []);
    return {
        endpointId: id,
        type,
        serviceName: e.ServiceName ?? "",
        state: (e.State ?? "").toLowerCase(),
        routeTableIds: e.RouteTableIds ?? [],
        subnetIds: e.SubnetIds ?? [],
        groupIds,
        privateDns: e.PrivateDnsEnabled ?? false,
        networkInterfaces: enis.filter((n) => own.has(n.NetworkInterfaceId ?? "")).map((n) => ({
            networkInterfaceId: n.NetworkInterfaceId ?? "", subnetId: n.SubnetId ?? "", privateIp: n.PrivateIpAddress,
        })),
    };
}

/** The VPC's endpoints and their network interfaces (subnet and address). */
async function readEndpoints(ec2: EC2Client, vpcId: string, defaultGroupId: string | undefined, notes: string[]): Promise<EndpointInfo[]> {
    const endpoints = await collect(paginateDescribeVpcEndpoints({ client: ec2 }, { Filters: [{ Name: "vpc-id", Values: [vpcId] }] }), (p) => p.VpcEndpoints);
    const eniIds = unique(endpoints.flatMap((e) => e.NetworkInterfaceIds ?? []));
    const enis = await describeEnis(ec2, eniIds).catch((err: Error) => {
        notes.push(`endpoint network interfaces unreadable (${err.name}); their subnets' CIDRs stand for their addresses`);
        return [];
    });
    return endpoints.map((e) => endpointInfo(e, enis, defaultGroupId, notes));
}

async function readGroups(ec2: EC2Client, ids: string[], notes: string[]): Promise<Record<string, SecurityGroupInfo>> {
    const found = ids.length === 0 ? [] : await collect(paginateDescribeSecurityGroups({ client: ec2 }, { Filters: [{ Name: "group-id", Values: ids }] }), (p) => p.SecurityGroups);
    const groups: Record<string, SecurityGroupInfo> = {};
    for (const sg of found) {
        groups[sg.GroupId ?? ""] = securityGroupInfo(sg);
    }
    for (const missing of ids.filter((id) => !groups[id])) {
        notes.push(`${missing}: security group not found; treated as having no rules`);
    }
    return groups;
}

async function prefixListCidrs(ec2: EC2Client, id: string, notes: string[]): Promise<string[] | undefined> {
    try {
        return defined(await collect(paginateGetManagedPrefixListEntries({ client: ec2 }, { PrefixListId: id }), (p) => p.Entries)).map((e) => e.Cidr ?? "").filter(Boolean);
    } catch (err) {
        notes.push(`${id}: entries unreadable (${(err as Error).name}); only rules naming it match its service`);
        return undefined;
    }
}

/**
 * The region's gateway-service prefix lists (found by name) and every other list named by a rule or
 * route, with their CIDRs (DescribeManagedPrefixLists also returns AWS-managed lists; moto's
 * DescribePrefixLists gives no CIDRs, GetManagedPrefixListEntries does).
 * https://docs.aws.amazon.com/vpc/latest/userguide/working-with-aws-managed-prefix-lists.html
 */
async function readPrefixLists(ec2: EC2Client, region: string, referenced: string[], notes: string[]): Promise<Record<string, PrefixListInfo>> {
    const names = GATEWAY_SERVICES.map((s) => serviceName(region, s));
    const byName = await collect(paginateDescribeManagedPrefixLists({ client: ec2 }, { Filters: [{ Name: "prefix-list-name", Values: names }] }), (p) => p.PrefixLists);
    const others = referenced.filter((id) => !byName.some((p) => p.PrefixListId === id));
    const byId = others.length === 0 ? [] : await collect(paginateDescribeManagedPrefixLists({ client: ec2 }, { PrefixListIds: others }), (p) => p.PrefixLists)
        .catch((err: Error) => {
            notes.push(`prefix lists ${others.join(", ")} unreadable (${err.name})`);
            return [];
        });
    const ids = unique([...defined([...byName, ...byId].map((p) => p.PrefixListId)), ...others]);
    const lists = await Promise.all(ids.map(async (id): Promise<PrefixListInfo> => ({
        prefixListId: id,
        name: [...byName, ...byId].find((p) => p.PrefixListId === id)?.PrefixListName,
        cidrs: await prefixListCidrs(ec2, id, notes),
    })));
    return Object.fromEntries(lists.map((l) => [l.prefixListId, l]));
}

/**
 * A default VPC comes with an attached internet gateway and a main-table route 0.0.0.0/0 to it;
 * moto's has neither. Deleting the gateway on AWS leaves that route behind as a blackhole, so a
 * default VPC with no gateway and no 0.0.0.0/0 route at all is moto's: it is given AWS's.
 * https://docs.aws.amazon.com/vpc/latest/userguide/default-vpc-components.html
 */
function withDefaultVpcGateway(vpc: InstanceNetwork["vpc"], layout: Layout, gateways: Gateways, notes: string[]): void {
    const tables = Object.values(layout.routeTables);
    const main = tables.find((t) => t.main);
    const anyDefaultRoute = tables.some((t) => t.routes.some((r) => r.destination === ALL_V4));
    if (!vpc.isDefault || !main || gateways.internetGateways.length > 0 || anyDefaultRoute) {
        return;
    }
    notes.push(`${vpc.vpcId}: default VPC without an internet gateway or default route; assumed AWS's (${DEFAULT_VPC_GATEWAY}, 0.0.0.0/0 in ${main.routeTableId})`);
    gateways.internetGateways.push(DEFAULT_VPC_GATEWAY);
    main.routes.push({ destination: ALL_V4, target: DEFAULT_VPC_GATEWAY, state: "active" });
}

/** Reads everything `reach` needs about the instance's network (about fifteen EC2 calls). */
export async function readInstanceNetwork(ec2: EC2Client, instanceId: string): Promise<InstanceNetwork> {
    const notes: string[] = [];
    const readAt = new Date().toISOString();
    const [region, instance] = await Promise.all([ec2.config.region(), describeInstance(ec2, instanceId)]);
    const vpcId = instance.VpcId;
    if (!vpcId) {
        throw new Error(`instance ${instanceId} (${instance.State?.Name}) is in no VPC`);
    }
    const [eni, vpc, gateways] = await Promise.all([readEni(ec2, instance, notes), readVpc(ec2, vpcId, notes), readGateways(ec2, vpcId)]);
    const [layout, endpoints] = await Promise.all([
        readLayout(ec2, vpcId, vpc.ipv6Cidrs.length > 0, notes),
        readEndpoints(ec2, vpcId, vpc.defaultGroupId, notes),
    ]);
    withDefaultVpcGateway(vpc, layout, gateways, notes);
    const securityGroups = await readGroups(ec2, unique([...eni.groupIds, ...endpoints.flatMap((e) => (e.type === "interface" ? e.groupIds : []))]), notes);
    const referenced = unique([
        ...Object.values(securityGroups).flatMap((g) => [...g.ingress, ...g.egress]).map((r) => r.prefixListId),
        ...Object.values(layout.routeTables).flatMap((t) => t.routes).map((r) => r.prefixListId),
    ].filter((id): id is string => !!id));
    const prefixLists = await readPrefixLists(ec2, region, referenced, notes);
    return {
        readAt,
        region,
        instance: { instanceId, state: instance.State?.Name ?? "unknown" },
        vpc,
        eni,
        ...layout,
        securityGroups,
        endpoints,
        prefixLists,
        ...gateways,
        notes,
    };
}
