import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ConditionBlock, policyJson, Statement } from "../shared/iam";
import { LogBucket } from "./logBucket";
import { archiveRule, denyInsecureTransport, hardenBucket } from "../shared/s3";

export interface EvidenceStoreArgs {
    /** AWS partition of the region (`aws`, `aws-cn`, `aws-us-gov`). */
    partition: string;
    /** Region of the bucket, key and trail (the provider's region). */
    region: string;
    /** The forensic account, owner of the store. */
    accountId: string;
    /** The organization whose principals alone may touch the bucket (`aws:PrincipalOrgID`). */
    organizationId: string;
    /** Object Lock default retention applied to every new object version. COMPLIANCE cannot be shortened or removed by anyone, root included. */
    objectLock: { mode: "GOVERNANCE" | "COMPLIANCE"; days: number };
    /** Lifecycle: move every version to `storageClass` after `afterDays`; expire after `expireAfterDays` (default: never). */
    archive: { afterDays: number; storageClass: string; expireAfterDays?: number };
    /** Days after which incomplete multipart uploads (never objects) are aborted. */
    abortIncompleteUploadsAfterDays: number;
    /** Security account whose responder roles write evidence. */
    responderAccountId: string;
    /** ArnLike pattern of the responder roles (`arn:aws:iam::<security>:role/<path>*`): they may write `cases/` only. */
    responderRolePattern: string;
    /** ArnLike patterns of the roles that may read evidence and decrypt it (workstations, human investigators). */
    readerRolePatterns: string[];
    /** ARN of the role that may also write under `analysis/` (the workstation writer variant). */
    analysisWriterRoleArn: string;
    /** The only role exempt from the delete, bypass and protection-change denies. Default: none. */
    breakGlassRoleArn?: string;
    /** Roles that may change the bucket's policy and settings (the identity that runs `pulumi up`). Default: none. */
    deployRoleArns?: string[];
    /** Bucket and prefix for S3 server access logs of the evidence bucket. */
    accessLogs: { bucketName: pulumi.Input<string>; prefix: string };
    /** CloudTrail trail that records every read and write of evidence objects. */
    trail: { name: string; managementEvents: boolean };
}

/** Actions that destroy or hide evidence; denied to everyone but the break-glass role. */
const DESTRUCTIVE_ACTIONS = ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:DeleteBucket"];

/** Actions that would weaken the bucket's protection; denied to everyone but the break-glass and deploy roles. */
const PROTECTION_ACTIONS = [
    "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning",
    "s3:PutLifecycleConfiguration", "s3:PutEncryptionConfiguration", "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketOwnershipControls", "s3:PutBucketLogging", "s3:PutBucketAcl",
];

/** Key actions that make every evidence object and snapshot unreadable; denied to everyone but the break-glass role. */
const KEY_DESTRUCTIVE_ACTIONS = ["kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:DeleteImportedKeyMaterial"];

/**
 * Key actions that would open the way to the above (a new key policy) or weaken the key; denied to everyone but
 * the break-glass and deploy roles. The alias actions keep evidence writers from being pointed at another key.
 */
const KEY_PROTECTION_ACTIONS = ["kms:PutKeyPolicy", "kms:DisableKeyRotation", "kms:UpdateAlias", "kms:DeleteAlias"];

/** Accounts named by a list of IAM ARNs or patterns. */
function accountsOf(arns: string[]): string[] {
    return [...new Set(arns.map((a) => a.split(":")[4]))];
}

/**
 * The forensic account's evidence store: an Object Lock bucket encrypted with its own KMS key, that only
 * the security account's responder roles may write (under `cases/`), only investigators may read, and no
 * one but a break-glass role may delete from; with server access logs and a CloudTrail trail of every
 * object read and write. The bucket and the key are retained when the stack is destroyed.
 */
export class EvidenceStore extends pulumi.ComponentResource {
    public readonly bucket: aws.s3.Bucket;
    public readonly bucketName: pulumi.Output<string>;
    public readonly bucketArn: pulumi.Output<string>;
    public readonly key: aws.kms.Key;
    public readonly keyArn: pulumi.Output<string>;
    public readonly keyAlias: aws.kms.Alias;
    public readonly bucketPolicy: aws.s3.BucketPolicy;
    public readonly trail: aws.cloudtrail.Trail;
    public readonly trailBucketName: pulumi.Output<string>;

    constructor(name: string, args: EvidenceStoreArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ir-forensics:forensic:EvidenceStore", name, {}, opts);
        // Never deleted by this program: retained on destroy, and protected, so that a refactor that drops
        // them (or a change that would replace them) fails instead of removing them from the stack's state.
        const keep: pulumi.CustomResourceOptions = { parent: this, retainOnDelete: true, protect: true };
        const p = args.partition;
        const accountRoot = `arn:${p}:iam::${args.accountId}:root`;
        const s3Service = `s3.${args.region}.amazonaws.com`;
        const breakGlass = args.breakGlassRoleArn ? [args.breakGlassRoleArn] : [];
        const exemptFromProtection = [...breakGlass, ...(args.deployRoleArns ?? [])];
        // Key-policy grant to roles of one account, usable only for S3 requests.
        const roleUsesKeyThroughS3 = (sid: string, account: string, rolePattern: string, actions: string[]): Statement => ({
            Sid: sid,
            Effect: "Allow",
            Principal: { AWS: `arn:${p}:iam::${account}:root` },
            Action: actions,
            Resource: "*",
            Condition: { ArnLike: { "aws:PrincipalArn": rolePattern }, StringEquals: { "kms:ViaService": s3Service } },
        });
        const exceptFor = (arns: string[]): ConditionBlock | undefined =>
            arns.length > 0 ? { ArnNotLike: { "aws:PrincipalArn": arns } } : undefined;

        this.key = new aws.kms.Key(`${name}-key`, {
            description: "ir-forensics evidence: S3 objects and EBS snapshots of every case",
            enableKeyRotation: true,
            deletionWindowInDays: 30,
            // Key policies cannot name their own key: "Resource": "*" in a key policy means this key.
            policy: policyJson([
                {
                    Sid: "AccountAdministration",
                    Effect: "Allow",
                    Principal: { AWS: accountRoot },
                    Action: "kms:*",
                    Resource: "*",
                },
                {
                    Sid: "DenyCryptoShredding",
                    Effect: "Deny",
                    Principal: "*",
                    Action: KEY_DESTRUCTIVE_ACTIONS,
                    Resource: "*",
                    Condition: exceptFor(breakGlass),
                },
                // Without this, anyone of the account with IAM rights could swap the policy and then delete the key.
                {
                    Sid: "DenyKeyProtectionChanges",
                    Effect: "Deny",
                    Principal: "*",
                    Action: KEY_PROTECTION_ACTIONS,
                    Resource: "*",
                    Condition: exceptFor(exemptFromProtection),
                },
                // Decrypt is needed by multipart uploads and by the hash verification read.
                roleUsesKeyThroughS3("RespondersEncryptEvidenceThroughS3", args.responderAccountId, args.responderRolePattern,
                    ["kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"]),
                {
                    Sid: "InvestigatorsDecrypt",
                    Effect: "Allow",
                    Principal: { AWS: accountsOf(args.readerRolePatterns).map((a) => `arn:${p}:iam::${a}:root`) },
                    Action: ["kms:Decrypt", "kms:DescribeKey"],
                    Resource: "*",
                    Condition: { ArnLike: { "aws:PrincipalArn": args.readerRolePatterns } },
                },
                roleUsesKeyThroughS3("AnalysisWriterEncryptsThroughS3", args.accountId, args.analysisWriterRoleArn,
                    ["kms:Encrypt", "kms:GenerateDataKey"]),
                {
                    Sid: "EbsSnapshotCopiesAndVolumes",
                    Effect: "Allow",
                    Principal: { AWS: accountRoot },
                    Action: ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"],
                    Resource: "*",
                    Condition: { StringEquals: { "kms:ViaService": `ec2.${args.region}.amazonaws.com`, "kms:CallerAccount": args.accountId } },
                },
                {
                    Sid: "EbsGrantsForAwsResources",
                    Effect: "Allow",
                    Principal: { AWS: accountRoot },
                    Action: "kms:CreateGrant",
                    Resource: "*",
                    Condition: {
                        StringEquals: { "kms:ViaService": `ec2.${args.region}.amazonaws.com`, "kms:CallerAccount": args.accountId },
                        Bool: { "kms:GrantIsForAWSResource": "true" },
                    },
                },
            ]),
        }, keep);
        this.keyAlias = new aws.kms.Alias(`${name}-key-alias`, {
            name: "alias/ir-forensics/evidence",
            targetKeyId: this.key.keyId,
        }, { parent: this });

        this.bucket = new aws.s3.Bucket(`${name}-bucket`, {
            objectLockEnabled: true,
            forceDestroy: false,
        }, keep);
        const hardening = hardenBucket(`${name}-bucket`, this.bucket, keep, this.key.arn);

        new aws.s3.BucketObjectLockConfiguration(`${name}-object-lock`, {
            bucket: this.bucket.id,
            objectLockEnabled: "Enabled",
            rule: { defaultRetention: { mode: args.objectLock.mode, days: args.objectLock.days } },
        }, { ...keep, dependsOn: [hardening.versioning] });

        new aws.s3.BucketLifecycleConfiguration(`${name}-lifecycle`, {
            bucket: this.bucket.id,
            rules: [
                archiveRule(args.archive.afterDays, args.archive.storageClass, args.archive.expireAfterDays),
                {
                    id: "abort-incomplete-uploads",
                    status: "Enabled",
                    filter: {},
                    abortIncompleteMultipartUpload: { daysAfterInitiation: args.abortIncompleteUploadsAfterDays },
                },
            ],
        }, { ...keep, dependsOn: [hardening.versioning] });

        new aws.s3.BucketLogging(`${name}-access-logging`, {
            bucket: this.bucket.id,
            targetBucket: args.accessLogs.bucketName,
            targetPrefix: args.accessLogs.prefix,
            targetObjectKeyFormat: { partitionedPrefix: { partitionDateSource: "EventTime" } },
        }, keep);

        const arn = this.bucket.arn;
        const objects = pulumi.interpolate`${arn}/*`;
        const casesObjects = pulumi.interpolate`${arn}/cases/*`;
        const analysisObjects = pulumi.interpolate`${arn}/analysis/*`;
        const writers = [args.responderRolePattern, args.analysisWriterRoleArn, ...breakGlass];
        const readers = [args.responderRolePattern, ...args.readerRolePatterns, ...breakGlass];
        this.bucketPolicy = new aws.s3.BucketPolicy(`${name}-bucket-policy`, {
            bucket: this.bucket.id,
            policy: policyJson([
                denyInsecureTransport(arn),
                {
                    Sid: "DenyPrincipalsOutsideOrganization",
                    Effect: "Deny",
                    Principal: "*",
                    Action: "s3:*",
                    Resource: [arn, objects],
                    Condition: {
                        StringNotEqualsIfExists: { "aws:PrincipalOrgID": args.organizationId },
                        BoolIfExists: { "aws:PrincipalIsAWSService": "false" },
                    },
                },
                // IfExists: multipart parts and presigned uploads that rely on the default encryption carry no header.
                {
                    // Only a header that asks for something else is refused: UploadPart and CompleteMultipartUpload
                    // (s3:PutObject too) carry no encryption header, and an upload without one gets the bucket's
                    // default, the evidence key. "IfExists" would refuse every part of a multipart upload.
                    Sid: "DenyUploadsNotEncryptedWithKms",
                    Effect: "Deny",
                    Principal: "*",
                    Action: "s3:PutObject",
                    Resource: objects,
                    Condition: {
                        StringNotEquals: { "s3:x-amz-server-side-encryption": "aws:kms" },
                        Null: { "s3:x-amz-server-side-encryption": "false" },
                    },
                },
                {
                    Sid: "DenyUploadsWithAnotherKey",
                    Effect: "Deny",
                    Principal: "*",
                    Action: "s3:PutObject",
                    Resource: objects,
                    Condition: {
                        StringNotEquals: { "s3:x-amz-server-side-encryption-aws-kms-key-id": this.key.arn },
                        Null: { "s3:x-amz-server-side-encryption-aws-kms-key-id": "false" },
                    },
                },
                {
                    Sid: "DenyCustomerProvidedKeys",
                    Effect: "Deny",
                    Principal: "*",
                    Action: "s3:PutObject",
                    Resource: objects,
                    Condition: { Null: { "s3:x-amz-server-side-encryption-customer-algorithm": "false" } },
                },
                {
                    Sid: "DenyEvidenceDestruction",
                    Effect: "Deny",
                    Principal: "*",
                    Action: DESTRUCTIVE_ACTIONS,
                    Resource: [arn, objects],
                    Condition: exceptFor(breakGlass),
                },
                {
                    Sid: "DenyLegalHoldRelease",
                    Effect: "Deny",
                    Principal: "*",
                    Action: "s3:PutObjectLegalHold",
                    Resource: objects,
                    Condition: {
                        StringEquals: { "s3:object-lock-legal-hold": "OFF" },
                        ...(breakGlass.length > 0 ? { ArnNotLike: { "aws:PrincipalArn": breakGlass } } : {}),
                    },
                },
                {
                    Sid: "DenyProtectionChanges",
                    Effect: "Deny",
                    Principal: "*",
                    Action: PROTECTION_ACTIONS,
                    Resource: arn,
                    Condition: exceptFor(exemptFromProtection),
                },
                {
                    Sid: "DenyWritesByOthers",
                    Effect: "Deny",
                    Principal: "*",
                    Action: "s3:PutObject",
                    Resource: objects,
                    Condition: { ArnNotLike: { "aws:PrincipalArn": writers } },
                },
                {
                    Sid: "DenyResponderWritesOutsideCases",
                    Effect: "Deny",
                    Principal: "*",
                    Action: "s3:PutObject",
                    NotResource: casesObjects,
                    Condition: { ArnLike: { "aws:PrincipalArn": args.responderRolePattern } },
                },
                {
                    Sid: "DenyAnalysisWritesOutsideAnalysis",
                    Effect: "Deny",
                    Principal: "*",
                    Action: "s3:PutObject",
                    NotResource: analysisObjects,
                    Condition: { ArnLike: { "aws:PrincipalArn": args.analysisWriterRoleArn } },
                },
                {
                    Sid: "DenyReadsByOthers",
                    Effect: "Deny",
                    Principal: "*",
                    Action: ["s3:GetObject", "s3:GetObjectVersion"],
                    Resource: objects,
                    Condition: { ArnNotLike: { "aws:PrincipalArn": readers } },
                },
                {
                    Sid: "RespondersWriteCases",
                    Effect: "Allow",
                    Principal: { AWS: `arn:${p}:iam::${args.responderAccountId}:root` },
                    Action: ["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                    Resource: casesObjects,
                    Condition: { ArnLike: { "aws:PrincipalArn": args.responderRolePattern } },
                },
                {
                    Sid: "RespondersListCases",
                    Effect: "Allow",
                    Principal: { AWS: `arn:${p}:iam::${args.responderAccountId}:root` },
                    Action: ["s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:GetBucketLocation"],
                    Resource: arn,
                    Condition: { ArnLike: { "aws:PrincipalArn": args.responderRolePattern } },
                },
                {
                    Sid: "InvestigatorsRead",
                    Effect: "Allow",
                    Principal: { AWS: accountsOf(args.readerRolePatterns).map((a) => `arn:${p}:iam::${a}:root`) },
                    Action: ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:GetBucketLocation"],
                    Resource: [arn, objects],
                    Condition: { ArnLike: { "aws:PrincipalArn": args.readerRolePatterns } },
                },
            ] satisfies Statement[]),
        }, { ...keep, dependsOn: [hardening.publicAccessBlock] });

        // The trail's bucket and its policy exist before the trail (CloudTrail checks the policy on create).
        const trailArn = `arn:${p}:cloudtrail:${args.region}:${args.accountId}:trail/${args.trail.name}`;
        const trailLogs = new LogBucket(`${name}-trail-logs`, {
            accountId: args.accountId,
            deliveries: [{ service: "cloudtrail.amazonaws.com", prefix: "", sourceArns: [trailArn] }],
            archiveAfterDays: args.archive.afterDays,
            archiveStorageClass: args.archive.storageClass,
            retainOnDelete: true,
            protect: true,
        }, { parent: this });
        const selectors: aws.types.input.cloudtrail.TrailAdvancedEventSelector[] = [{
            name: "Evidence object reads and writes",
            fieldSelectors: [
                { field: "eventCategory", equals: ["Data"] },
                { field: "resources.type", equals: ["AWS::S3::Object"] },
                { field: "resources.ARN", startsWiths: [pulumi.interpolate`${arn}/`] },
            ],
        }];
        if (args.trail.managementEvents) {
            selectors.push({ name: "Management events", fieldSelectors: [{ field: "eventCategory", equals: ["Management"] }] });
        }
        this.trail = new aws.cloudtrail.Trail(`${name}-trail`, {
            name: args.trail.name,
            s3BucketName: trailLogs.bucketName,
            enableLogFileValidation: true,
            includeGlobalServiceEvents: args.trail.managementEvents,
            isMultiRegionTrail: args.trail.managementEvents,
            advancedEventSelectors: selectors,
        }, { parent: this, dependsOn: [trailLogs.policy], retainOnDelete: true, protect: true });

        this.bucketName = this.bucket.bucket;
        this.bucketArn = this.bucket.arn;
        this.keyArn = this.key.arn;
        this.trailBucketName = trailLogs.bucketName;
        this.registerOutputs({
            bucketName: this.bucketName,
            bucketArn: this.bucketArn,
            keyArn: this.keyArn,
            trailArn: this.trail.arn,
            trailBucketName: this.trailBucketName,
        });
    }
}
