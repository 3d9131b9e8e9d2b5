import * as fs from "fs";
import * as path from "path";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { EC2Client } from "@aws-sdk/client-ec2";
import { IAMClient } from "@aws-sdk/client-iam";
import { S3Client } from "@aws-sdk/client-s3";
import { SSMClient } from "@aws-sdk/client-ssm";
import { settingsFromEnvironment } from "../../functions/shared/runtime";
import {
    LaunchRequest, LaunchResult, ObjectCreatedEvent, WORKSTATION_CASE_TAG, WorkstationScripts, WorkstationSettings,
    launchWorkstation, onManifestWritten, sessionManagerStatements,
} from "../../functions/workstation/workstation";
import { engineFunction } from "../shared/engineFunction";
import { ModuleStoreRef, symbolTableStatements } from "./investigatorAccess";
import { policyJson, Statement } from "../shared/iam";

const HOST_SCRIPTS = path.join(__dirname, "..", "..", "imagebuilder");

export interface WorkstationLauncherArgs {
    partition: string;
    region: string;
    /** The forensic account. */
    accountId: string;
    evidenceBucketName: pulumi.Input<string>;
    evidenceBucketArn: pulumi.Input<string>;
    evidenceKeyArn: pulumi.Input<string>;
    /** Key prefix of cases in the evidence bucket, e.g. `cases/`. */
    casesPrefix: string;
    moduleStore: ModuleStoreRef;
    /** SSM parameter holding the newest SIFT AMI id (written by the image pipeline). */
    amiParameterName: string;
    /** The analysis VPC; workstations go into its subnets. */
    vpcId: pulumi.Input<string>;
    vpcArn: pulumi.Input<string>;
    workstationSecurityGroupId: pulumi.Input<string>;
    access: "eic" | "ssm";
    /** `eic` mode: put into the connect command. */
    instanceConnectEndpointId?: pulumi.Input<string>;
    instanceType: string;
    /** Hours without use after which a workstation stops itself. */
    idleStopHours: number;
    /** IAM path of investigator roles: the launcher's role (it reads case manifests) and the per-case roles below it. */
    investigatorPath: string;
    /** Launch a workstation when a case's final manifest is written. Default false. */
    launchAtCaseEnd?: boolean;
    /** Retention of the launcher's logs. Default 365. */
    logRetentionDays?: number;
}

/**
 * Launches one SIFT workstation per case (invoke with `{"caseId": "..."}`, or automatically when a case's
 * final manifest is written, if enabled), with the case's evidence volumes mounted read-only and a
 * per-case role whose permissions boundary limits it to reading evidence and symbol tables.
 */
export class WorkstationLauncher extends pulumi.ComponentResource {
    public readonly functionName: pulumi.Output<string>;
    public readonly functionArn: pulumi.Output<string>;
    public readonly roleArn: pulumi.Output<string>;
    public readonly permissionsBoundaryArn: pulumi.Output<string>;
    public readonly casePath: string;

    constructor(name: string, args: WorkstationLauncherArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ir-forensics:forensic:WorkstationLauncher", name, {}, opts);
        const p = args.partition;
        const { region, accountId } = args;
        const casePath = `${args.investigatorPath}case/`;
        const s3Service = `s3.${region}.amazonaws.com`;
        const ec2Service = `ec2.${region}.amazonaws.com`;
        const ec2Arn = (resource: string, owner = accountId) => `arn:${p}:ec2:${region}:${owner}:${resource}`;

        // The most any per-case role can do, whatever policy the launcher puts on it.
        const boundary = new aws.iam.Policy(`${name}-case-boundary`, {
            name: "ir-forensics-case-workstation-boundary",
            path: args.investigatorPath,
            description: "ir-forensics: limit of every per-case workstation role (read case evidence and symbol tables, Session Manager)",
            policy: policyJson([
                {
                    Sid: "ReadCaseEvidence",
                    Effect: "Allow",
                    Action: ["s3:GetObject", "s3:GetObjectVersion"],
                    Resource: pulumi.interpolate`${args.evidenceBucketArn}/${args.casesPrefix}*`,
                },
                {
                    Sid: "ListCaseEvidence",
                    Effect: "Allow",
                    Action: "s3:ListBucket",
                    Resource: args.evidenceBucketArn,
                    Condition: { StringLike: { "s3:prefix": `${args.casesPrefix}*` } },
                },
                {
                    Sid: "DecryptEvidenceThroughS3",
                    Effect: "Allow",
                    Action: "kms:Decrypt",
                    Resource: args.evidenceKeyArn,
                    Condition: { StringEquals: { "kms:ViaService": s3Service } },
                },
                ...symbolTableStatements(p, region, args.moduleStore),
                ...sessionManagerStatements(p, region, accountId),
            ]),
        }, { parent: this });

        const caseRoles = `arn:${p}:iam::${accountId}:role${casePath}*`;
        const caseProfiles = `arn:${p}:iam::${accountId}:instance-profile${casePath}*`;
        const statements: Statement[] = [
            {
                // Describe calls support no resource-level permissions.
                Sid: "DescribeForLaunch",
                Effect: "Allow",
                Action: ["ec2:DescribeSnapshots", "ec2:DescribeInstances", "ec2:DescribeSubnets"],
                Resource: "*",
            },
            {
                Sid: "LaunchFromOwnImagesAndSnapshots",
                Effect: "Allow",
                Action: "ec2:RunInstances",
                Resource: [`arn:${p}:ec2:${region}::image/*`, `arn:${p}:ec2:${region}::snapshot/*`],
                Condition: { StringEquals: { "ec2:Owner": accountId } },
            },
            {
                Sid: "LaunchIntoAnalysisSubnets",
                Effect: "Allow",
                Action: "ec2:RunInstances",
                Resource: [ec2Arn("subnet/*"), ec2Arn("network-interface/*")],
                Condition: { ArnEquals: { "ec2:Vpc": args.vpcArn } },
            },
            {
                Sid: "LaunchWithWorkstationGroup",
                Effect: "Allow",
                Action: "ec2:RunInstances",
                Resource: pulumi.interpolate`${ec2Arn("security-group/")}${args.workstationSecurityGroupId}`,
            },
            {
                Sid: "LaunchCaseWorkstations",
                Effect: "Allow",
                Action: "ec2:RunInstances",
                Resource: ec2Arn("instance/*"),
                Condition: {
                    ArnLike: { "ec2:InstanceProfile": caseProfiles },
                    StringEquals: { "ec2:MetadataHttpTokens": "required", "ec2:InstanceType": args.instanceType },
                },
            },
            {
                Sid: "CreateEncryptedEvidenceVolumes",
                Effect: "Allow",
                Action: "ec2:RunInstances",
                Resource: ec2Arn("volume/*"),
                Condition: { Bool: { "ec2:Encrypted": "true" } },
            },
            {
                Sid: "TagAtLaunch",
                Effect: "Allow",
                Action: "ec2:CreateTags",
                Resource: [ec2Arn("instance/*"), ec2Arn("volume/*")],
                Condition: { StringEquals: { "ec2:CreateAction": "RunInstances" } },
            },
            {
                Sid: "StartCaseWorkstations",
                Effect: "Allow",
                Action: "ec2:StartInstances",
                Resource: ec2Arn("instance/*"),
                Condition: { Null: { [`aws:ResourceTag/${WORKSTATION_CASE_TAG}`]: "false" } },
            },
            {
                // Volumes from evidence snapshots are encrypted under the evidence key (key policy: through EC2 only).
                Sid: "EvidenceVolumesThroughEc2",
                Effect: "Allow",
                Action: ["kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:DescribeKey"],
                Resource: args.evidenceKeyArn,
                Condition: { StringEquals: { "kms:ViaService": ec2Service } },
            },
            {
                Sid: "EvidenceVolumeGrantsForEc2",
                Effect: "Allow",
                Action: "kms:CreateGrant",
                Resource: args.evidenceKeyArn,
                Condition: { StringEquals: { "kms:ViaService": ec2Service }, Bool: { "kms:GrantIsForAWSResource": "true" } },
            },
            {
                Sid: "CaseRolesWithBoundary",
                Effect: "Allow",
                Action: ["iam:CreateRole", "iam:PutRolePolicy"],
                Resource: caseRoles,
                Condition: { StringEquals: { "iam:PermissionsBoundary": boundary.arn } },
            },
            {
                // CreateRole's tags (TagRole has no iam:PermissionsBoundary key): the case tag only.
                Sid: "TagCaseRoles",
                Effect: "Allow",
                Action: "iam:TagRole",
                Resource: caseRoles,
                Condition: { "ForAllValues:StringEquals": { "aws:TagKeys": [WORKSTATION_CASE_TAG] } },
            },
            {
                Sid: "CaseInstanceProfiles",
                Effect: "Allow",
                Action: ["iam:CreateInstanceProfile", "iam:GetInstanceProfile", "iam:AddRoleToInstanceProfile"],
                Resource: caseProfiles,
            },
            {
                // Only per-case roles (each under the boundary); AddRoleToInstanceProfile passes the role too,
                // without a service in the request, so iam:PassedToService cannot be required here.
                Sid: "PassCaseRoles",
                Effect: "Allow",
                Action: "iam:PassRole",
                Resource: caseRoles,
            },
            {
                Sid: "ReadLatestSiftImage",
                Effect: "Allow",
                Action: "ssm:GetParameter",
                Resource: `arn:${p}:ssm:${region}:${accountId}:parameter${args.amiParameterName}`,
            },
        ];
        if (args.launchAtCaseEnd) {
            statements.push(
                {
                    Sid: "ReadCaseManifests",
                    Effect: "Allow",
                    Action: "s3:GetObject",
                    Resource: pulumi.interpolate`${args.evidenceBucketArn}/${args.casesPrefix}*/manifest.json`,
                },
                {
                    Sid: "DecryptManifestsThroughS3",
                    Effect: "Allow",
                    Action: "kms:Decrypt",
                    Resource: args.evidenceKeyArn,
                    Condition: { StringEquals: { "kms:ViaService": s3Service } },
                },
            );
        }

        const scripts: WorkstationScripts = {
            mountEvidence: fs.readFileSync(path.join(HOST_SCRIPTS, "mount-evidence.sh"), "utf8"),
            idleStop: fs.readFileSync(path.join(HOST_SCRIPTS, "idle-stop.sh"), "utf8"),
        };
        const settings = pulumi.output({
            partition: p,
            region,
            accountId,
            evidenceBucket: args.evidenceBucketName,
            evidenceKeyArn: args.evidenceKeyArn,
            casesPrefix: args.casesPrefix,
            moduleStore: args.moduleStore,
            amiParameterName: args.amiParameterName,
            vpcId: args.vpcId,
            securityGroupId: args.workstationSecurityGroupId,
            instanceType: args.instanceType,
            idleStopHours: args.idleStopHours,
            access: args.access,
            instanceConnectEndpointId: args.instanceConnectEndpointId,
            casePath,
            permissionsBoundaryArn: boundary.arn,
        });

        const launcher = engineFunction<LaunchRequest | ObjectCreatedEvent, LaunchResult | { ignored: string }>("workstation-launcher", {
            description: "launches a case's SIFT workstation with its evidence mounted read-only",
            statements,
            callbackFactory: () => {
                const deps = {
                    ec2: new EC2Client({}),
                    iam: new IAMClient({}),
                    ssm: new SSMClient({}),
                    s3: new S3Client({}),
                    settings: settingsFromEnvironment<WorkstationSettings>(),
                    scripts,
                };
                return async (event, context) => {
                    const result = "detail-type" in event
                        ? await onManifestWritten(event, deps)
                        : await launchWorkstation({ caseId: event.caseId, requestToken: (context as { awsRequestId?: string })?.awsRequestId }, deps);
                    console.log(JSON.stringify({ msg: "workstation-launcher", ...result }));
                    return result;
                };
            },
            settings,
            // Waits for a new instance profile to become usable (up to ~30 s) before launching.
            timeout: 120,
            logRetentionDays: args.logRetentionDays ?? 365,
            rolePath: args.investigatorPath,
            accountId,
            partition: p,
            region,
        }, this);

        if (args.launchAtCaseEnd) {
            // EventBridge notifications of the evidence bucket: the only notification configuration it has.
            new aws.s3.BucketNotification(`${name}-evidence-events`, { bucket: args.evidenceBucketName, eventbridge: true }, { parent: this });
            const rule = new aws.cloudwatch.EventRule(`${name}-case-end`, {
                description: "ir-forensics: a case manifest was written (the launcher acts on final ones)",
                eventPattern: pulumi.jsonStringify({
                    source: ["aws.s3"],
                    "detail-type": ["Object Created"],
                    detail: {
                        bucket: { name: [args.evidenceBucketName] },
                        object: { key: [{ wildcard: `${args.casesPrefix}*/manifest.json` }] },
                    },
                }),
            }, { parent: this });
            new aws.cloudwatch.EventTarget(`${name}-case-end`, { rule: rule.name, arn: launcher.fn.arn }, { parent: this });
            new aws.lambda.Permission(`${name}-case-end`, {
                action: "lambda:InvokeFunction",
                function: launcher.fn.name,
                principal: "events.amazonaws.com",
                sourceArn: rule.arn,
                sourceAccount: accountId,
            }, { parent: this });
        }

        this.functionName = launcher.fn.name;
        this.functionArn = launcher.fn.arn;
        this.roleArn = launcher.role.arn;
        this.permissionsBoundaryArn = boundary.arn;
        this.casePath = casePath;
        this.registerOutputs({ functionName: this.functionName, functionArn: this.functionArn, roleArn: this.roleArn, permissionsBoundaryArn: this.permissionsBoundaryArn });
    }
}
