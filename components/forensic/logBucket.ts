import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { policyJson, Statement } from "../shared/iam";
import { archiveRule, denyInsecureTransport, hardenBucket } from "../shared/s3";

/** AWS services that deliver logs into a bucket, each under its own key prefix. */
export type LogService = "logging.s3.amazonaws.com" | "delivery.logs.amazonaws.com" | "cloudtrail.amazonaws.com" | "config.amazonaws.com";

export interface LogDelivery {
    /** The delivering service principal. */
    service: LogService;
    /** Key prefix it writes under, ending in `/`, e.g. `s3-access/`. */
    prefix: string;
    /** When set, only deliveries on behalf of these resources (`aws:SourceArn`) are accepted. */
    sourceArns?: pulumi.Input<string>[];
}

export interface LogBucketArgs {
    /** Account that owns the bucket and whose resources deliver logs to it (`aws:SourceAccount`). */
    accountId: string;
    /** Services allowed to write, each with its prefix. */
    deliveries: LogDelivery[];
    /** Days before logs move to `archiveStorageClass`. Logs never expire: they are custody records. */
    archiveAfterDays: number;
    /** S3 storage class logs move to. */
    archiveStorageClass: string;
    /** Keep the bucket (and its logs) when the stack is destroyed. Default false. */
    retainOnDelete?: boolean;
    /**
     * Refuse to delete or replace the bucket and its settings in any update (`protect`): for custody logs.
     * Default false.
     */
    protect?: boolean;
}

/**
 * A private, versioned, SSE-S3 bucket that only the listed AWS log-delivery services may write to,
 * each under its own prefix and only for this account. SSE-S3 rather than KMS because S3 server access
 * logging does not deliver to SSE-KMS buckets, and it saves a key.
 */
export class LogBucket extends pulumi.ComponentResource {
    public readonly bucket: aws.s3.Bucket;
    public readonly bucketName: pulumi.Output<string>;
    public readonly bucketArn: pulumi.Output<string>;
    /** The bucket policy: resources that deliver logs should depend on it. */
    public readonly policy: aws.s3.BucketPolicy;

    constructor(name: string, args: LogBucketArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ir-forensics:storage:LogBucket", name, {}, opts);
        const childOpts: pulumi.CustomResourceOptions = { parent: this, retainOnDelete: args.retainOnDelete ?? false, protect: args.protect ?? false };

        this.bucket = new aws.s3.Bucket(name, { forceDestroy: false }, childOpts);
        const hardening = hardenBucket(name, this.bucket, childOpts);
        new aws.s3.BucketLifecycleConfiguration(`${name}-lifecycle`, {
            bucket: this.bucket.id,
            rules: [archiveRule(args.archiveAfterDays, args.archiveStorageClass)],
        }, { ...childOpts, dependsOn: [hardening.versioning] });

        const arn = this.bucket.arn;
        const statements: Statement[] = [denyInsecureTransport(arn)];
        // CloudTrail, flow logs and Config check the bucket's ACL before delivering; Config also lists it.
        const aclReaders = [...new Set(args.deliveries.map((d) => d.service).filter((s) => s !== "logging.s3.amazonaws.com"))];
        if (aclReaders.length > 0) {
            statements.push({
                Sid: "LogServicesCheckBucket",
                Effect: "Allow",
                Principal: { Service: aclReaders },
                Action: "s3:GetBucketAcl",
                Resource: arn,
                Condition: { StringEquals: { "aws:SourceAccount": args.accountId } },
            });
        }
        if (aclReaders.includes("config.amazonaws.com")) {
            statements.push({
                Sid: "ConfigListsBucket",
                Effect: "Allow",
                Principal: { Service: "config.amazonaws.com" },
                Action: "s3:ListBucket",
                Resource: arn,
                Condition: { StringEquals: { "aws:SourceAccount": args.accountId } },
            });
        }
        args.deliveries.forEach((d, i) => {
            // S3 server access logs land directly under the prefix; the other services add AWSLogs/<account>/.
            const keys = d.service === "logging.s3.amazonaws.com"
                ? pulumi.interpolate`${arn}/${d.prefix}*`
                : pulumi.interpolate`${arn}/${d.prefix}AWSLogs/${args.accountId}/*`;
            const condition: Statement["Condition"] = { StringEquals: { "aws:SourceAccount": args.accountId } };
            if (d.sourceArns && d.sourceArns.length > 0) {
                condition.ArnLike = { "aws:SourceArn": d.sourceArns };
            }
            statements.push({
                Sid: `Deliver${i}${d.service.split(".")[0].replace(/[^a-z]/gi, "")}`,
                Effect: "Allow",
                Principal: { Service: d.service },
                Action: "s3:PutObject",
                Resource: keys,
                Condition: condition,
            });
        });

        this.policy = new aws.s3.BucketPolicy(`${name}-policy`, {
            bucket: this.bucket.id,
            policy: policyJson(statements),
        }, { ...childOpts, dependsOn: [hardening.publicAccessBlock] });

        this.bucketName = this.bucket.bucket;
        this.bucketArn = this.bucket.arn;
        this.registerOutputs({ bucketName: this.bucketName, bucketArn: this.bucketArn });
    }
}
