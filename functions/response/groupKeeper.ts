/**
 * Keeps the engine's three security groups (allow-all, acquisition-isolation, contained) ready in every VPC
 * of every member account and region, so that a first case in a VPC cuts as fast as any other: the cut
 * then finds its groups with one describe call instead of creating and configuring them on the hot path.
 *
 * Run at deploy time (the security stack invokes it once the member footprints exist), then on a schedule
 * that picks up VPCs created since and endpoints that came or went. It uses the very functions isolation
 * uses (findGroups, ensureFound), so the groups it makes are the ones a case would have made. A VPC it has
 * not seen yet still works: the case creates the groups itself, as before.
 */
import { EC2Client, paginateDescribeVpcs } from "@aws-sdk/client-ec2";
import { MemberClientFactory, errorText } from "../shared/aws";
import type { EngineSettings } from "../shared/settings";
import { GROUP_NAMES, GroupPurpose, VpcLookups, ensureFound, findGroups } from "./securityGroups";

/** One member account and region to keep. */
export interface KeeperTarget {
    accountId: string;
    region: string;
}

/** What the keeper found and did in one VPC. */
export interface KeptVpc {
    accountId: string;
    region: string;
    vpcId: string;
    /** Group id by purpose. */
    groups: Partial<Record<GroupPurpose, string>>;
    created: GroupPurpose[];
    /** Groups whose rules had to change (a VPC endpoint came or went). */
    changed: GroupPurpose[];
    error?: string;
}

export interface KeeperReport {
    vpcs: KeptVpc[];
    /** Account/region pairs that could not be read at all (the role, the region, the API). */
    failed: { accountId: string; region: string; error: string }[];
}

/** The event source of the security stack's deploy-time invocation. */
export const DEPLOY_SOURCE = "ir-forensics.deploy";
/** A member role created in the same deployment may not be assumable for a few seconds (IAM propagation). */
const TARGET_RETRY_MS = [5_000, 15_000];

const PURPOSES = Object.keys(GROUP_NAMES) as GroupPurpose[];
/** findGroups filters by VPC id: EC2 takes at most 200 filter values. */
const VPCS_PER_LOOKUP = 200;

async function vpcIdsOf(ec2: EC2Client): Promise<string[]> {
    const ids: string[] = [];
    for await (const page of paginateDescribeVpcs({ client: ec2 }, {})) {
        ids.push(...(page.Vpcs ?? []).map((v) => v.VpcId ?? "").filter(Boolean));
    }
    return ids;
}

async function keepRegion(target: KeeperTarget, deps: KeeperDeps): Promise<KeptVpc[]> {
    const { ec2 } = await deps.member({ ...target, instanceId: "" }, `irf-groups-${target.region}`);
    const vpcIds = await vpcIdsOf(ec2);
    const lookups = new VpcLookups(ec2);
    const kept: KeptVpc[] = [];
    for (let i = 0; i < vpcIds.length; i += VPCS_PER_LOOKUP) {
        const batch = vpcIds.slice(i, i + VPCS_PER_LOOKUP);
        const found = await findGroups(ec2, batch);
        for (const vpcId of batch) {
            const vpc: KeptVpc = { ...target, vpcId, groups: {}, created: [], changed: [] };
            try {
                for (const purpose of PURPOSES) {
                    const ensured = await ensureFound(ec2, found, vpcId, purpose, deps.settings, lookups);
                    vpc.groups[purpose] = ensured.group.groupId;
                    if (ensured.created) {
                        vpc.created.push(purpose);
                    } else if (ensured.changed) {
                        vpc.changed.push(purpose);
                    }
                }
            } catch (err) {
                vpc.error = errorText(err);
            }
            kept.push(vpc);
        }
    }
    return kept;
}

export interface KeeperDeps {
    member: MemberClientFactory;
    settings: EngineSettings;
    /** Waits before retrying a target that could not be read (default 5 s, then 15 s). */
    retryMs?: number[];
}

/** Ensures the engine's groups in every VPC of each target; a target or VPC that fails does not stop the others. */
export async function keepEngineGroups(targets: KeeperTarget[], deps: KeeperDeps): Promise<KeeperReport> {
    const report: KeeperReport = { vpcs: [], failed: [] };
    await Promise.all(targets.map(async (target) => {
        for (let attempt = 0; ; attempt++) {
            try {
                report.vpcs.push(...await keepRegion(target, deps));
                return;
            } catch (err) {
                const wait = (deps.retryMs ?? TARGET_RETRY_MS)[attempt];
                if (wait === undefined) {
                    report.failed.push({ ...target, error: errorText(err) });
                    return;
                }
                await new Promise((resolve) => setTimeout(resolve, wait));
            }
        }
    }));
    return report;
}

/** The keeper's run in one line of JSON for the logs; an Error when some place could not be kept. */
export function keeperOutcome(report: KeeperReport): { summary: Record<string, unknown>; error?: Error } {
    const failed = [
        ...report.failed.map((f) => `${f.accountId}/${f.region}: ${f.error}`),
        ...report.vpcs.filter((v) => v.error).map((v) => `${v.accountId}/${v.region}/${v.vpcId}: ${v.error}`),
    ];
    const summary = {
        msg: "keep-groups",
        vpcs: report.vpcs.length,
        created: report.vpcs.reduce((n, v) => n + v.created.length, 0),
        changed: report.vpcs.reduce((n, v) => n + v.changed.length, 0),
        failed,
    };
    // A run that could not keep some VPC fails, so that the function's error metric and the deploy-time invocation show it.
    return failed.length === 0 ? { summary } : { summary, error: new Error(`keeping the engine's groups failed in ${failed.length} place(s): ${failed.join("; ")}`.slice(0, 2000)) };
}
