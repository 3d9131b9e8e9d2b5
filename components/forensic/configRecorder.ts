import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { managedPolicyArn, policyJson, serviceTrustPolicy } from "../shared/iam";

export interface ConfigRecorderArgs {
    partition: string;
    /** The account being recorded. */
    accountId: string;
    /** Bucket and prefix that receive configuration snapshots and history. */
    deliveryBucketName: pulumi.Input<string>;
    deliveryBucketArn: pulumi.Input<string>;
    deliveryPrefix: string;
    /** Resources the delivery channel must wait for (the bucket's policy). */
    dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * An AWS Config recorder of every supported resource type in this region, delivering to a log bucket.
 * Optional: an account enrolled in Control Tower already has one, and a second recorder cannot exist.
 */
export class ConfigRecorder extends pulumi.ComponentResource {
    public readonly recorderName: pulumi.Output<string>;

    constructor(name: string, args: ConfigRecorderArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ir-forensics:forensic:ConfigRecorder", name, {}, opts);
        const parent = { parent: this };
        const role = new aws.iam.Role(`${name}-role`, {
            description: "ir-forensics: AWS Config recorder of the forensic account",
            assumeRolePolicy: serviceTrustPolicy("config.amazonaws.com", args.accountId),
        }, parent);
        new aws.iam.RolePolicyAttachment(`${name}-managed`, {
            role: role.name,
            policyArn: managedPolicyArn(args.partition, "service-role/AWS_ConfigRole"),
        }, parent);
        new aws.iam.RolePolicy(`${name}-delivery`, {
            role: role.name,
            policy: policyJson([
                {
                    Sid: "DeliverConfigurationItems",
                    Effect: "Allow",
                    Action: "s3:PutObject",
                    Resource: pulumi.interpolate`${args.deliveryBucketArn}/${args.deliveryPrefix}AWSLogs/${args.accountId}/*`,
                },
                { Sid: "CheckDeliveryBucket", Effect: "Allow", Action: "s3:GetBucketAcl", Resource: args.deliveryBucketArn },
            ]),
        }, parent);
        const recorder = new aws.cfg.Recorder(`${name}-recorder`, {
            roleArn: role.arn,
            recordingGroup: { allSupported: true, includeGlobalResourceTypes: true },
        }, parent);
        const channel = new aws.cfg.DeliveryChannel(`${name}-delivery`, {
            s3BucketName: args.deliveryBucketName,
            s3KeyPrefix: args.deliveryPrefix.replace(/\/$/, ""),
        }, { parent: this, dependsOn: [recorder, ...(args.dependsOn ?? [])] });
        new aws.cfg.RecorderStatus(`${name}-status`, { name: recorder.name, isEnabled: true }, { parent: this, dependsOn: [channel] });
        this.recorderName = recorder.name;
        this.registerOutputs({ recorderName: this.recorderName });
    }
}
