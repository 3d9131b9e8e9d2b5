/**
 * Snapshots shared with another account, for an emulator that cannot show them: moto keeps each account's
 * snapshots apart, so a snapshot shared with the forensic account (ModifySnapshotAttribute, which moto does
 * record) is not found when that account copies it. The SSM host's proxy passes EC2 calls through here:
 * shares are remembered as they go by, and a CopySnapshot of a snapshot shared with the caller is made in
 * the caller's account (a volume of the source's size, encrypted under the requested key, snapshotted with
 * the requested description and tags, then deleted). Only a share that moto itself confirms
 * (DescribeSnapshotAttribute as the owner) is honoured, so an unshared or unknown snapshot still fails as
 * it would on AWS. The copies made this way are listed, so a drill can say what it emulated.
 */
import {
    CreateSnapshotCommand, CreateVolumeCommand, DeleteVolumeCommand, DescribeSnapshotAttributeCommand, DescribeSnapshotsCommand, EC2Client, Tag,
} from "@aws-sdk/client-ec2";
import { TEST_CREDENTIALS, forAccount } from "./aws-clients";

/** A copy made in the caller's account from a snapshot another account shared with it. */
export interface EmulatedCopy {
    sourceSnapshotId: string;
    ownerAccount: string;
    account: string;
    region: string;
    snapshotId: string;
}

export interface SharedSnapshots {
    /** Called with every EC2 query request (form parameters) before it is forwarded. */
    observe(account: string, region: string, params: URLSearchParams): void;
    /** The new snapshot id when this is a CopySnapshot of a snapshot shared with `account`; else undefined. */
    copy(account: string, region: string, params: URLSearchParams): Promise<string | undefined>;
    copies(): EmulatedCopy[];
}

/** Tags of the request's `TagSpecification.N` for snapshots. */
function snapshotTags(params: URLSearchParams): Tag[] {
    const tags: Tag[] = [];
    for (let s = 1; params.has(`TagSpecification.${s}.ResourceType`); s++) {
        if (params.get(`TagSpecification.${s}.ResourceType`) !== "snapshot") {
            continue;
        }
        for (let t = 1; params.has(`TagSpecification.${s}.Tag.${t}.Key`); t++) {
            tags.push({ Key: params.get(`TagSpecification.${s}.Tag.${t}.Key`) ?? "", Value: params.get(`TagSpecification.${s}.Tag.${t}.Value`) ?? "" });
        }
    }
    return tags;
}

export function sharedSnapshots(motoEndpoint: string): SharedSnapshots {
    // snapshot id → owner account and region, from the ModifySnapshotAttribute calls seen.
    const owners: Record<string, { account: string; region: string }> = {};
    const made: EmulatedCopy[] = [];
    const ec2 = (account: string, region: string) =>
        forAccount(new EC2Client({ endpoint: motoEndpoint, region, credentials: TEST_CREDENTIALS, maxAttempts: 1 }), account);

    return {
        observe(account, region, params) {
            if (params.get("Action") === "ModifySnapshotAttribute" && params.get("SnapshotId")) {
                owners[params.get("SnapshotId") ?? ""] = { account, region };
            }
        },
        async copy(account, region, params) {
            const source = params.get("SourceSnapshotId") ?? "";
            const owner = owners[source];
            if (params.get("Action") !== "CopySnapshot" || !owner || owner.account === account) {
                return undefined;
            }
            const ownerEc2 = ec2(owner.account, params.get("SourceRegion") ?? owner.region);
            const callerEc2 = ec2(account, region);
            try {
                const shared = await ownerEc2.send(new DescribeSnapshotAttributeCommand({ SnapshotId: source, Attribute: "createVolumePermission" }));
                if (!(shared.CreateVolumePermissions ?? []).some((p) => p.UserId === account)) {
                    return undefined;
                }
                const snap = (await ownerEc2.send(new DescribeSnapshotsCommand({ SnapshotIds: [source] }))).Snapshots?.[0];
                const volume = await callerEc2.send(new CreateVolumeCommand({
                    AvailabilityZone: `${region}a`, Size: snap?.VolumeSize ?? 1, Encrypted: true,
                    ...(params.get("KmsKeyId") ? { KmsKeyId: params.get("KmsKeyId") ?? undefined } : {}),
                }));
                const tags = snapshotTags(params);
                const copy = await callerEc2.send(new CreateSnapshotCommand({
                    VolumeId: volume.VolumeId, Description: params.get("Description") ?? undefined,
                    ...(tags.length > 0 ? { TagSpecifications: [{ ResourceType: "snapshot", Tags: tags }] } : {}),
                }));
                await callerEc2.send(new DeleteVolumeCommand({ VolumeId: volume.VolumeId }));
                made.push({ sourceSnapshotId: source, ownerAccount: owner.account, account, region, snapshotId: copy.SnapshotId ?? "" });
                return copy.SnapshotId;
            } finally {
                ownerEc2.destroy();
                callerEc2.destroy();
            }
        },
        copies: () => [...made],
    };
}

/** EC2's answer to CopySnapshot, as the SDK parses it. */
export function copySnapshotResponse(snapshotId: string, requestId: string): string {
    return `<?xml version="1.0" encoding="UTF-8"?>\n<CopySnapshotResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">` +
        `<requestId>${requestId}</requestId><snapshotId>${snapshotId}</snapshotId></CopySnapshotResponse>`;
}
