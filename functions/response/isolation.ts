/**
 * Fast isolation, right after triage: cut the network first (every ENI through the allow-all group to
 * the acquisition-isolation group), then keep the instance from being terminated, replaced or served
 * traffic, and swap its profile to the SSM-only IR profile. Every action is recorded; a failure never
 * stops the others and nothing is rolled back (fail closed). Containment reuses these helpers.
 */
import {
    AutoScalingClient, DescribeAutoScalingInstancesCommand, DetachInstancesCommand, SetInstanceProtectionCommand,
} from "@aws-sdk/client-auto-scaling";
import {
    AssociateIamInstanceProfileCommand, DescribeInstanceAttributeCommand, EC2Client, InstanceAttribute,
    ModifyInstanceAttributeCommand, ModifyInstanceAttributeRequest, ModifyNetworkInterfaceAttributeCommand,
    ReplaceIamInstanceProfileAssociationCommand, Route, RouteTable, paginateDescribeRouteTables,
} from "@aws-sdk/client-ec2";
import {
    DeregisterInstancesFromLoadBalancerCommand, ElasticLoadBalancingClient, paginateDescribeLoadBalancers as paginateClassicLoadBalancers,
} from "@aws-sdk/client-elastic-load-balancing";
import {
    DeregisterTargetsCommand, DescribeTargetHealthCommand, ElasticLoadBalancingV2Client, TargetDescription, TargetGroup,
    paginateDescribeTargetGroups,
} from "@aws-sdk/client-elastic-load-balancing-v2";
import { SNSClient } from "@aws-sdk/client-sns";
import { MemberClientFactory, MemberClients, errorText } from "../shared/aws";
import type { EngineSettings } from "../shared/settings";
import { NotificationKind, notify } from "./notify";
import {
    EnsuredGroup, GROUP_NAMES, GroupPurpose, GroupRef, VpcLookups, ensureFound, findGroups, groupKey, isInterfaceEndpoint, reconcileGroup,
} from "./securityGroups";
import { ActionError, StepRecorder, currentProfileAssociation, describeInstance, instanceFacts, runStep, ssmView } from "../shared/steps";
import { BlockDeviceFacts, CaseState, EniFacts, InstanceFacts } from "../shared/types";

export interface IsolationDeps {
    member: MemberClientFactory;
    settings: EngineSettings;
    sns?: SNSClient;
}

const unique = <T>(items: T[]): T[] => [...new Set(items)];

/** `fn` over `items`, at most `limit` at a time (describing every target group of a region). */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
    const results: R[] = new Array(items.length);
    let next = 0;
    const worker = async () => {
        while (next < items.length) {
            const i = next++;
            results[i] = await fn(items[i]);
        }
    };
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
    return results;
}

// ---------------------------------------------------------------------------------------------
// The network cut

export interface NetworkCut {
    /** Every ENI is in the target group now. */
    ok: boolean;
    /** The target groups as this run left them (for reconciling later). */
    groups: EnsuredGroup[];
}

function recordEnsured(rec: StepRecorder, ensured: EnsuredGroup): void {
    const { group } = ensured;
    if (ensured.created) {
        rec.record("ec2:CreateSecurityGroup", "ok", { target: group.groupId, detail: { vpcId: group.vpcId, purpose: group.purpose } });
    }
    if (ensured.changed) {
        rec.record("security-group-rules", "ok", { target: group.groupId, detail: { purpose: group.purpose, ...ensured.changed } });
    }
}

/** The allow-all and target groups of these VPCs (created on first use), by groupKey. */
async function groupsFor(
    ec2: EC2Client, vpcIds: string[], found: Map<string, GroupRef>, target: GroupPurpose, settings: EngineSettings, lookups: VpcLookups, rec: StepRecorder,
): Promise<Map<string, EnsuredGroup>> {
    const groups = new Map<string, EnsuredGroup>();
    const wanted = vpcIds.flatMap((vpcId) => (["allow-all", target] as GroupPurpose[]).map((purpose) => ({ vpcId, purpose })));
    await Promise.all(wanted.map(async ({ vpcId, purpose }) => {
        const ensured = await rec.read("ensure-security-group", `${vpcId}/${GROUP_NAMES[purpose]}`,
            () => ensureFound(ec2, found, vpcId, purpose, settings, lookups));
        if (ensured.ok) {
            recordEnsured(rec, ensured.value);
            groups.set(groupKey(vpcId, purpose), ensured.value);
        }
    }));
    return groups;
}

const setGroups = (ec2: EC2Client, eniId: string, groupIds: string[]) =>
    ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: eniId, Groups: groupIds }));

/**
 * Moves one ENI to `targetId` through `allowAllId`. The allow-all group is more open than anything, so
 * an ENI must never stay there: the second move is retried, and as a last resort the ENI goes back to
 * its own groups (the only "undo" here, because that is the more closed of the two).
 */
async function moveEni(ec2: EC2Client, eni: EniFacts, allowAllId: string, targetId: string): Promise<Record<string, unknown>> {
    const detail = { previousGroups: eni.groupIds, via: allowAllId, groups: [targetId] };
    try {
        await setGroups(ec2, eni.networkInterfaceId, [allowAllId]);
    } catch (err) {
        throw new ActionError(`moving to the allow-all group failed: ${errorText(err)}`, { ...detail, leftIn: eni.groupIds });
    }
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
        try {
            await setGroups(ec2, eni.networkInterfaceId, [targetId]);
            return detail;
        } catch (err) {
            lastError = err;
        }
    }
    const restored = await setGroups(ec2, eni.networkInterfaceId, eni.groupIds).then(() => true, () => false);
    throw new ActionError(`moving to ${targetId} failed: ${errorText(lastError)}`, { ...detail, leftIn: restored ? eni.groupIds : [allowAllId] });
}

/**
 * Moves every ENI (not only the primary one) into the `target` group of its VPC, through allow-all so
 * that tracked flows are cut too. ENIs already there are no-ops. Hot path: one describe, then two
 * calls per ENI, all ENIs at once (more on a VPC's first case, which creates the groups).
 */
export async function cutNetwork(
    ec2: EC2Client, enis: EniFacts[], target: GroupPurpose, settings: EngineSettings, lookups: VpcLookups, rec: StepRecorder,
): Promise<NetworkCut> {
    rec.detail.previousGroups = Object.fromEntries(enis.map((e) => [e.networkInterfaceId, e.groupIds]));
    if (enis.length === 0) {
        rec.record("isolate-eni", "skipped", { detail: { reason: "the instance has no network interface", purpose: target } });
        return { ok: true, groups: [] };
    }
    const vpcIds = unique(enis.map((e) => e.vpcId));
    const found = await rec.read("ec2:DescribeSecurityGroups", vpcIds.join(","), () => findGroups(ec2, vpcIds));
    if (!found.ok) {
        return { ok: false, groups: [] };
    }
    // Already there, or (isolating) already contained: never loosen an ENI.
    const closed = target === "acquisition-isolation" ? [target, "contained" as const] : [target];
    const done = (e: EniFacts) => e.groupIds.length === 1 && closed.some((p) => found.value.get(groupKey(e.vpcId, p))?.groupId === e.groupIds[0]);
    const pending = enis.filter((e) => !done(e));
    for (const e of enis.filter((x) => !pending.includes(x))) {
        rec.record("isolate-eni", "noop", { target: e.networkInterfaceId, detail: { groups: e.groupIds, purpose: target } });
    }
    if (pending.length === 0) {
        const groups = vpcIds.map((vpcId) => found.value.get(groupKey(vpcId, target))).filter((g): g is GroupRef => g !== undefined);
        return { ok: true, groups: groups.map((group) => ({ group, created: false })) };
    }
    const groups = await groupsFor(ec2, unique(pending.map((e) => e.vpcId)), found.value, target, settings, lookups, rec);
    const moves = await Promise.all(pending.map((eni) => rec.attempt("isolate-eni", eni.networkInterfaceId, async () => {
        const allowAll = groups.get(groupKey(eni.vpcId, "allow-all"))?.group.groupId;
        const to = groups.get(groupKey(eni.vpcId, target))?.group.groupId;
        if (!allowAll || !to) {
            throw new ActionError("the isolation groups of this VPC are unavailable", { previousGroups: eni.groupIds, leftIn: eni.groupIds });
        }
        return moveEni(ec2, eni, allowAll, to);
    }, (detail) => ({ detail: { ...detail, purpose: target } }))));
    return { ok: moves.every((m) => m.ok), groups: [...groups.values()].filter((g) => g.group.purpose === target) };
}

/** Brings groups used as found up to date (VPC endpoints come and go); off the hot path. */
async function refreshGroups(ec2: EC2Client, cut: NetworkCut, settings: EngineSettings, lookups: VpcLookups, rec: StepRecorder): Promise<void> {
    await Promise.all(cut.groups.filter((g) => !g.created && !g.changed).map(async ({ group }) => {
        const refreshed = await rec.read("security-group-rules", group.groupId, () => reconcileGroup(ec2, group, settings, lookups));
        if (refreshed.ok) {
            recordEnsured(rec, refreshed.value);
        }
    }));
}

// ---------------------------------------------------------------------------------------------
// Protections: no termination, stop or replacement, and out of the load balancers

interface WantedAttribute {
    attribute: "disableApiTermination" | "disableApiStop" | "instanceInitiatedShutdownBehavior";
    value: boolean | string;
    read: (a: InstanceAttribute) => unknown;
    set: Omit<ModifyInstanceAttributeRequest, "InstanceId">;
}

/** One attribute per ModifyInstanceAttribute call: the API takes only one at a time. */
const PROTECTIONS: WantedAttribute[] = [
    { attribute: "disableApiTermination", value: true, read: (a) => a.DisableApiTermination?.Value, set: { DisableApiTermination: { Value: true } } },
    { attribute: "disableApiStop", value: true, read: (a) => a.DisableApiStop?.Value, set: { DisableApiStop: { Value: true } } },
    {
        attribute: "instanceInitiatedShutdownBehavior", value: "stop",
        read: (a) => a.InstanceInitiatedShutdownBehavior?.Value, set: { InstanceInitiatedShutdownBehavior: { Value: "stop" } },
    },
];

async function ensureAttribute(ec2: EC2Client, instanceId: string, wanted: WantedAttribute, rec: StepRecorder): Promise<void> {
    await rec.attempt("ec2:ModifyInstanceAttribute", `${instanceId}/${wanted.attribute}`, async () => {
        const previous = wanted.read(await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute: wanted.attribute })));
        if (previous !== wanted.value) {
            await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, ...wanted.set }));
        }
        return previous;
    }, (previous) => ({ outcome: previous === wanted.value ? "noop" : "ok", detail: { previous: previous ?? null, value: wanted.value } }));
}

/** DeleteOnTermination=false on every EBS volume: the disks outlive the instance whatever happens. */
async function keepVolumes(ec2: EC2Client, instanceId: string, devices: BlockDeviceFacts[], rec: StepRecorder): Promise<void> {
    const target = `${instanceId}/blockDeviceMapping`;
    const pending = devices.filter((d) => d.deleteOnTermination !== false);
    if (pending.length === 0) {
        rec.record("ec2:ModifyInstanceAttribute", "noop", { target, detail: { deleteOnTermination: false, devices: devices.map((d) => d.deviceName) } });
        return;
    }
    await rec.attempt("ec2:ModifyInstanceAttribute", target, () => ec2.send(new ModifyInstanceAttributeCommand({
        InstanceId: instanceId,
        BlockDeviceMappings: pending.map((d) => ({ DeviceName: d.deviceName, Ebs: { DeleteOnTermination: false } })),
    })), () => ({ detail: { deleteOnTermination: false, devices: pending.map((d) => d.deviceName) } }));
}

/**
 * Takes the instance out of its Auto Scaling group, which would otherwise terminate it when it fails
 * health checks (termination protection does not stop Auto Scaling). Scale-in protection first covers
 * the moment before the detach; not decrementing the desired capacity makes the group launch a replacement.
 */
async function leaveAutoScaling(autoScaling: AutoScalingClient, instanceId: string, rec: StepRecorder): Promise<void> {
    const found = await rec.read("autoscaling:DescribeAutoScalingInstances", instanceId, async () =>
        (await autoScaling.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }))).AutoScalingInstances?.[0]);
    if (!found.ok) {
        return;
    }
    const group = found.value?.AutoScalingGroupName;
    if (!group) {
        rec.record("autoscaling:DetachInstances", "noop", { target: instanceId, detail: { reason: "in no Auto Scaling group" } });
        return;
    }
    rec.detail.autoScalingGroup = group;
    await rec.attempt("autoscaling:SetInstanceProtection", group, () => autoScaling.send(new SetInstanceProtectionCommand({
        AutoScalingGroupName: group, InstanceIds: [instanceId], ProtectedFromScaleIn: true,
    })), () => ({ detail: { instanceId, protectedFromScaleIn: true } }));
    await rec.attempt("autoscaling:DetachInstances", group, () => autoScaling.send(new DetachInstancesCommand({
        AutoScalingGroupName: group, InstanceIds: [instanceId], ShouldDecrementDesiredCapacity: false,
    })), () => ({ detail: { instanceId, shouldDecrementDesiredCapacity: false } }));
}

export interface TargetGroupMembership {
    targetGroupArn: string;
    protocol?: string;
    targets: TargetDescription[];
}

async function allTargetGroups(elbv2: ElasticLoadBalancingV2Client): Promise<TargetGroup[]> {
    const groups: TargetGroup[] = [];
    for await (const page of paginateDescribeTargetGroups({ client: elbv2 }, {})) {
        groups.push(...(page.TargetGroups ?? []));
    }
    return groups;
}

/** The instance's registrations in one target group, by instance id or (ip targets) by its addresses. */
async function membership(elbv2: ElasticLoadBalancingV2Client, tg: TargetGroup, ids: string[], rec: StepRecorder): Promise<TargetGroupMembership | undefined> {
    const arn = tg.TargetGroupArn ?? "";
    const health = await rec.read("elasticloadbalancing:DescribeTargetHealth", arn, async () =>
        (await elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }))).TargetHealthDescriptions ?? []);
    const targets = health.ok
        ? health.value.filter((d) => ids.includes(d.Target?.Id ?? "") && d.TargetHealth?.State !== "draining").map((d) => d.Target as TargetDescription)
        : [];
    return targets.length > 0 ? { targetGroupArn: arn, protocol: tg.Protocol, targets } : undefined;
}

/** Deregisters the instance from every target group of the region that lists it. */
async function leaveTargetGroups(elbv2: ElasticLoadBalancingV2Client, ids: string[], rec: StepRecorder): Promise<TargetGroupMembership[]> {
    const groups = await rec.read("elasticloadbalancing:DescribeTargetGroups", undefined, () => allTargetGroups(elbv2));
    if (!groups.ok) {
        return [];
    }
    const candidates = groups.value.filter((tg) => tg.TargetType !== "lambda" && tg.TargetType !== "alb");
    const found = (await mapLimit(candidates, 5, (tg) => membership(elbv2, tg, ids, rec)))
        .filter((m): m is TargetGroupMembership => m !== undefined);
    if (found.length === 0) {
        rec.record("elasticloadbalancing:DeregisterTargets", "noop", { target: ids[0], detail: { reason: "in no target group" } });
    }
    await Promise.all(found.map((m) => rec.attempt("elasticloadbalancing:DeregisterTargets", m.targetGroupArn,
        () => elbv2.send(new DeregisterTargetsCommand({ TargetGroupArn: m.targetGroupArn, Targets: m.targets })),
        () => ({ detail: { protocol: m.protocol, targets: m.targets } }))));
    rec.detail.targetGroups = found.map((m) => m.targetGroupArn);
    return found;
}

async function leaveClassicLoadBalancers(elb: ElasticLoadBalancingClient, instanceId: string, rec: StepRecorder): Promise<void> {
    const names = await rec.read("elasticloadbalancing:DescribeLoadBalancers", instanceId, async () => {
        const listed: string[] = [];
        for await (const page of paginateClassicLoadBalancers({ client: elb }, {})) {
            listed.push(...(page.LoadBalancerDescriptions ?? [])
                .filter((lb) => lb.Instances?.some((i) => i.InstanceId === instanceId))
                .map((lb) => lb.LoadBalancerName ?? ""));
        }
        return listed;
    });
    if (!names.ok) {
        return;
    }
    if (names.value.length === 0) {
        rec.record("elasticloadbalancing:DeregisterInstancesFromLoadBalancer", "noop", { target: instanceId, detail: { reason: "in no classic load balancer" } });
    }
    await Promise.all(names.value.map((name) => rec.attempt("elasticloadbalancing:DeregisterInstancesFromLoadBalancer", name,
        () => elb.send(new DeregisterInstancesFromLoadBalancerCommand({ LoadBalancerName: name, Instances: [{ InstanceId: instanceId }] })))));
    rec.detail.classicLoadBalancers = names.value;
}

/**
 * Termination and stop protection, shutdown behaviour `stop`, volumes kept, out of Auto Scaling and
 * every load balancer; then the report of flows the security groups cannot cut.
 */
export async function protectInstance(clients: MemberClients, instanceId: string, facts: InstanceFacts, lookups: VpcLookups, rec: StepRecorder): Promise<void> {
    const addresses = facts.networkInterfaces.flatMap((e) => [...e.privateIps, ...e.ipv6Addresses]);
    const [targetGroups] = await Promise.all([
        leaveTargetGroups(clients.elbv2, [instanceId, ...addresses], rec),
        leaveClassicLoadBalancers(clients.elb, instanceId, rec),
        leaveAutoScaling(clients.autoScaling, instanceId, rec),
        keepVolumes(clients.ec2, instanceId, facts.blockDevices ?? [], rec),
        ...PROTECTIONS.map((p) => ensureAttribute(clients.ec2, instanceId, p, rec)),
    ]);
    await reportTrackedPaths(clients.ec2, facts.networkInterfaces, lookups, targetGroups, rec);
}

// ---------------------------------------------------------------------------------------------
// Flows a security group change cannot cut

export interface TrackedPath {
    kind: string;
    id: string;
    routeTableId?: string;
    destination?: string;
    subnetIds?: string[];
}

/** Route targets whose flows stay tracked (AWS: security group connection tracking). */
const TRACKED_ROUTE_TARGETS: [keyof Route, string][] = [
    ["NatGatewayId", "nat-gateway"],
    ["TransitGatewayId", "transit-gateway"],
    ["EgressOnlyInternetGatewayId", "egress-only-internet-gateway"],
    ["VpcPeeringConnectionId", "vpc-peering-connection"],
    ["NetworkInterfaceId", "network-interface"],
];

/** Target group protocols of network (and gateway) load balancers, whose flows stay tracked. */
const TRACKED_TG_PROTOCOLS: Record<string, string> = {
    TCP: "nlb-target-group", UDP: "nlb-target-group", TLS: "nlb-target-group", TCP_UDP: "nlb-target-group", GENEVE: "gwlb-target-group",
};

function routeTableOf(tables: RouteTable[], eni: EniFacts): RouteTable | undefined {
    return tables.find((t) => t.Associations?.some((a) => a.SubnetId === eni.subnetId))
        ?? tables.find((t) => t.VpcId === eni.vpcId && t.Associations?.some((a) => a.Main));
}

function routePaths(table: RouteTable): TrackedPath[] {
    return (table.Routes ?? []).filter((r) => r.State !== "blackhole").flatMap((route) => {
        const destination = route.DestinationCidrBlock ?? route.DestinationIpv6CidrBlock ?? route.DestinationPrefixListId;
        const viaEndpoint = route.GatewayId?.startsWith("vpce-") ? [["GatewayId", "vpc-endpoint"] as const] : [];
        const via = [...viaEndpoint, ...TRACKED_ROUTE_TARGETS].find(([field]) => route[field]);
        return via ? [{ kind: via[1], id: String(route[via[0]]), routeTableId: table.RouteTableId, destination }] : [];
    });
}

async function routeTables(ec2: EC2Client, vpcIds: string[]): Promise<RouteTable[]> {
    const tables: RouteTable[] = [];
    for await (const page of paginateDescribeRouteTables({ client: ec2 }, { Filters: [{ Name: "vpc-id", Values: vpcIds }] })) {
        tables.push(...(page.RouteTables ?? []));
    }
    return tables;
}

/**
 * Lists the paths whose flows stay tracked after the security group swap (NAT/transit gateways, VPC and
 * gateway load balancer endpoints, egress-only gateways, peering, appliances, PrivateLink, NLBs): those
 * connections may survive isolation, and the case must say so.
 */
async function reportTrackedPaths(
    ec2: EC2Client, enis: EniFacts[], lookups: VpcLookups, targetGroups: TargetGroupMembership[], rec: StepRecorder,
): Promise<void> {
    const vpcIds = unique(enis.map((e) => e.vpcId));
    const [tables, endpoints] = await Promise.all([
        rec.read("ec2:DescribeRouteTables", vpcIds.join(","), () => routeTables(ec2, vpcIds)),
        rec.read("ec2:DescribeVpcEndpoints", vpcIds.join(","), async () => (await Promise.all(vpcIds.map((v) => lookups.endpoints(v)))).flat()),
    ]);
    const byRoute = new Map<string, TrackedPath>();
    for (const eni of enis) {
        const table = tables.ok ? routeTableOf(tables.value, eni) : undefined;
        for (const path of table ? routePaths(table) : []) {
            const key = `${path.routeTableId}|${path.id}|${path.destination}`;
            const known = byRoute.get(key) ?? { ...path, subnetIds: [] };
            known.subnetIds = unique([...(known.subnetIds ?? []), eni.subnetId]);
            byRoute.set(key, known);
        }
    }
    const privateLink = (endpoints.ok ? endpoints.value : [])
        .filter((e) => isInterfaceEndpoint(e) || (e.VpcEndpointType ?? "").toLowerCase() === "gatewayloadbalancer")
        .map((e) => ({ kind: isInterfaceEndpoint(e) ? "interface-endpoint" : "gateway-load-balancer-endpoint", id: e.VpcEndpointId ?? "", destination: e.ServiceName }));
    const balancers = targetGroups
        .filter((m) => TRACKED_TG_PROTOCOLS[m.protocol ?? ""])
        .map((m) => ({ kind: TRACKED_TG_PROTOCOLS[m.protocol ?? ""], id: m.targetGroupArn }));
    const paths = [...byRoute.values(), ...privateLink, ...balancers];
    rec.detail.trackedPaths = paths;
    if (paths.length > 0) {
        rec.detail.trackedFlowsWarning = `${paths.length} path(s) keep flows tracked after the security group swap `
            + `(${unique(paths.map((p) => p.kind)).join(", ")}): connections over them may survive isolation; `
            + "cut them with a subnet network ACL or on the host";
    }
}

// ---------------------------------------------------------------------------------------------
// Instance profile and notifications

export interface ProfileAssociationFacts {
    associationId: string;
    profileArn: string;
}

export const profileNameOf = (arn: string): string => arn.slice(arn.lastIndexOf("/") + 1);

/**
 * Puts `profileName` on the instance (replacing its association, or associating when it has none).
 * Returns the association found before, even when the swap failed; undefined when it could not be read.
 */
export async function swapProfile(ec2: EC2Client, instanceId: string, profileName: string, rec: StepRecorder): Promise<{ previous?: ProfileAssociationFacts } | undefined> {
    const current = await rec.read("ec2:DescribeIamInstanceProfileAssociations", instanceId, () => currentProfileAssociation(ec2, instanceId));
    if (!current.ok) {
        return undefined;
    }
    const { AssociationId: associationId, IamInstanceProfile: profile } = current.value ?? {};
    const previous = associationId && profile?.Arn ? { associationId, profileArn: profile.Arn } : undefined;
    const action = previous ? "ec2:ReplaceIamInstanceProfileAssociation" : "ec2:AssociateIamInstanceProfile";
    if (previous && profileNameOf(previous.profileArn) === profileName) {
        rec.record(action, "noop", { target: instanceId, detail: { profile: profileName } });
        return { previous };
    }
    const IamInstanceProfile = { Name: profileName };
    await rec.attempt(action, instanceId, () => previous
        ? ec2.send(new ReplaceIamInstanceProfileAssociationCommand({ AssociationId: previous.associationId, IamInstanceProfile }))
        : ec2.send(new AssociateIamInstanceProfileCommand({ InstanceId: instanceId, IamInstanceProfile })),
    () => ({ detail: { profile: profileName, previousProfile: previous ?? null } }));
    return { previous };
}

/** Publishes a notification when the step has a topic client; a failed publish is recorded. */
export async function publish(
    sns: SNSClient | undefined, settings: EngineSettings, state: CaseState, kind: NotificationKind, summary: string, rec: StepRecorder,
): Promise<void> {
    if (!sns) {
        return;
    }
    await rec.attempt("sns:Publish", kind, () => notify(sns, settings.topicArn, {
        kind, caseId: state.caseId, instance: state.instance, summary, detail: { ...rec.detail },
    }), (messageId) => ({ detail: { messageId } }));
}

// ---------------------------------------------------------------------------------------------
// The step

/**
 * The first step of an analysis: the cut comes before triage's reads. Describes the instance (one
 * call), cuts its network, then protects it and swaps its profile, after asking SSM whether its agent
 * is online (the memory branch waits for it to come back after the swap). Skipped when config disables
 * isolation; fails when the instance is not found or the network cut fails (everything else is still
 * attempted); partial when anything after the cut failed. Sets the case's `facts`.
 */
export async function isolate(state: CaseState, deps: IsolationDeps): Promise<CaseState> {
    return runStep(state, "isolation", async (rec, next) => {
        if (!deps.settings.isolation.enabled) {
            return rec.skip("isolation is disabled (isolation.enabled=false)");
        }
        try {
            await isolateInstance(state, next, deps, rec);
        } catch (err) {
            // Getting the member clients or describing the instance failed: nothing was cut, and someone must know.
            rec.fail(errorText(err));
            await publish(deps.sns, deps.settings, state, "failed", `isolation FAILED: ${errorText(err)}`, rec);
        }
    });
}

async function isolateInstance(state: CaseState, next: CaseState, deps: IsolationDeps, rec: StepRecorder): Promise<void> {
    const clients = await deps.member(state.instance, state.caseId);
    const instanceId = state.instance.instanceId;
    const found = await describeInstance(clients.ec2, instanceId);
    if (!found) {
        return rec.fail("instance not found");
    }
    const facts = instanceFacts(found.instance);
    next.facts = facts;
    const lookups = new VpcLookups(clients.ec2);
    const cut = await cutNetwork(clients.ec2, facts.networkInterfaces, "acquisition-isolation", deps.settings, lookups, rec);
    if (!cut.ok) {
        rec.fail("the network cut did not complete (see the isolate-eni actions)");
    }
    // The notification goes out as soon as the network is cut, while the rest runs.
    const notified = publish(deps.sns, deps.settings, state, cut.ok ? "isolated" : "failed", cut.ok
        ? `network cut: ${facts.networkInterfaces.length} ENI(s) in the acquisition-isolation group`
        : "isolation FAILED: the network cut did not complete", rec);
    const swapped = (async () => {
        // SSM's view before the swap (its PingStatus still reflects the old profile's last heartbeat).
        const agent = await ssmView(clients.ssm, instanceId);
        facts.ssmAtStart = agent.pingStatus;
        rec.detail.ssmAtStart = agent;
        return swapProfile(clients.ec2, instanceId, deps.settings.member.irProfileName, rec);
    })();
    const [, profile] = await Promise.all([
        protectInstance(clients, instanceId, facts, lookups, rec),
        swapped,
        refreshGroups(clients.ec2, cut, deps.settings, lookups, rec),
    ]);
    rec.detail.previousProfile = profile?.previous ?? null;
    if (profile?.previous) {
        facts.profileAssociation = profile.previous;
    }
    await notified;
}
