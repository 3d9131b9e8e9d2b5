/**
 * The engine's security groups in a member VPC, created on first use and shared by every case there:
 *
 * - `allow-all` (in and out, IPv4 and IPv6): a transit group. Flows allowed by all-traffic rules in both
 *   directions are untracked, so moving an ENI here and then to a restrictive group cuts connections the
 *   old groups had tracked (an SG change alone never interrupts tracked connections).
 * - `acquisition-isolation`: no ingress; egress only TCP 443 to what acquisition needs, service by
 *   service: SSM's agent endpoints (ssm, ec2messages, ssmmessages) through their interface endpoints, the
 *   buckets (evidence, module store) through the S3 gateway endpoint's prefix list or an S3 interface
 *   endpoint when they are in the VPC's region. What has no private path (a service without an interface
 *   endpoint, a bucket in another region: endpoints are regional) needs 0.0.0.0/0:443, if config allows
 *   that trade-off (NAT or an internet gateway then carries it).
 * - `contained`: no rules at all.
 *
 * Groups are found again by their fixed names in the VPC; concurrent cases may race to create one, so
 * creation tolerates a duplicate and rules are converged idempotently by whoever finds them unfinished.
 */
import {
    AuthorizeSecurityGroupEgressCommand, AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand,
    DescribePrefixListsCommand, DescribeSecurityGroupsCommand, EC2Client, IpPermission,
    RevokeSecurityGroupEgressCommand, RevokeSecurityGroupIngressCommand, SecurityGroup, VpcEndpoint,
    paginateDescribeVpcEndpoints,
} from "@aws-sdk/client-ec2";
import type { EngineSettings } from "../shared/settings";
import { errorCode } from "../shared/steps";

export type GroupPurpose = "allow-all" | "acquisition-isolation" | "contained";

export const GROUP_NAMES: Record<GroupPurpose, string> = {
    "allow-all": "ir-forensics-allow-all",
    "acquisition-isolation": "ir-forensics-acquisition-isolation",
    "contained": "ir-forensics-contained",
};

export const PURPOSE_TAG = "ir-forensics:purpose";

const DESCRIPTIONS: Record<GroupPurpose, string> = {
    "allow-all": "ir-forensics transit group: all traffic, so tracked flows become untracked before isolation",
    "acquisition-isolation": "ir-forensics isolation during acquisition: egress 443 to the VPC endpoints only",
    "contained": "ir-forensics containment: no traffic at all",
};

/** One rule with exactly one peer, so rule sets compare as sets. */
export interface Rule {
    protocol: string;
    fromPort?: number;
    toPort?: number;
    cidr?: string;
    cidrV6?: string;
    prefixListId?: string;
    groupId?: string;
}

export interface GroupRules {
    ingress: Rule[];
    egress: Rule[];
}

export interface GroupRef {
    groupId: string;
    vpcId: string;
    purpose: GroupPurpose;
    rules: GroupRules;
}

/** What ensuring a group did, for the step's record. */
export interface EnsuredGroup {
    group: GroupRef;
    created: boolean;
    /** Set when rules had to change. */
    changed?: { authorized: number; revoked: number };
}

const ALL_V4: Rule = { protocol: "-1", cidr: "0.0.0.0/0" };
const ALL_V6: Rule = { protocol: "-1", cidrV6: "::/0" };
const https = (peer: Omit<Rule, "protocol" | "fromPort" | "toPort">): Rule => ({ protocol: "tcp", fromPort: 443, toPort: 443, ...peer });

function ruleKey(r: Rule): string {
    const ports = r.protocol === "-1" ? "" : `${r.fromPort ?? ""}-${r.toPort ?? ""}`;
    const peer = r.cidr ? `v4:${r.cidr}` : r.cidrV6 ? `v6:${r.cidrV6}` : r.prefixListId ? `pl:${r.prefixListId}` : `sg:${r.groupId ?? ""}`;
    return `${r.protocol}|${ports}|${peer}`;
}

/** Rules in `a` that are not in `b`. */
function minus(a: Rule[], b: Rule[]): Rule[] {
    const keys = new Set(b.map(ruleKey));
    return a.filter((r) => !keys.has(ruleKey(r)));
}

function flatten(permissions: IpPermission[] | undefined): Rule[] {
    return (permissions ?? []).flatMap((p) => {
        const protocol = p.IpProtocol ?? "-1";
        const base: Rule = protocol === "-1" ? { protocol } : { protocol, fromPort: p.FromPort, toPort: p.ToPort };
        return [
            ...(p.IpRanges ?? []).map((x) => ({ ...base, cidr: x.CidrIp })),
            ...(p.Ipv6Ranges ?? []).map((x) => ({ ...base, cidrV6: x.CidrIpv6 })),
            ...(p.PrefixListIds ?? []).map((x) => ({ ...base, prefixListId: x.PrefixListId })),
            ...(p.UserIdGroupPairs ?? []).map((x) => ({ ...base, groupId: x.GroupId })),
        ];
    });
}

function permission(r: Rule): IpPermission {
    return {
        IpProtocol: r.protocol,
        ...(r.protocol === "-1" ? {} : { FromPort: r.fromPort, ToPort: r.toPort }),
        ...(r.cidr ? { IpRanges: [{ CidrIp: r.cidr }] } : {}),
        ...(r.cidrV6 ? { Ipv6Ranges: [{ CidrIpv6: r.cidrV6 }] } : {}),
        ...(r.prefixListId ? { PrefixListIds: [{ PrefixListId: r.prefixListId }] } : {}),
        ...(r.groupId ? { UserIdGroupPairs: [{ GroupId: r.groupId }] } : {}),
    };
}

function purposeOf(name: string | undefined): GroupPurpose | undefined {
    return (Object.keys(GROUP_NAMES) as GroupPurpose[]).find((p) => GROUP_NAMES[p] === name);
}

function groupRef(sg: SecurityGroup, purpose: GroupPurpose): GroupRef {
    return {
        groupId: sg.GroupId ?? "",
        vpcId: sg.VpcId ?? "",
        purpose,
        rules: { ingress: flatten(sg.IpPermissions), egress: flatten(sg.IpPermissionsEgress) },
    };
}

/** Per-invocation cache of the VPC facts the group rules and the tracked-flow report depend on. */
export class VpcLookups {
    private readonly endpointsByVpc = new Map<string, Promise<VpcEndpoint[]>>();
    private readonly prefixLists = new Map<string, Promise<string | undefined>>();

    constructor(private readonly ec2: EC2Client) {}

    /** The VPC's region (the client's). */
    region(): Promise<string> {
        return this.ec2.config.region();
    }

    /** The VPC's endpoints that are (or are becoming) usable. */
    endpoints(vpcId: string): Promise<VpcEndpoint[]> {
        return memo(this.endpointsByVpc, vpcId, async () => {
            const found: VpcEndpoint[] = [];
            for await (const page of paginateDescribeVpcEndpoints({ client: this.ec2 }, { Filters: [{ Name: "vpc-id", Values: [vpcId] }] })) {
                found.push(...(page.VpcEndpoints ?? []));
            }
            return found.filter((e) => !["deleting", "deleted", "failed", "rejected", "expired"].includes((e.State ?? "").toLowerCase()));
        });
    }

    /** The AWS-managed prefix list of a gateway endpoint's service (`com.amazonaws.<region>.s3`). */
    prefixListId(serviceName: string): Promise<string | undefined> {
        return memo(this.prefixLists, serviceName, async () => {
            const out = await this.ec2.send(new DescribePrefixListsCommand({ Filters: [{ Name: "prefix-list-name", Values: [serviceName] }] }));
            return out.PrefixLists?.[0]?.PrefixListId;
        });
    }
}

function memo<T>(cache: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
    let value = cache.get(key);
    if (!value) {
        value = load();
        cache.set(key, value);
    }
    return value;
}

const isType = (e: VpcEndpoint, type: string) => (e.VpcEndpointType ?? "").toLowerCase() === type;
export const isInterfaceEndpoint = (e: VpcEndpoint) => isType(e, "interface");

/** The rules a group of `purpose` should have in `vpcId` now. */
export async function desiredRules(purpose: GroupPurpose, vpcId: string, settings: EngineSettings, lookups: VpcLookups): Promise<GroupRules> {
    switch (purpose) {
        case "allow-all":
            return { ingress: [ALL_V4, ALL_V6], egress: [ALL_V4, ALL_V6] };
        case "contained":
            return { ingress: [], egress: [] };
        case "acquisition-isolation":
            return { ingress: [], egress: await acquisitionEgress(vpcId, settings, lookups) };
    }
}

/** SSM Run Command's agent endpoints (ssmmessages is optional: agents use ec2messages without it). */
const AGENT_SERVICES: { service: string; required: boolean }[] = [
    { service: "ssm", required: true }, { service: "ec2messages", required: true }, { service: "ssmmessages", required: false },
];

/** The egress acquisition needs in a VPC, and what it can reach only through the internet (NAT or gateway). */
export interface AcquisitionPaths {
    egress: Rule[];
    /** Destinations without a private path, e.g. "ssm" or "s3 in us-east-1". */
    public: string[];
}

export async function acquisitionPaths(vpcId: string, settings: EngineSettings, lookups: VpcLookups): Promise<AcquisitionPaths> {
    const [endpoints, region] = await Promise.all([lookups.endpoints(vpcId), lookups.region()]);
    // Interface endpoints with private DNS take all of their service's traffic in the VPC's region.
    const privateDns = (service: string) => endpoints.filter((e) => isInterfaceEndpoint(e) && e.ServiceName === `com.amazonaws.${region}.${service}`
        && e.PrivateDnsEnabled !== false);
    const groups = new Set<string>();
    const needsPublic: string[] = [];
    const egress: Rule[] = [];
    for (const { service, required } of AGENT_SERVICES) {
        const found = privateDns(service);
        found.forEach((e) => (e.Groups ?? []).forEach((g) => g.GroupId && groups.add(g.GroupId)));
        if (found.length === 0 && required) {
            needsPublic.push(service);
        }
    }
    for (const bucketRegion of [...new Set(settings.isolation.bucketRegions ?? [region])]) {
        // Gateway endpoints and interface endpoints reach their own region's buckets only.
        const gateway = bucketRegion === region
            ? endpoints.find((e) => isType(e, "gateway") && e.ServiceName === `com.amazonaws.${region}.s3`)
            : undefined;
        const prefixListId = gateway?.ServiceName ? await lookups.prefixListId(gateway.ServiceName) : undefined;
        const s3Interfaces = bucketRegion === region ? privateDns("s3") : [];
        if (prefixListId) {
            egress.push(https({ prefixListId }));
        } else if (s3Interfaces.length > 0) {
            s3Interfaces.forEach((e) => (e.Groups ?? []).forEach((g) => g.GroupId && groups.add(g.GroupId)));
        } else {
            needsPublic.push(`s3 in ${bucketRegion}`);
        }
    }
    egress.push(...[...groups].map((groupId) => https({ groupId })));
    // What has no private path needs the internet: a documented trade-off (isolation.fallbackHttpsEgress).
    if (needsPublic.length > 0 && settings.isolation.fallbackHttpsEgress === "0.0.0.0/0") {
        egress.push(https({ cidr: "0.0.0.0/0" }));
    }
    // Two buckets in the region share one prefix-list rule.
    return { egress: egress.filter((r, i) => egress.findIndex((o) => ruleKey(o) === ruleKey(r)) === i), public: needsPublic };
}

async function acquisitionEgress(vpcId: string, settings: EngineSettings, lookups: VpcLookups): Promise<Rule[]> {
    return (await acquisitionPaths(vpcId, settings, lookups)).egress;
}

/**
 * Whether a group found by name can be used at once. `acquisition-isolation` only needs to be no more
 * open than intended (its endpoint rules are reconciled later, off the hot path); the others exactly so.
 * Converging authorizes before it revokes, so a group still carrying its default egress is unfinished.
 */
export function isReady(purpose: GroupPurpose, rules: GroupRules): boolean {
    switch (purpose) {
        case "allow-all":
            return minus([ALL_V4, ALL_V6], rules.ingress).length === 0 && minus([ALL_V4, ALL_V6], rules.egress).length === 0;
        case "contained":
            return rules.ingress.length === 0 && rules.egress.length === 0;
        case "acquisition-isolation":
            return rules.ingress.length === 0 && rules.egress.every((r) => r.protocol === "tcp" && r.fromPort === 443 && r.toPort === 443);
    }
}

export const groupKey = (vpcId: string, purpose: GroupPurpose) => `${vpcId}/${purpose}`;

/** The engine's groups in these VPCs, with their rules: ONE describe call (this is on the hot path). */
export async function findGroups(ec2: EC2Client, vpcIds: string[]): Promise<Map<string, GroupRef>> {
    const out = await ec2.send(new DescribeSecurityGroupsCommand({
        Filters: [
            { Name: "vpc-id", Values: vpcIds },
            { Name: "group-name", Values: Object.values(GROUP_NAMES) },
        ],
    }));
    const found = new Map<string, GroupRef>();
    for (const sg of out.SecurityGroups ?? []) {
        const purpose = purposeOf(sg.GroupName);
        if (purpose && sg.VpcId) {
            found.set(groupKey(sg.VpcId, purpose), groupRef(sg, purpose));
        }
    }
    return found;
}

async function describeGroup(ec2: EC2Client, filter: { groupId: string } | { vpcId: string; name: string }, purpose: GroupPurpose): Promise<GroupRef> {
    const out = await ec2.send(new DescribeSecurityGroupsCommand("groupId" in filter
        ? { GroupIds: [filter.groupId] }
        : { Filters: [{ Name: "vpc-id", Values: [filter.vpcId] }, { Name: "group-name", Values: [filter.name] }] }));
    const sg = out.SecurityGroups?.[0];
    if (!sg) {
        throw new Error(`security group ${JSON.stringify(filter)} not found`);
    }
    return groupRef(sg, purpose);
}

/** Creates the group, or finds the one a concurrent case just created. */
async function createGroup(ec2: EC2Client, vpcId: string, purpose: GroupPurpose): Promise<{ group: GroupRef; created: boolean }> {
    const name = GROUP_NAMES[purpose];
    try {
        const out = await ec2.send(new CreateSecurityGroupCommand({
            GroupName: name,
            Description: DESCRIPTIONS[purpose],
            VpcId: vpcId,
            TagSpecifications: [{
                ResourceType: "security-group",
                Tags: [{ Key: "Name", Value: name }, { Key: PURPOSE_TAG, Value: purpose }],
            }],
        }));
        // The new group's default egress (IPv4, and IPv6 where the VPC has it) is read, not assumed.
        return { group: await describeGroup(ec2, { groupId: out.GroupId ?? "" }, purpose), created: true };
    } catch (err) {
        if (errorCode(err) !== "InvalidGroup.Duplicate") {
            throw err;
        }
        return { group: await describeGroup(ec2, { vpcId, name }, purpose), created: false };
    }
}

type Direction = keyof GroupRules;

async function sendRuleChange(ec2: EC2Client, op: "authorize" | "revoke", direction: Direction, groupId: string, rules: Rule[]): Promise<void> {
    const input = { GroupId: groupId, IpPermissions: rules.map(permission) };
    if (op === "authorize") {
        await (direction === "ingress"
            ? ec2.send(new AuthorizeSecurityGroupIngressCommand(input))
            : ec2.send(new AuthorizeSecurityGroupEgressCommand(input)));
    } else {
        await (direction === "ingress"
            ? ec2.send(new RevokeSecurityGroupIngressCommand(input))
            : ec2.send(new RevokeSecurityGroupEgressCommand(input)));
    }
}

/** What a concurrent case converging the same group makes us hear: already done. */
const ALREADY_DONE: Record<"authorize" | "revoke", string> = {
    authorize: "InvalidPermission.Duplicate",
    revoke: "InvalidPermission.NotFound",
};

/**
 * Authorizes or revokes `rules` in one call; when another case got there first for some of them (the
 * whole call fails then), rule by rule, ignoring those already done.
 */
async function changeRules(ec2: EC2Client, op: "authorize" | "revoke", direction: Direction, groupId: string, rules: Rule[]): Promise<void> {
    if (rules.length === 0) {
        return;
    }
    try {
        await sendRuleChange(ec2, op, direction, groupId, rules);
    } catch (err) {
        if (errorCode(err) !== ALREADY_DONE[op]) {
            throw err;
        }
        if (rules.length > 1) {
            await Promise.all(rules.map((r) => changeRules(ec2, op, direction, groupId, [r])));
        }
    }
}

/** Brings the group's rules to `desired`: adds first, removes last (see isReady). */
async function converge(ec2: EC2Client, group: GroupRef, desired: GroupRules): Promise<{ authorized: number; revoked: number }> {
    const directions: Direction[] = ["ingress", "egress"];
    const missing = directions.map((d) => minus(desired[d], group.rules[d]));
    const extra = directions.map((d) => minus(group.rules[d], desired[d]));
    await Promise.all(directions.map((d, i) => changeRules(ec2, "authorize", d, group.groupId, missing[i])));
    await Promise.all(directions.map((d, i) => changeRules(ec2, "revoke", d, group.groupId, extra[i])));
    const count = (lists: Rule[][]) => lists.reduce((n, l) => n + l.length, 0);
    return { authorized: count(missing), revoked: count(extra) };
}

/** Converges a group to the rules it should have now; `changed` is undefined when nothing differed. */
export async function reconcileGroup(ec2: EC2Client, group: GroupRef, settings: EngineSettings, lookups: VpcLookups): Promise<EnsuredGroup> {
    const desired = await desiredRules(group.purpose, group.vpcId, settings, lookups);
    const changed = await converge(ec2, group, desired);
    return {
        group: { ...group, rules: desired },
        created: false,
        ...(changed.authorized + changed.revoked > 0 ? { changed } : {}),
    };
}

/**
 * The group of `purpose` in `vpcId`, given what findGroups saw: used as found when ready, else created
 * (or taken over from a concurrent creator) and converged.
 */
export async function ensureFound(
    ec2: EC2Client,
    found: Map<string, GroupRef>,
    vpcId: string,
    purpose: GroupPurpose,
    settings: EngineSettings,
    lookups: VpcLookups,
): Promise<EnsuredGroup> {
    const existing = found.get(groupKey(vpcId, purpose));
    const { group, created } = existing ? { group: existing, created: false } : await createGroup(ec2, vpcId, purpose);
    if (isReady(purpose, group.rules)) {
        return { group, created };
    }
    return { ...await reconcileGroup(ec2, group, settings, lookups), created };
}

/** The id of the engine's group of `purpose` in `vpcId`, created and configured on first use. */
export async function ensureGroup(
    ec2: EC2Client,
    vpcId: string,
    purpose: GroupPurpose,
    settings: EngineSettings,
    lookups: VpcLookups = new VpcLookups(ec2),
): Promise<string> {
    const found = await findGroups(ec2, [vpcId]);
    return (await ensureFound(ec2, found, vpcId, purpose, settings, lookups)).group.groupId;
}
