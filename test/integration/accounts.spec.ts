/**
 * The integration tests simulate the forensic, security and member accounts on one moto server,
 * choosing the account per request (x-moto-account-id). This proves moto really keeps them apart.
 */
import * as assert from "assert";
import { randomBytes } from "crypto";
import { CreateBucketCommand, ListBucketsCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CreateKeyCommand, DescribeKeyCommand, ListKeysCommand } from "@aws-sdk/client-kms";
import { GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { AccountClients, DEFAULT_REGION, clientConfig, clientsFor } from "../../emulator/aws/aws-clients";
import { FORENSIC, MEMBER, SECURITY, useMoto } from "../support/moto";

const ACCOUNTS = [FORENSIC, SECURITY, MEMBER];

/** Runs `call`, which must fail; returns the error for inspection. */
async function failure(call: () => Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
    try {
        await call();
    } catch (err) {
        return err as Error;
    }
    assert.fail("expected the call to fail, but it succeeded");
}

describe("moto keeps the simulated accounts apart", function () {
    const moto = useMoto();
    const run = randomBytes(4).toString("hex");
    const clients = new Map<string, AccountClients>();
    const buckets = new Map<string, string>();
    const keys = new Map<string, { keyId: string; arn: string }>();

    before("reset moto and create a bucket and a KMS key in each account", async function () {
        await moto().reset();
        for (const account of ACCOUNTS) {
            const c = clientsFor(moto().endpoint, account);
            clients.set(account, c);
            const bucket = `irf-accounts-${account}-${run}`;
            await c.s3.send(new CreateBucketCommand({
                Bucket: bucket,
                CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION },
            }));
            buckets.set(account, bucket);
            const { KeyMetadata } = await c.kms.send(new CreateKeyCommand({ Description: `accounts spec ${run}` }));
            assert.ok(KeyMetadata?.KeyId && KeyMetadata.Arn, "CreateKey returned no key id or ARN");
            keys.set(account, { keyId: KeyMetadata.KeyId, arn: KeyMetadata.Arn });
        }
    });

    after(function () {
        for (const c of clients.values()) {
            c.s3.destroy();
            c.kms.destroy();
            c.sts.destroy();
            c.ec2.destroy();
        }
    });

    for (const account of ACCOUNTS) {
        it(`STS GetCallerIdentity answers ${account} for that account's clients`, async function () {
            const identity = await clients.get(account)!.sts.send(new GetCallerIdentityCommand({}));
            assert.strictEqual(identity.Account, account);
            assert.match(identity.Arn ?? "", new RegExp(`:${account}:`));
        });

        it(`ListBuckets in ${account} shows its own bucket and none of the others`, async function () {
            const { Buckets = [] } = await clients.get(account)!.s3.send(new ListBucketsCommand({}));
            const names = Buckets.map((b) => b.Name);
            for (const [owner, bucket] of buckets) {
                assert.strictEqual(names.includes(bucket), owner === account,
                    `${bucket} (owned by ${owner}) ${owner === account ? "missing from" : "visible in"} ${account}'s ListBuckets: ${names.join(", ")}`);
            }
        });

        it(`ListKeys and DescribeKey in ${account} see its own key only`, async function () {
            const kms = clients.get(account)!.kms;
            const { Keys = [] } = await kms.send(new ListKeysCommand({}));
            const ids = Keys.map((k) => k.KeyId);
            for (const [owner, key] of keys) {
                assert.strictEqual(ids.includes(key.keyId), owner === account,
                    `key ${key.keyId} (owned by ${owner}) ${owner === account ? "missing from" : "listed in"} ${account}'s ListKeys`);
                if (owner === account) {
                    const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: key.arn }));
                    assert.strictEqual(KeyMetadata?.AWSAccountId, account);
                    assert.strictEqual(KeyMetadata?.Arn, key.arn);
                } else {
                    // AWS refuses a key whose policy does not admit the caller; moto alone would answer NotFound.
                    const err = await failure(() => kms.send(new DescribeKeyCommand({ KeyId: key.arn })));
                    assert.strictEqual(err.name, "AccessDeniedException", `DescribeKey of ${owner}'s key from ${account}: ${err.name}: ${err.message}`);
                }
            }
        });
    }

    it("key ARNs carry the owning account", function () {
        for (const [owner, key] of keys) {
            assert.match(key.arn, new RegExp(`^arn:aws:kms:${DEFAULT_REGION}:${owner}:key/${key.keyId}$`));
        }
    });

    it("S3 bucket names are global: another account cannot create the same name", async function () {
        const name = buckets.get(FORENSIC)!;
        for (const other of [SECURITY, MEMBER]) {
            const err = await failure(() => clients.get(other)!.s3.send(new CreateBucketCommand({
                Bucket: name,
                CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION },
            })));
            assert.strictEqual(err.name, "BucketAlreadyExists", `${other} creating ${name}: ${err.name}: ${err.message}`);
            assert.strictEqual(err.$metadata?.httpStatusCode, 409);
        }
        // The owner gets a different answer: moto knows whose bucket it is.
        const own = await failure(() => clients.get(FORENSIC)!.s3.send(new CreateBucketCommand({
            Bucket: name,
            CreateBucketConfiguration: { LocationConstraint: DEFAULT_REGION },
        })));
        assert.strictEqual(own.name, "BucketAlreadyOwnedByYou", `${FORENSIC} re-creating ${name}: ${own.name}: ${own.message}`);
    });

    it("without the account header, requests land in moto's default account and see none of these", async function () {
        const s3 = new S3Client(clientConfig(moto().endpoint));
        try {
            const { Buckets = [] } = await s3.send(new ListBucketsCommand({}));
            const names = Buckets.map((b) => b.Name);
            for (const bucket of buckets.values()) {
                assert.ok(!names.includes(bucket), `${bucket} visible to the default account`);
            }
        } finally {
            s3.destroy();
        }
    });

    it("conditional writes are decided atomically: of writers holding the same ETag, exactly one wins", async function () {
        // S3 serializes conditional writes; compare-and-swap on the module index relies on it.
        const s3 = clients.get(FORENSIC)!.s3;
        const bucket = buckets.get(FORENSIC)!;
        const first = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "cas.json", Body: "0", IfNoneMatch: "*" }));
        for (const [condition, writers] of [[{ IfMatch: first.ETag }, 32], [{ IfNoneMatch: "*" }, 32]] as const) {
            const key = "IfMatch" in condition ? "cas.json" : `cas-new-${run}.json`;
            const outcomes = await Promise.allSettled(Array.from({ length: writers }, (_, i) =>
                s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: String(i + 1).repeat(10000), ...condition }))));
            const won = outcomes.filter((o) => o.status === "fulfilled").length;
            const refused = outcomes.filter((o) => o.status === "rejected" && [409, 412].includes(
                (o.reason as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0)).length;
            assert.deepStrictEqual({ won, refused }, { won: 1, refused: writers - 1 }, JSON.stringify(condition));
        }
    });
});
