/**
 * Settings every bucket of this program carries: owner-enforced object ownership (no ACLs), all four
 * public-access blocks and default encryption. Shared by the evidence bucket and the log buckets.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Statement } from "./iam";

export interface BucketHardening {
    ownership: aws.s3.BucketOwnershipControls;
    publicAccessBlock: aws.s3.BucketPublicAccessBlock;
    encryption: aws.s3.BucketServerSideEncryptionConfiguration;
    versioning: aws.s3.BucketVersioning;
}

/**
 * @param kmsKeyArn SSE-KMS with this key and an S3 bucket key; SSE-S3 (AES256) when undefined, as
 *   S3 server access logging requires of its target bucket.
 */
export function hardenBucket(
    name: string,
    bucket: aws.s3.Bucket,
    opts: pulumi.CustomResourceOptions,
    kmsKeyArn?: pulumi.Input<string>,
): BucketHardening {
    const ownership = new aws.s3.BucketOwnershipControls(`${name}-ownership`, {
        bucket: bucket.id,
        rule: { objectOwnership: "BucketOwnerEnforced" },
    }, opts);
    const publicAccessBlock = new aws.s3.BucketPublicAccessBlock(`${name}-public-access`, {
        bucket: bucket.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
    }, opts);
    const encryption = new aws.s3.BucketServerSideEncryptionConfiguration(`${name}-encryption`, {
        bucket: bucket.id,
        rules: [{
            applyServerSideEncryptionByDefault: kmsKeyArn
                ? { sseAlgorithm: "aws:kms", kmsMasterKeyId: kmsKeyArn }
                : { sseAlgorithm: "AES256" },
            bucketKeyEnabled: kmsKeyArn !== undefined,
        }],
    }, opts);
    const versioning = new aws.s3.BucketVersioning(`${name}-versioning`, {
        bucket: bucket.id,
        versioningConfiguration: { status: "Enabled" },
    }, opts);
    return { ownership, publicAccessBlock, encryption, versioning };
}

/** Lifecycle rule that moves current and earlier versions to an archive tier, with optional expiry. */
export function archiveRule(
    afterDays: number,
    storageClass: string,
    expireAfterDays?: number,
): aws.types.input.s3.BucketLifecycleConfigurationRule {
    return {
        id: "archive",
        status: "Enabled",
        filter: {},
        transitions: [{ days: afterDays, storageClass }],
        noncurrentVersionTransitions: [{ noncurrentDays: afterDays, storageClass }],
        ...(expireAfterDays === undefined
            ? {}
            : {
                expiration: { days: expireAfterDays },
                noncurrentVersionExpiration: { noncurrentDays: expireAfterDays },
            }),
    };
}

/** Deny every request that does not use TLS. */
export function denyInsecureTransport(bucketArn: pulumi.Input<string>): Statement {
    return {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [bucketArn, pulumi.interpolate`${bucketArn}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
    };
}
