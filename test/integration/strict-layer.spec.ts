/**
 * The strict layer refuses what AWS would refuse, one rule at a time: for each, a request that breaks it
 * is refused with AWS's answer and a well-formed one passes. Every request goes through the shared
 * emulator (moto behind the layer), as every other spec's do.
 */
import * as assert from "assert";
import { createHash } from "crypto";
import {
    CopySnapshotCommand, CreateSecurityGroupCommand, CreateSnapshotCommand, CreateTagsCommand, CreateVolumeCommand, CreateVpcCommand,
    DescribeInstancesCommand, EC2Client, RunInstancesCommand,
} from "@aws-sdk/client-ec2";
import { AttachRolePolicyCommand, CreateInstanceProfileCommand, CreateRoleCommand, AddRoleToInstanceProfileCommand, PutRolePolicyCommand } from "@aws-sdk/client-iam";
import { CreateKeyCommand, DescribeKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import {
    CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, PutBucketEncryptionCommand, PutBucketPolicyCommand, PutObjectCommand, S3Client,
    UploadPartCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { AccountClients, DEFAULT_REGION, clientConfig, clientsFor, forAccount } from "../../emulator/aws/aws-clients";
import { startStrictLayer } from "../../emulator/strict/layer";
import { FORENSIC, MEMBER, SECURITY, TEST_ORGANIZATION, useMoto } from "../support/moto";

const doc = (...Statement: object[]) => JSON.stringify({ Version: "2012-10-17", Statement });
const trustAccount = (account: string, condition?: object) =>
    doc({ Effect: "Allow", Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: "sts:AssumeRole", ...(condition ? { Condition: condition } : {}) });

/** AWS's error as the SDK reports it: name and HTTP status. */
async function refusal(p: Promise<unknown>): Promise<{ name: string; status?: number; message: string }> {
    try {
        await p;
    } catch (err) {
        const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
        return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
    }
    throw new Error("the request was accepted");
}

describe("strict layer: what AWS refuses is refused (moto behind the layer)", function () {
    this.timeout(60_000);
    const moto = useMoto();
    let member: AccountClients;
    let security: AccountClients;
    let forensic: AccountClients;
    const made: { destroy(): void }[] = [];
    let roles = 0;

    before(async () => {
        await moto().reset();
        member = clientsFor(moto().endpoint, MEMBER);
        security = clientsFor(moto().endpoint, SECURITY);
        forensic = clientsFor(moto().endpoint, FORENSIC);
    });
    after(() => {
        for (const c of [member, security, forensic]) {
            Object.values(c ?? {}).forEach((client) => client.destroy());
        }
        made.forEach((c) => c.destroy());
    });

    /** A role in `account` trusted by `trust`, with `statements` as its inline policy; its session's credentials, assumed by that account's root. */
    async function role(clients: AccountClients, account: string, statements: object[], trust = trustAccount(account)) {
        const name = `strict-spec-${++roles}`;
        const arn = (await clients.iam.send(new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: trust }))).Role?.Arn ?? "";
        if (statements.length > 0) {
            await clients.iam.send(new PutRolePolicyCommand({ RoleName: name, PolicyName: "inline", PolicyDocument: doc(...statements) }));
        }
        return { name, arn };
    }

    async function assumed(sts: STSClient, roleArn: string) {
        const c = (await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: "strict-spec" }))).Credentials;
        return { accessKeyId: c?.AccessKeyId ?? "", secretAccessKey: c?.SecretAccessKey ?? "", sessionToken: c?.SessionToken };
    }

    function client<T extends { destroy(): void }>(Make: new (config: object) => T, credentials: object, region = DEFAULT_REGION): T {
        const c = new Make({ endpoint: moto().endpoint, region, forcePathStyle: true, credentials });
        made.push(c);
        return c;
    }

    describe("signatures", () => {
        it("a request whose signature does not match its secret is refused (SignatureDoesNotMatch); signed right it passes", async () => {
            const wrong = forAccount(new STSClient({ ...clientConfig(moto().endpoint), credentials: { accessKeyId: "test", secretAccessKey: "not-the-secret" } }), MEMBER);
            made.push(wrong);
            const refused = await refusal(wrong.send(new GetCallerIdentityCommand({})));
            assert.strictEqual(refused.name, "SignatureDoesNotMatch");
            assert.strictEqual((await member.sts.send(new GetCallerIdentityCommand({}))).Account, MEMBER);
        });

        it("an access key nobody issued is refused", async () => {
            const unknown = new S3Client({ ...clientConfig(moto().endpoint), credentials: { accessKeyId: "AKIAUNKNOWN0000000000", secretAccessKey: "x" } });
            made.push(unknown);
            assert.strictEqual((await refusal(unknown.send(new GetObjectCommand({ Bucket: "nobody", Key: "k" })))).name, "InvalidAccessKeyId");
        });

        describe("presigned UploadPart", () => {
            const bucket = "strict-spec-presigned";
            let upload: { url: string; body: Buffer };
            before(async () => {
                await forensic.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION } }));
                const { UploadId } = await forensic.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "image" }));
                // Harness keys for presigned URLs name their account (a URL carries no account header).
                const presigner = new S3Client({
                    ...clientConfig(moto().endpoint), credentials: { accessKeyId: `test-${FORENSIC}`, secretAccessKey: "test" }, requestChecksumCalculation: "WHEN_REQUIRED",
                });
                made.push(presigner);
                upload = {
                    url: await getSignedUrl(presigner, new UploadPartCommand({ Bucket: bucket, Key: "image", UploadId, PartNumber: 1 }), { expiresIn: 600 }),
                    body: Buffer.alloc(1024, 7),
                };
            });

            it("an x-amz-* header it does not sign is refused (HeadersNotSigned), as the host's SHA-256 checksum was", async () => {
                const sha = createHash("sha256").update(upload.body).digest("base64");
                const res = await fetch(upload.url, { method: "PUT", body: upload.body, headers: { "x-amz-checksum-sha256": sha } });
                assert.strictEqual(res.status, 403);
                assert.match(await res.text(), /HeadersNotSigned|not signed/);
            });

            it("Content-MD5 need not be signed: the part is accepted, and a wrong one is refused (BadDigest)", async () => {
                const md5 = createHash("md5").update(upload.body).digest("base64");
                const ok = await fetch(upload.url, { method: "PUT", body: upload.body, headers: { "content-md5": md5 } });
                assert.strictEqual(ok.status, 200, await ok.text());
                const bad = await fetch(upload.url, { method: "PUT", body: upload.body, headers: { "content-md5": createHash("md5").update("x").digest("base64") } });
                assert.strictEqual(bad.status, 400);
                assert.match(await bad.text(), /BadDigest/);
            });

            it("an expired URL is refused", async () => {
                const presigner = new S3Client({ ...clientConfig(moto().endpoint), credentials: { accessKeyId: `test-${FORENSIC}`, secretAccessKey: "test" } });
                made.push(presigner);
                const url = await getSignedUrl(presigner, new GetObjectCommand({ Bucket: bucket, Key: "image" }), { expiresIn: 1 });
                await new Promise((r) => setTimeout(r, 2_100));
                const res = await fetch(url);
                assert.strictEqual(res.status, 403);
                assert.match(await res.text(), /Request has expired/);
            });
        });
    });

    describe("authorization", () => {
        it("without an identity Allow, an action is refused (UnauthorizedOperation, naming action and principal); the allowed one passes", async () => {
            const r = await role(member, MEMBER, [{ Effect: "Allow", Action: "ec2:DescribeInstances", Resource: "*" }]);
            const ec2 = client(EC2Client, await assumed(member.sts, r.arn));
            await ec2.send(new DescribeInstancesCommand({}));
            const refused = await refusal(ec2.send(new CreateVpcCommand({ CidrBlock: "10.9.0.0/16" })));
            assert.strictEqual(refused.name, "UnauthorizedOperation");
            assert.match(refused.message, new RegExp(`${r.name}.*ec2:CreateVpc`));
            const logged = moto().layer.refusals().find((x) => x.action === "ec2:CreateVpc" && x.principal.includes(r.name));
            assert.match(logged?.reason ?? "", /no Allow matched/);
        });

        it("an explicit Deny in a bucket policy refuses even the account's root, naming the statement", async () => {
            const bucket = "strict-spec-deny";
            await forensic.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION } }));
            await forensic.s3.send(new PutBucketPolicyCommand({
                Bucket: bucket, Policy: doc({ Sid: "NoWritesUnderLocked", Effect: "Deny", Principal: "*", Action: "s3:PutObject", Resource: `arn:aws:s3:::${bucket}/locked/*` }),
            }));
            await forensic.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "open/a", Body: "a" }));
            assert.strictEqual((await refusal(forensic.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "locked/a", Body: "a" })))).status, 403);
            assert.match(moto().layer.refusals().pop()?.reason ?? "", /NoWritesUnderLocked/);
        });

        it("a key policy that names neither the caller nor its account refuses it, whatever its own policy allows; one that names it allows", async () => {
            const r = await role(security, SECURITY, [{ Effect: "Allow", Action: "kms:DescribeKey", Resource: "*" }]);
            const kms = client(KMSClient, await assumed(security.sts, r.arn));
            const admin = { Effect: "Allow", Principal: { AWS: `arn:aws:iam::${SECURITY}:role/nobody-${roles}` }, Action: "kms:*", Resource: "*" };
            await security.iam.send(new CreateRoleCommand({ RoleName: `nobody-${roles}`, AssumeRolePolicyDocument: trustAccount(SECURITY) }));
            const closed = await security.kms.send(new CreateKeyCommand({ Policy: doc(admin), BypassPolicyLockoutSafetyCheck: true }));
            assert.strictEqual((await refusal(kms.send(new DescribeKeyCommand({ KeyId: closed.KeyMetadata?.Arn })))).name, "AccessDeniedException");
            assert.match(moto().layer.refusals().pop()?.reason ?? "", /resource/);
            const open = await security.kms.send(new CreateKeyCommand({
                Policy: doc(admin, { Effect: "Allow", Principal: { AWS: r.arn }, Action: "kms:DescribeKey", Resource: "*" }), BypassPolicyLockoutSafetyCheck: true,
            }));
            assert.ok((await kms.send(new DescribeKeyCommand({ KeyId: open.KeyMetadata?.Arn }))).KeyMetadata);
            // Another account's key that delegates only to its own account: refused (moto could not serve it anyway).
            const foreign = await forensic.kms.send(new CreateKeyCommand({ Policy: doc({ Effect: "Allow", Principal: { AWS: `arn:aws:iam::${FORENSIC}:root` }, Action: "kms:*", Resource: "*" }) }));
            assert.strictEqual((await refusal(kms.send(new DescribeKeyCommand({ KeyId: foreign.KeyMetadata?.Arn })))).name, "AccessDeniedException");
        });

        it("under an S3 Bucket Key the encryption context is the bucket's ARN: a key policy conditioned on object ARNs refuses, on the bucket's allows", async () => {
            for (const [suffix, context, allowed] of [["objects", "/*", false], ["bucket", "", true]] as const) {
                const bucket = `strict-spec-bucket-key-${suffix}`;
                const r = await role(forensic, FORENSIC, [{ Effect: "Allow", Action: ["s3:PutObject", "s3:GetObject"], Resource: `arn:aws:s3:::${bucket}/*` }]);
                const key = await forensic.kms.send(new CreateKeyCommand({
                    Policy: doc(
                        { Effect: "Allow", Principal: { AWS: `arn:aws:iam::${FORENSIC}:root` }, Action: "kms:*", Resource: "*" },
                        {
                            Effect: "Allow", Principal: { AWS: r.arn }, Action: ["kms:GenerateDataKey", "kms:Decrypt"], Resource: "*",
                            Condition: { StringLike: { "kms:EncryptionContext:aws:s3:arn": `arn:aws:s3:::${bucket}${context}` } },
                        },
                    ),
                }));
                await forensic.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION } }));
                await forensic.s3.send(new PutBucketEncryptionCommand({
                    Bucket: bucket,
                    ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "aws:kms", KMSMasterKeyID: key.KeyMetadata?.Arn }, BucketKeyEnabled: true }] },
                }));
                const s3 = client(S3Client, await assumed(forensic.sts, r.arn));
                const put = s3.send(new PutObjectCommand({ Bucket: bucket, Key: "index.json", Body: "{}" }));
                if (allowed) {
                    await put;
                } else {
                    const refused = await refusal(put);
                    assert.strictEqual(refused.status, 403);
                    assert.match(moto().layer.refusals().pop()?.action ?? "", /kms:GenerateDataKey/);
                }
            }
        });

        describe("EBS snapshots", () => {
            let volumeId: string;
            let snapshotId: string;
            before(async () => {
                volumeId = (await member.ec2.send(new CreateVolumeCommand({ AvailabilityZone: `${DEFAULT_REGION}a`, Size: 1 }))).VolumeId ?? "";
                snapshotId = (await member.ec2.send(new CreateSnapshotCommand({ VolumeId: volumeId }))).SnapshotId ?? "";
            });
            const copy = (ec2: EC2Client) => ec2.send(new CopySnapshotCommand({
                SourceSnapshotId: snapshotId, SourceRegion: DEFAULT_REGION, TagSpecifications: [{ ResourceType: "snapshot", Tags: [{ Key: "case", Value: "c1" }] }],
            }));

            it("snapshot ARNs name no account: tagging at CopySnapshot granted on an ARN with the account is refused, without it allowed", async () => {
                for (const [arn, allowed] of [[`arn:aws:ec2:*:${MEMBER}:snapshot/*`, false], ["arn:aws:ec2:*::snapshot/*", true]] as const) {
                    const r = await role(member, MEMBER, [
                        { Effect: "Allow", Action: "ec2:CopySnapshot", Resource: "arn:aws:ec2:*::snapshot/*" },
                        { Effect: "Allow", Action: "ec2:CreateTags", Resource: arn, Condition: { StringEquals: { "ec2:CreateAction": "CopySnapshot" } } },
                    ]);
                    const ec2 = client(EC2Client, await assumed(member.sts, r.arn));
                    if (allowed) {
                        assert.ok((await copy(ec2)).SnapshotId);
                    } else {
                        assert.strictEqual((await refusal(copy(ec2))).name, "UnauthorizedOperation");
                        assert.strictEqual(moto().layer.refusals().pop()?.action, "ec2:CreateTags");
                    }
                }
            });

            it("a role that may tag snapshots only at creation cannot tag one afterwards (no ec2:CreateAction)", async () => {
                const r = await role(member, MEMBER, [
                    { Effect: "Allow", Action: "ec2:CreateSnapshot", Resource: ["arn:aws:ec2:*::snapshot/*", `arn:aws:ec2:*:${MEMBER}:volume/*`] },
                    { Effect: "Allow", Action: "ec2:CreateTags", Resource: "arn:aws:ec2:*::snapshot/*", Condition: { StringEquals: { "ec2:CreateAction": "CreateSnapshot" } } },
                ]);
                const ec2 = client(EC2Client, await assumed(member.sts, r.arn));
                const made = await ec2.send(new CreateSnapshotCommand({ VolumeId: volumeId, TagSpecifications: [{ ResourceType: "snapshot", Tags: [{ Key: "case", Value: "c2" }] }] }));
                const refused = await refusal(ec2.send(new CreateTagsCommand({ Resources: [made.SnapshotId ?? ""], Tags: [{ Key: "device", Value: "/dev/xvda" }] })));
                assert.strictEqual(refused.name, "UnauthorizedOperation");
            });
        });

        describe("AssumeRole across accounts", () => {
            it("a trust policy that does not name the caller's account refuses it", async () => {
                const target = await role(forensic, FORENSIC, [], trustAccount(SECURITY));
                const caller = await role(member, MEMBER, [{ Effect: "Allow", Action: "sts:AssumeRole", Resource: target.arn }]);
                const sts = client(STSClient, await assumed(member.sts, caller.arn));
                assert.strictEqual((await refusal(sts.send(new AssumeRoleCommand({ RoleArn: target.arn, RoleSessionName: "x" })))).name, "AccessDenied");
            });

            it("a trust conditioned on aws:PrincipalOrgID admits the organization's accounts only", async () => {
                const target = await role(forensic, FORENSIC, [], doc({
                    Effect: "Allow", Principal: { AWS: [`arn:aws:iam::${SECURITY}:root`, "arn:aws:iam::999988887777:root"] }, Action: "sts:AssumeRole",
                    Condition: { StringEquals: { "aws:PrincipalOrgID": TEST_ORGANIZATION.id } },
                }));
                const inside = await role(security, SECURITY, [{ Effect: "Allow", Action: "sts:AssumeRole", Resource: target.arn }]);
                const stsInside = client(STSClient, await assumed(security.sts, inside.arn));
                assert.ok((await stsInside.send(new AssumeRoleCommand({ RoleArn: target.arn, RoleSessionName: "in" }))).Credentials);
                const stranger = clientsFor(moto().endpoint, "999988887777");
                made.push(...Object.values(stranger));
                const outside = await role(stranger, "999988887777", [{ Effect: "Allow", Action: "sts:AssumeRole", Resource: target.arn }]);
                const stsOutside = client(STSClient, await assumed(stranger.sts, outside.arn));
                assert.strictEqual((await refusal(stsOutside.send(new AssumeRoleCommand({ RoleArn: target.arn, RoleSessionName: "out" })))).name, "AccessDenied");
            });

            it("role chaining caps the session at one hour", async () => {
                const target = await role(member, MEMBER, []);
                const caller = await role(member, MEMBER, [{ Effect: "Allow", Action: "sts:AssumeRole", Resource: target.arn }]);
                await member.iam.send(new PutRolePolicyCommand({ RoleName: target.name, PolicyName: "inline", PolicyDocument: doc({ Effect: "Allow", Action: "sts:GetCallerIdentity", Resource: "*" }) }));
                const sts = client(STSClient, await assumed(member.sts, caller.arn));
                const refused = await refusal(sts.send(new AssumeRoleCommand({ RoleArn: target.arn, RoleSessionName: "chain", DurationSeconds: 7200 })));
                assert.strictEqual(refused.name, "ValidationError");
                assert.match(refused.message, /role chaining/);
            });
        });

        it("an instance's credentials stop working once its role denies them by ec2:SourceInstanceARN (credential revocation)", async () => {
            const name = `strict-spec-workload-${++roles}`;
            await member.iam.send(new CreateRoleCommand({
                RoleName: name, AssumeRolePolicyDocument: doc({ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }),
            }));
            await member.iam.send(new AttachRolePolicyCommand({ RoleName: name, PolicyArn: "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" }));
            await member.iam.send(new PutRolePolicyCommand({ RoleName: name, PolicyName: "app", PolicyDocument: doc({ Effect: "Allow", Action: "ec2:DescribeInstances", Resource: "*" }) }));
            await member.iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name }));
            await member.iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: name }));
            const run = await member.ec2.send(new RunInstancesCommand({ ImageId: "ami-04681a1dbd79675a5", InstanceType: "t3.micro", MinCount: 1, MaxCount: 1, IamInstanceProfile: { Name: name } }));
            const instanceId = run.Instances?.[0]?.InstanceId ?? "";
            // What an attacker on the host takes from IMDS.
            const stolen = await moto().layer.instanceCredentials(MEMBER, DEFAULT_REGION, instanceId);
            const ec2 = client(EC2Client, stolen);
            await ec2.send(new DescribeInstancesCommand({}));
            await member.iam.send(new PutRolePolicyCommand({
                RoleName: name, PolicyName: "revoked", PolicyDocument: doc({
                    Effect: "Deny", Action: "*", Resource: "*",
                    Condition: { StringEquals: { "ec2:SourceInstanceARN": `arn:aws:ec2:${DEFAULT_REGION}:${MEMBER}:instance/${instanceId}` } },
                }),
            }));
            assert.strictEqual((await refusal(ec2.send(new DescribeInstancesCommand({})))).name, "UnauthorizedOperation");
            assert.match(moto().layer.refusals().pop()?.reason ?? "", /explicit Deny.*revoked/);
        });
    });

    it("counts a request of a session named for one instance that names another instance, and no request that names its own", async () => {
        const r = await role(member, MEMBER, [{ Effect: "Allow", Action: ["ec2:DescribeInstances", "ec2:CreateTags"], Resource: "*" }]);
        const own = "i-0aaaaaaaaaaaaaaa1";
        const other = "i-0bbbbbbbbbbbbbbb2";
        const c = (await member.sts.send(new AssumeRoleCommand({ RoleArn: r.arn, RoleSessionName: `irf-isolate-${MEMBER}-${DEFAULT_REGION}-${own}-20261204` }))).Credentials;
        const ec2 = client(EC2Client, { accessKeyId: c?.AccessKeyId ?? "", secretAccessKey: c?.SecretAccessKey ?? "", sessionToken: c?.SessionToken });
        const before = moto().layer.stats().foreignInstance.byOperation["ec2:DescribeInstances"] ?? 0;
        await ec2.send(new DescribeInstancesCommand({ InstanceIds: [own] })).catch(() => undefined);
        assert.strictEqual(moto().layer.stats().foreignInstance.byOperation["ec2:DescribeInstances"] ?? 0, before, "its own instance is not foreign");
        await ec2.send(new DescribeInstancesCommand({ InstanceIds: [other] })).catch(() => undefined);
        const stats = moto().layer.stats().foreignInstance;
        assert.strictEqual(stats.byOperation["ec2:DescribeInstances"], before + 1);
        assert.ok(stats.samples.some((x) => x.includes(other) && x.includes(r.name)), stats.samples.join("\n"));
    });

    it("--lenient (comparison only) passes what the strict layer refuses", async () => {
        const lenient = await startStrictLayer({ upstream: moto().moto.endpoint, motoEndpoint: moto().moto.endpoint, lenient: true, organization: TEST_ORGANIZATION });
        try {
            const ec2 = forAccount(new EC2Client({ ...clientConfig(lenient.endpoint), credentials: { accessKeyId: "test", secretAccessKey: "not-the-secret" } }), MEMBER);
            made.push(ec2);
            await ec2.send(new CreateSecurityGroupCommand({ GroupName: "lenient", Description: "lenient" }));
            assert.deepStrictEqual(lenient.stats().refused, {});
        } finally {
            await lenient.stop();
        }
    });
});
