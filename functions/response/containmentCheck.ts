/**
 * Whether an instance is contained, read from the instance itself (never from the registry or a
 * manifest): every ENI in its VPC's `contained` group alone, that group without a single rule (IPv4
 * and IPv6, in and out), the deny-all profile associated, the old roles' credentials denied to the
 * instance, and the case's tags. Containment verifies its own work with it, the drill judges with it,
 * and `cases show` prints it.
 */
import { DescribeSecurityGroupsCommand, EC2Client } from "@aws-sdk/client-ec2";
import { IAMClient } from "@aws-sdk/client-iam";
import type { EngineSettings } from "../shared/settings";
import { INSTANCE_CREDENTIAL_LIFETIME_MS, PRUNE_MARGIN_MS, isInstanceRevoked } from "./revocation";
import { profileNameOf } from "./isolation";
import { GROUP_NAMES } from "./securityGroups";
import { currentProfileAssociation, describeInstance, instanceArn } from "../shared/steps";
import { CASE_TAG, InstanceRef, STATUS_CONTAIN, STATUS_TAG } from "../shared/types";

export interface ContainmentView {
    /** Every part holds. */
    contained: boolean;
    /** Each part that does not hold, in words a responder acts on ("ENI eni-… still in sg-…"). */
    open: string[];
    /** What was read, for the record and `cases show`. */
    instanceState: string;
    enis: { networkInterfaceId: string; groupIds: string[] }[];
    profileArn: string | null;
    revokedRoles: string[];
    /** Roles whose entry is gone (pruned) after every credential it denied had expired. */
    revokedExpired: string[];
    tags: Record<string, string>;
}

export interface CheckOptions {
    /** Roles whose credentials must be denied to the instance (its original role, the IR role). */
    revokedRoleNames: string[];
    /** The case that must own the tags; any case when omitted (the drill's view of another case). */
    caseId?: string;
    /**
     * When the revocation was made (the instance marked contained). Once every credential the instance's
     * old profile could have delivered before then has expired, a missing entry (pruned to make room)
     * no longer leaves anything open: the deny-all profile, checked as its own part, is what counts.
     */
    revokedAt?: string;
}

/** Reads the instance and says which parts of containment hold. Throws only when EC2 cannot be read. */
export async function containmentOnInstance(
    clients: { ec2: EC2Client; iam: IAMClient }, ref: InstanceRef, settings: Pick<EngineSettings, "partition" | "member">, options: CheckOptions,
): Promise<ContainmentView> {
    const found = await describeInstance(clients.ec2, ref.instanceId);
    if (!found) {
        return { contained: false, open: [`instance ${ref.instanceId} not found`], instanceState: "missing", enis: [], profileArn: null, revokedRoles: [], revokedExpired: [], tags: {} };
    }
    const { instance } = found;
    const open: string[] = [];
    const enis = (instance.NetworkInterfaces ?? []).map((e) => ({
        networkInterfaceId: e.NetworkInterfaceId ?? "",
        vpcId: e.VpcId ?? "",
        groupIds: (e.Groups ?? []).map((g) => g.GroupId ?? "").filter(Boolean),
    }));
    const groupIds = [...new Set(enis.flatMap((e) => e.groupIds))];
    const groups = groupIds.length === 0 ? [] : (await clients.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: groupIds }))).SecurityGroups ?? [];
    for (const eni of enis) {
        const sgs = eni.groupIds.map((id) => groups.find((g) => g.GroupId === id));
        const alone = sgs.length === 1 && sgs[0]?.GroupName === GROUP_NAMES.contained && sgs[0]?.VpcId === eni.vpcId;
        if (!alone) {
            open.push(`ENI ${eni.networkInterfaceId} still in ${eni.groupIds.join(", ") || "no group"} (not ${GROUP_NAMES.contained} alone)`);
            continue;
        }
        const sg = sgs[0];
        const rules = (sg?.IpPermissions?.length ?? 0) + (sg?.IpPermissionsEgress?.length ?? 0);
        if (rules > 0) {
            open.push(`${sg?.GroupId} (${GROUP_NAMES.contained}) on ENI ${eni.networkInterfaceId} has ${rules} rule(s)`);
        }
    }
    const association = await currentProfileAssociation(clients.ec2, ref.instanceId);
    const profileArn = association?.IamInstanceProfile?.Arn ?? null;
    if (!profileArn || profileNameOf(profileArn) !== settings.member.containedProfileName || association?.State !== "associated") {
        open.push(`instance profile is ${profileArn ?? "none"}${association?.State && association.State !== "associated" ? ` (${association.State})` : ""}, not ${settings.member.containedProfileName}`);
    }
    const arn = instanceArn(settings.partition, ref);
    const revokedExpired: string[] = [];
    const revokedRoles: string[] = [];
    const expired = options.revokedAt !== undefined
        && Date.now() >= Date.parse(options.revokedAt) + INSTANCE_CREDENTIAL_LIFETIME_MS + PRUNE_MARGIN_MS;
    for (const roleName of [...new Set(options.revokedRoleNames)]) {
        if (await isInstanceRevoked(clients.iam, roleName, arn)) {
            revokedRoles.push(roleName);
        } else if (expired) {
            revokedExpired.push(roleName);
        } else {
            open.push(`role ${roleName}'s credentials are not denied to ${ref.instanceId}`);
        }
    }
    const tags = Object.fromEntries((instance.Tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]));
    if (tags[STATUS_TAG] !== STATUS_CONTAIN) {
        open.push(`tag ${STATUS_TAG} is ${tags[STATUS_TAG] ?? "absent"}, not ${STATUS_CONTAIN}`);
    }
    if (options.caseId && tags[CASE_TAG] !== options.caseId) {
        open.push(`tag ${CASE_TAG} is ${tags[CASE_TAG] ?? "absent"}, not ${options.caseId}`);
    }
    return {
        contained: open.length === 0,
        open,
        instanceState: instance.State?.Name ?? "unknown",
        enis: enis.map(({ networkInterfaceId, groupIds: ids }) => ({ networkInterfaceId, groupIds: ids })),
        profileArn,
        revokedRoles,
        revokedExpired,
        tags,
    };
}
