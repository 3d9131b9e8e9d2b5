/**
 * The emulator state the strict layer's rules read, asked of moto directly (never through the layer)
 * as each account's root. Answers are cached until a request through the layer changes something of
 * that account and service (`touched`), so that a burst of uploads does not re-read policies each time.
 */
import { DescribeAutoScalingGroupsCommand } from "@aws-sdk/client-auto-scaling";
import {
    DescribeIamInstanceProfileAssociationsCommand, DescribeImageAttributeCommand, DescribeImagesCommand, DescribeInstancesCommand,
    DescribeNetworkInterfacesCommand, DescribeSecurityGroupsCommand, DescribeSnapshotAttributeCommand, DescribeSnapshotsCommand,
    DescribeSubnetsCommand, DescribeTagsCommand, DescribeVolumesCommand,
} from "@aws-sdk/client-ec2";
import { DescribeEventBusCommand } from "@aws-sdk/client-eventbridge";
import {
    GetInstanceProfileCommand, GetPolicyCommand, GetPolicyVersionCommand, GetRoleCommand, GetRolePolicyCommand, GetUserCommand, GetUserPolicyCommand,
    ListAttachedRolePoliciesCommand, ListAttachedUserPoliciesCommand, ListRolePoliciesCommand, ListUserPoliciesCommand,
} from "@aws-sdk/client-iam";
import { DescribeKeyCommand, GetKeyPolicyCommand, ListAliasesCommand } from "@aws-sdk/client-kms";
import {
    GetBucketEncryptionCommand, GetBucketLocationCommand, GetBucketPolicyCommand, GetObjectLockConfigurationCommand, HeadObjectCommand, ListBucketsCommand,
} from "@aws-sdk/client-s3";
import { GetTopicAttributesCommand } from "@aws-sdk/client-sns";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { ListTagsForResourceCommand, SSMClient } from "@aws-sdk/client-ssm";
import { AccountClients, clientConfig, clientsFor, forAccount } from "../aws/aws-clients";
import { BucketFacts, EmulatorState, KeyFacts, RoleFacts, SnapshotFacts } from "./types";

/** The organization the emulated accounts belong to (aws:PrincipalOrgID, aws:ResourceOrgID). */
export interface Organization {
    id: string;
    accounts: string[];
}

type Encryption = { algorithm?: string; keyArn?: string; bucketKey: boolean };

const errorName = (err: unknown): string => (err as { name?: string; Code?: string }).name ?? "";

/** `fn`, or undefined when moto says the thing does not exist. */
async function orMissing<T>(fn: () => Promise<T>, ...missing: string[]): Promise<T | undefined> {
    try {
        return await fn();
    } catch (err) {
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (missing.includes(errorName(err)) || status === 404) {
            return undefined;
        }
        throw err;
    }
}

const decode = (doc: string | undefined): string | undefined => (doc === undefined ? undefined : doc.startsWith("%7B") || doc.startsWith("%7b") ? decodeURIComponent(doc) : doc);

/**
 * The key policy of an AWS managed key (aws/ebs, aws/s3): usable only by principals of its own account,
 * only through its service (AWS KMS developer guide, "AWS managed keys").
 */
function awsManagedKeyPolicy(account: string, region: string, service: "ec2" | "s3"): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "AllowThroughServiceForPrincipalsOfTheAccount",
                Effect: "Allow",
                Principal: { AWS: "*" },
                Action: ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
                Resource: "*",
                Condition: { StringEquals: { "kms:CallerAccount": account, "kms:ViaService": `${service}.${region}.amazonaws.com` } },
            },
            {
                Sid: "AllowDirectReadForTheAccount",
                Effect: "Allow",
                Principal: { AWS: `arn:aws:iam::${account}:root` },
                Action: ["kms:Describe*", "kms:Get*", "kms:List*"],
                Resource: "*",
            },
        ],
    });
}

export class MotoState implements EmulatorState {
    private readonly clients = new Map<string, AccountClients & { ssm: SSMClient }>();
    private readonly cache = new Map<string, { generation: number; value: Promise<unknown> }>();
    private readonly generations = new Map<string, number>();
    private readonly uploads = new Map<string, Encryption>();

    constructor(private readonly motoEndpoint: string, private readonly organization?: Organization, private readonly extraAccounts: string[] = []) {}

    /** Something of `service` in `account` changed: cached answers about it are stale. */
    touched(account: string, service: string): void {
        const key = `${account}/${service}`;
        this.generations.set(key, (this.generations.get(key) ?? 0) + 1);
    }

    /** Forgets everything (moto was reset). */
    reset(): void {
        this.cache.clear();
        this.uploads.clear();
        this.generations.clear();
        for (const c of this.clients.values()) {
            Object.values(c).forEach((client) => client.destroy());
        }
        this.clients.clear();
    }

    /** How a multipart upload is encrypted, as its CreateMultipartUpload answer said. */
    recordUpload(bucket: string, uploadId: string, encryption: Encryption): void {
        this.uploads.set(`${bucket}/${uploadId}`, encryption);
    }

    private client(account: string, region: string): AccountClients & { ssm: SSMClient } {
        const key = `${account}/${region}`;
        let c = this.clients.get(key);
        if (!c) {
            c = { ...clientsFor(this.motoEndpoint, account, region), ssm: forAccount(new SSMClient(clientConfig(this.motoEndpoint, region)), account) };
            this.clients.set(key, c);
        }
        return c;
    }

    private cached<T>(account: string, service: string, key: string, load: () => Promise<T>): Promise<T> {
        const generation = this.generations.get(`${account}/${service}`) ?? 0;
        const full = `${account}/${service}/${key}`;
        const hit = this.cache.get(full);
        if (hit && hit.generation === generation) {
            return hit.value as Promise<T>;
        }
        const value = load();
        this.cache.set(full, { generation, value });
        value.catch(() => this.cache.delete(full));
        return value;
    }

    organizationOf(account: string): string | undefined {
        return this.organization?.accounts.includes(account) ? this.organization.id : undefined;
    }

    accounts(): string[] {
        return [...new Set([...(this.organization?.accounts ?? []), ...this.extraAccounts])];
    }

    private async bucketOwner(name: string): Promise<string | undefined> {
        for (const account of this.accounts()) {
            const listed = await this.cached(account, "s3", "ListBuckets", async () =>
                ((await this.client(account, "us-east-1").s3.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name ?? ""));
            if (listed.includes(name)) {
                return account;
            }
        }
        return undefined;
    }

    async bucket(name: string): Promise<BucketFacts | undefined> {
        const account = await this.bucketOwner(name);
        if (!account) {
            return undefined;
        }
        return this.cached(account, "s3", `bucket/${name}`, async () => {
            const s3 = this.client(account, "us-east-1").s3;
            const location = await s3.send(new GetBucketLocationCommand({ Bucket: name }));
            const region = location.LocationConstraint || "us-east-1";
            const policy = await orMissing(async () => (await s3.send(new GetBucketPolicyCommand({ Bucket: name }))).Policy, "NoSuchBucketPolicy");
            const rule = await orMissing(async () => (await s3.send(new GetBucketEncryptionCommand({ Bucket: name })))
                .ServerSideEncryptionConfiguration?.Rules?.[0], "ServerSideEncryptionConfigurationNotFoundError");
            const lock = await orMissing(async () => (await s3.send(new GetObjectLockConfigurationCommand({ Bucket: name })))
                .ObjectLockConfiguration?.ObjectLockEnabled === "Enabled", "ObjectLockConfigurationNotFoundError");
            const byDefault = rule?.ApplyServerSideEncryptionByDefault;
            return {
                name, account, region, policy,
                encryption: byDefault?.SSEAlgorithm === "aws:kms" || byDefault?.SSEAlgorithm === "AES256"
                    ? { algorithm: byDefault.SSEAlgorithm, keyArn: byDefault.KMSMasterKeyID, bucketKey: rule?.BucketKeyEnabled === true }
                    : undefined,
                objectLock: lock === true,
            };
        });
    }

    async key(account: string, region: string, keyIdOrAlias: string): Promise<KeyFacts | undefined> {
        const arn = /^arn:[^:]+:kms:([^:]+):(\d{12}):/.exec(keyIdOrAlias);
        const [keyRegion, keyAccount] = arn ? [arn[1], arn[2]] : [region, account];
        const ref = keyIdOrAlias.startsWith("arn:") && keyIdOrAlias.includes(":alias/") ? `alias/${keyIdOrAlias.split(":alias/")[1]}` : keyIdOrAlias;
        if (/^alias\/aws\//.test(ref)) {
            return this.awsManagedKey(keyAccount, keyRegion, ref.slice("alias/".length) as "aws/ebs" | "aws/s3");
        }
        const kms = this.client(keyAccount, keyRegion).kms;
        const meta = await this.cached(keyAccount, "kms", `describe/${keyRegion}/${ref}`, () =>
            orMissing(async () => (await kms.send(new DescribeKeyCommand({ KeyId: ref }))).KeyMetadata, "NotFoundException"));
        if (!meta?.Arn || !meta.KeyId) {
            return undefined;
        }
        const keyId = meta.KeyId;
        return this.cached(keyAccount, "kms", `facts/${keyRegion}/${keyId}`, async () => {
            const policy = (await kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: "default" }))).Policy ?? "";
            const aliases = ((await kms.send(new ListAliasesCommand({ KeyId: keyId }))).Aliases ?? []).map((a) => a.AliasName ?? "").filter(Boolean);
            return {
                arn: meta.Arn as string, keyId, account: keyAccount, region: keyRegion, policy, aliases,
                manager: meta.KeyManager === "AWS" ? "AWS" as const : "CUSTOMER" as const, enabled: meta.Enabled !== false,
            };
        });
    }

    async awsManagedKey(account: string, region: string, alias: "aws/ebs" | "aws/s3"): Promise<KeyFacts> {
        return this.cached(account, "kms", `managed/${region}/${alias}`, async () => {
            // moto creates the managed key on first use, with no policy of its own: the documented one is used.
            const meta = (await this.client(account, region).kms.send(new DescribeKeyCommand({ KeyId: `alias/${alias}` }))).KeyMetadata;
            return {
                arn: meta?.Arn ?? "", keyId: meta?.KeyId ?? "", account, region, aliases: [`alias/${alias}`], manager: "AWS" as const, enabled: true,
                policy: awsManagedKeyPolicy(account, region, alias === "aws/ebs" ? "ec2" : "s3"),
            };
        });
    }

    async snapshot(region: string, snapshotId: string): Promise<SnapshotFacts | undefined> {
        for (const account of this.accounts()) {
            const facts = await this.cached(account, "ec2", `snapshot/${region}/${snapshotId}`, async () => {
                const ec2 = this.client(account, region).ec2;
                const snap = await orMissing(async () => (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }))).Snapshots?.[0],
                    "InvalidSnapshot.NotFound");
                if (!snap || (snap.OwnerId && snap.OwnerId !== account)) {
                    return undefined;
                }
                const shared = await ec2.send(new DescribeSnapshotAttributeCommand({ SnapshotId: snapshotId, Attribute: "createVolumePermission" }));
                // moto records no key on snapshots of encrypted volumes; on AWS a snapshot is under its volume's key.
                const kmsKeyId = snap.KmsKeyId ?? (snap.Encrypted && snap.VolumeId
                    ? await orMissing(async () => (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [snap.VolumeId as string] }))).Volumes?.[0]?.KmsKeyId,
                        "InvalidVolume.NotFound")
                    : undefined);
                return {
                    snapshotId, account, region, encrypted: snap.Encrypted === true, kmsKeyId, volumeId: snap.VolumeId,
                    tags: Object.fromEntries((snap.Tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""])),
                    sharedWith: (shared.CreateVolumePermissions ?? []).map((p) => p.UserId ?? p.Group ?? "").filter(Boolean),
                } satisfies SnapshotFacts;
            });
            if (facts) {
                return facts;
            }
        }
        return undefined;
    }

    async ec2Tags(account: string, region: string, resourceId: string): Promise<Record<string, string>> {
        return this.cached(account, "ec2", `tags/${region}/${resourceId}`, async () => {
            const out = await this.client(account, region).ec2.send(new DescribeTagsCommand({ Filters: [{ Name: "resource-id", Values: [resourceId] }] }));
            return Object.fromEntries((out.Tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]));
        });
    }

    async instanceVolumes(account: string, region: string, instanceId: string): Promise<{ volumeId: string; encrypted: boolean; kmsKeyId?: string }[]> {
        return this.cached(account, "ec2", `volumes/${region}/${instanceId}`, async () => {
            const ec2 = this.client(account, region).ec2;
            const instance = await orMissing(async () => (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Reservations?.[0]?.Instances?.[0],
                "InvalidInstanceID.NotFound");
            const ids = (instance?.BlockDeviceMappings ?? []).map((b) => b.Ebs?.VolumeId ?? "").filter(Boolean);
            if (ids.length === 0) {
                return [];
            }
            const volumes = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: ids }))).Volumes ?? [];
            return volumes.map((v) => ({ volumeId: v.VolumeId ?? "", encrypted: v.Encrypted === true, kmsKeyId: v.KmsKeyId }));
        });
    }

    private async roleFacts(account: string, name: string): Promise<RoleFacts | undefined> {
        return this.cached(account, "iam", `role/${name}`, async () => {
            const iam = this.client(account, "us-east-1").iam;
            const role = await orMissing(async () => (await iam.send(new GetRoleCommand({ RoleName: name }))).Role, "NoSuchEntityException", "NoSuchEntity");
            if (!role?.Arn) {
                return undefined;
            }
            const inline = (await iam.send(new ListRolePoliciesCommand({ RoleName: name }))).PolicyNames ?? [];
            const policies: { name: string; document: string }[] = [];
            for (const policyName of inline) {
                const doc = (await iam.send(new GetRolePolicyCommand({ RoleName: name, PolicyName: policyName }))).PolicyDocument ?? "";
                policies.push({ name: policyName, document: decode(doc) ?? "" });
            }
            const inlinePolicies = [...policies];
            const attached = (await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: name }))).AttachedPolicies ?? [];
            for (const a of attached) {
                policies.push({ name: a.PolicyName ?? a.PolicyArn ?? "", document: await this.managedPolicy(account, a.PolicyArn ?? "") });
            }
            const boundaryArn = role.PermissionsBoundary?.PermissionsBoundaryArn;
            return {
                arn: role.Arn, name, path: role.Path ?? "/", account, trustPolicy: decode(role.AssumeRolePolicyDocument) ?? "",
                policies, inlinePolicies, attachedPolicyArns: attached.map((a) => a.PolicyArn ?? ""),
                permissionsBoundary: boundaryArn ? await this.managedPolicy(account, boundaryArn) : undefined,
                maxSessionSeconds: role.MaxSessionDuration ?? 3600,
                tags: Object.fromEntries((role.Tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""])),
            };
        });
    }

    private async managedPolicy(account: string, policyArn: string): Promise<string> {
        return this.cached(account, "iam", `policy/${policyArn}`, async () => {
            const iam = this.client(account, "us-east-1").iam;
            const policy = (await iam.send(new GetPolicyCommand({ PolicyArn: policyArn }))).Policy;
            const version = await iam.send(new GetPolicyVersionCommand({ PolicyArn: policyArn, VersionId: policy?.DefaultVersionId ?? "v1" }));
            return decode(version.PolicyVersion?.Document) ?? "";
        });
    }

    async role(arn: string): Promise<RoleFacts | undefined> {
        const m = /^arn:[^:]+:iam::(\d{12}):role(\/.*\/|\/)([^/]+)$/.exec(arn);
        if (!m) {
            return undefined;
        }
        const facts = await this.roleFacts(m[1], m[3]);
        // A role is named by its whole ARN: the path must match too.
        return facts && facts.path === m[2] ? facts : undefined;
    }

    roleByName(account: string, name: string): Promise<RoleFacts | undefined> {
        return this.roleFacts(account, name);
    }

    async userPolicies(arn: string): Promise<{ name: string; document: string }[]> {
        const m = /^arn:[^:]+:iam::(\d{12}):user\/(?:.*\/)?([^/]+)$/.exec(arn);
        if (!m) {
            return [];
        }
        const [, account, name] = m;
        return this.cached(account, "iam", `user/${name}`, async () => {
            const iam = this.client(account, "us-east-1").iam;
            const out: { name: string; document: string }[] = [];
            for (const policyName of (await iam.send(new ListUserPoliciesCommand({ UserName: name }))).PolicyNames ?? []) {
                const doc = (await iam.send(new GetUserPolicyCommand({ UserName: name, PolicyName: policyName }))).PolicyDocument;
                out.push({ name: policyName, document: decode(doc) ?? "" });
            }
            for (const a of (await iam.send(new ListAttachedUserPoliciesCommand({ UserName: name }))).AttachedPolicies ?? []) {
                out.push({ name: a.PolicyName ?? "", document: await this.managedPolicy(account, a.PolicyArn ?? "") });
            }
            return out;
        });
    }

    async topicPolicy(arn: string): Promise<string | undefined> {
        const [, , , region, account] = arn.split(":");
        return this.cached(account, "sns", `topic/${arn}`, () => orMissing(async () =>
            (await this.client(account, region).sns.send(new GetTopicAttributesCommand({ TopicArn: arn }))).Attributes?.Policy, "NotFoundException", "NotFound"));
    }

    async queuePolicy(account: string, region: string, queueUrlOrName: string): Promise<string | undefined> {
        const name = queueUrlOrName.split("/").pop() ?? queueUrlOrName;
        return this.cached(account, "sqs", `queue/${region}/${name}`, () => orMissing(async () =>
            (await this.client(account, region).sqs.send(new GetQueueAttributesCommand({
                QueueUrl: `${this.motoEndpoint}/${account}/${name}`, AttributeNames: ["Policy"],
            }))).Attributes?.Policy, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"));
    }

    async busPolicy(account: string, region: string, busName: string): Promise<string | undefined> {
        return this.cached(account, "events", `bus/${region}/${busName}`, () => orMissing(async () =>
            (await this.client(account, region).events.send(new DescribeEventBusCommand({ Name: busName }))).Policy, "ResourceNotFoundException"));
    }

    async ssmDocumentTags(account: string, region: string, name: string): Promise<Record<string, string>> {
        return this.cached(account, "ssm", `doc-tags/${region}/${name}`, async () => {
            const out = await orMissing(() => this.client(account, region).ssm.send(new ListTagsForResourceCommand({ ResourceType: "Document", ResourceId: name })),
                "InvalidResourceId", "InvalidDocument");
            return Object.fromEntries((out?.TagList ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]));
        });
    }

    async instanceProfile(account: string, name: string): Promise<{ arn: string; path: string; roleArns: string[] } | undefined> {
        return this.cached(account, "iam", `profile/${name}`, async () => {
            const profile = await orMissing(async () => (await this.client(account, "us-east-1").iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name }))).InstanceProfile,
                "NoSuchEntityException", "NoSuchEntity");
            return profile?.Arn ? { arn: profile.Arn, path: profile.Path ?? "/", roleArns: (profile.Roles ?? []).map((r) => r.Arn ?? "").filter(Boolean) } : undefined;
        });
    }

    async profileAssociation(account: string, region: string, associationId: string): Promise<{ instanceId: string; profileArn?: string } | undefined> {
        return this.cached(account, "ec2", `association/${region}/${associationId}`, async () => {
            const out = await this.client(account, region).ec2.send(new DescribeIamInstanceProfileAssociationsCommand({ AssociationIds: [associationId] }));
            const a = out.IamInstanceProfileAssociations?.[0];
            return a?.InstanceId ? { instanceId: a.InstanceId, profileArn: a.IamInstanceProfile?.Arn } : undefined;
        });
    }

    async uploadEncryption(bucket: string, uploadId: string): Promise<Encryption | undefined> {
        const seen = this.uploads.get(`${bucket}/${uploadId}`);
        if (seen) {
            return seen;
        }
        // An upload the layer did not see opened (it was opened before the layer started): the bucket's default.
        const facts = await this.bucket(bucket);
        return facts?.encryption ? { algorithm: facts.encryption.algorithm, keyArn: facts.encryption.keyArn, bucketKey: facts.encryption.bucketKey } : undefined;
    }

    async objectEncryption(bucket: string, key: string, versionId?: string): Promise<Encryption | undefined> {
        const facts = await this.bucket(bucket);
        if (!facts) {
            return undefined;
        }
        return this.cached(facts.account, "s3", `object/${bucket}/${key}/${versionId ?? ""}`, async () => {
            const head = await orMissing(() => this.client(facts.account, facts.region).s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId })),
                "NotFound", "NoSuchKey", "NoSuchVersion");
            if (!head) {
                return undefined;
            }
            return { algorithm: head.ServerSideEncryption, keyArn: head.SSEKMSKeyId, bucketKey: head.BucketKeyEnabled === true };
        });
    }

    async autoScalingGroupArn(account: string, region: string, name: string): Promise<string | undefined> {
        return this.cached(account, "autoscaling", `group/${region}/${name}`, async () =>
            (await this.client(account, region).autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] })))
                .AutoScalingGroups?.[0]?.AutoScalingGroupARN);
    }

    async image(region: string, imageId: string): Promise<{ account: string; public: boolean; sharedWith: string[]; tags: Record<string, string> } | undefined> {
        for (const account of this.accounts()) {
            const found = await this.cached(account, "ec2", `image/${region}/${imageId}`, async () => {
                const ec2 = this.client(account, region).ec2;
                const image = await orMissing(async () => (await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0], "InvalidAMIID.NotFound", "InvalidAMIID.Malformed");
                if (!image) {
                    return undefined;
                }
                const owner = image.OwnerId ?? account;
                const shared = owner === account && !image.Public
                    ? ((await ec2.send(new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: "launchPermission" }))).LaunchPermissions ?? [])
                        .map((p) => p.UserId ?? "").filter(Boolean)
                    : [];
                return {
                    account: owner, public: image.Public === true, sharedWith: shared,
                    tags: Object.fromEntries((image.Tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""])),
                };
            });
            if (found) {
                return found;
            }
        }
        return undefined;
    }

    async vpcOf(account: string, region: string, resourceId: string): Promise<string | undefined> {
        return this.cached(account, "ec2", `vpc-of/${region}/${resourceId}`, async () => {
            const ec2 = this.client(account, region).ec2;
            if (resourceId.startsWith("subnet-")) {
                return (await orMissing(async () => (await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [resourceId] }))).Subnets?.[0], "InvalidSubnetID.NotFound"))?.VpcId;
            }
            if (resourceId.startsWith("sg-")) {
                return (await orMissing(async () => (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [resourceId] }))).SecurityGroups?.[0], "InvalidGroup.NotFound"))?.VpcId;
            }
            if (resourceId.startsWith("eni-")) {
                return (await orMissing(async () => (await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [resourceId] }))).NetworkInterfaces?.[0],
                    "InvalidNetworkInterfaceID.NotFound"))?.VpcId;
            }
            return undefined;
        });
    }

    async permissionsBoundaryArn(entityArn: string): Promise<string | undefined> {
        const m = /^arn:[^:]+:iam::(\d{12}):(role|user)\/(?:.*\/)?([^/]+)$/.exec(entityArn);
        if (!m) {
            return undefined;
        }
        const [, account, kind, name] = m;
        return this.cached(account, "iam", `boundary/${kind}/${name}`, async () => {
            const iam = this.client(account, "us-east-1").iam;
            const entity = kind === "role"
                ? await orMissing(async () => (await iam.send(new GetRoleCommand({ RoleName: name }))).Role, "NoSuchEntityException", "NoSuchEntity")
                : await orMissing(async () => (await iam.send(new GetUserCommand({ UserName: name }))).User, "NoSuchEntityException", "NoSuchEntity");
            return entity?.PermissionsBoundary?.PermissionsBoundaryArn;
        });
    }

    destroy(): void {
        this.reset();
    }
}
