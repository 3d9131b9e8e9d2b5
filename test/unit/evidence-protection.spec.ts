/**
 * The evidence bucket's and key's policies as IAM would decide them (iam-simulate): an administrator of
 * the forensic account (`*` on `*`) cannot destroy evidence, lift its protections or make it unreadable;
 * the deploy role can still update both policies (so updates never lock it out, and KMS's key policy
 * lockout safety check passes for it); only break-glass can delete or shred.
 */
import * as assert from "assert";
import * as aws from "@pulumi/aws";
import { runSimulation } from "@cloud-copilot/iam-simulate";
import { one, policyOf, renderStack, RenderedStack } from "../support/pulumi";

const FORENSIC = "111122223333";
const ORG = "o-a1b2c3d4e5";
const ADMIN = `arn:aws:iam::${FORENSIC}:role/Admin`;
const DEPLOY = `arn:aws:iam::${FORENSIC}:role/ir-forensics-deploy`;
const BREAK_GLASS = `arn:aws:iam::${FORENSIC}:role/ir-forensics-break-glass`;
const ADMINISTRATOR_ACCESS = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] };

describe("evidence protection under IAM's evaluation (iam-simulate)", function () {
    let stack: RenderedStack;
    let bucketArn: string;
    let keyArn: string;
    before(async () => {
        stack = await renderStack("forensic");
        bucketArn = one(stack, aws.s3.Bucket, "evidence-bucket").state.arn;
        keyArn = one(stack, aws.kms.Key, "evidence-key").state.arn;
    });

    /** The decision for `roleArn` (holding AdministratorAccess) under the bucket's or the key's policy. */
    async function decide(roleArn: string, action: string, resource: string): Promise<string> {
        const onKey = action.startsWith("kms:");
        const resourcePolicy = onKey ? policyOf(one(stack, aws.kms.Key, "evidence-key")) : policyOf(one(stack, aws.s3.BucketPolicy, "evidence-bucket-policy"));
        const name = roleArn.slice(roleArn.lastIndexOf("/") + 1);
        const result = await runSimulation({
            request: {
                principal: `arn:aws:sts::${FORENSIC}:assumed-role/${name}/session`, action,
                resource: { resource, accountId: FORENSIC },
                contextVariables: {
                    "aws:PrincipalArn": roleArn, "aws:PrincipalAccount": FORENSIC, "aws:PrincipalOrgID": ORG,
                    "aws:SecureTransport": "true", "aws:ViaAWSService": "false",
                },
            },
            identityPolicies: [{ name: "AdministratorAccess", policy: ADMINISTRATOR_ACCESS }],
            resourcePolicy,
            serviceControlPolicies: [], resourceControlPolicies: [],
        }, {});
        return result.resultType === "error" ? `error: ${result.errors.message}` : result.overallResult;
    }

    const object = () => `${bucketArn}/cases/case-1/memory/i-0abc.lime`;
    const destructive: Array<[string, () => string]> = [
        ["s3:DeleteObject", object], ["s3:DeleteObjectVersion", object], ["s3:BypassGovernanceRetention", object],
        ["s3:PutBucketPolicy", () => bucketArn], ["s3:DeleteBucketPolicy", () => bucketArn],
        ["s3:PutBucketObjectLockConfiguration", () => bucketArn], ["s3:PutLifecycleConfiguration", () => bucketArn],
        ["kms:PutKeyPolicy", () => keyArn], ["kms:DisableKey", () => keyArn], ["kms:ScheduleKeyDeletion", () => keyArn],
        ["kms:DisableKeyRotation", () => keyArn], ["kms:DeleteImportedKeyMaterial", () => keyArn],
    ];

    for (const [action, resource] of destructive) {
        it(`denies ${action} to an account administrator (* on *)`, async () => {
            assert.strictEqual(await decide(ADMIN, action, resource()), "ExplicitlyDenied");
        });
    }

    it("lets the deploy role update the bucket policy, lifecycle and Object Lock settings, and the key policy", async () => {
        for (const [action, resource] of [
            ["s3:PutBucketPolicy", bucketArn], ["s3:PutLifecycleConfiguration", bucketArn],
            ["s3:PutBucketObjectLockConfiguration", bucketArn], ["kms:PutKeyPolicy", keyArn],
        ]) {
            assert.strictEqual(await decide(DEPLOY, action, resource), "Allowed", action);
        }
    });

    it("denies the deploy role every deletion and the key's shredding", async () => {
        for (const [action, resource] of [["s3:DeleteObjectVersion", object()], ["kms:ScheduleKeyDeletion", keyArn], ["kms:DisableKey", keyArn]]) {
            assert.strictEqual(await decide(DEPLOY, action, resource), "ExplicitlyDenied", action);
        }
    });

    it("leaves deletion and key shredding to the break-glass role", async () => {
        for (const [action, resource] of [["s3:DeleteObjectVersion", object()], ["s3:BypassGovernanceRetention", object()], ["kms:ScheduleKeyDeletion", keyArn]]) {
            assert.strictEqual(await decide(BREAK_GLASS, action, resource), "Allowed", action);
        }
    });
});
