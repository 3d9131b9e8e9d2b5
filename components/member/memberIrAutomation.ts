import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { dnsSuffixOf } from "../shared/conventions";
import { managedPolicyArn, organizationTrustPolicy, policyJson, serviceTrustPolicy, Statement } from "../shared/iam";
import { REVOCATION_POLICY_PATH } from "../../functions/response/revocation";

/** Names shared by every member account (the engine's functions address them by these names). */
export interface MemberNames {
    /** IAM path of the footprint's roles; the responder role is protected from credential revocation. */
    path: string;
    responderRoleName: string;
    forwarderRoleName: string;
    /** Instance profile (and role) swapped in at isolation: SSM core only. */
    irProfileName: string;
    /** Instance profile (and role) swapped in at containment: denies everything. */
    containedProfileName: string;
    /** Alias of the per-region KMS key that snapshot copies shared with the forensic account are encrypted under. */
    irKeyAlias: string;
    /** Per-region SSM Command document that runs the memory acquisition script. */
    memoryDocumentName: string;
}

export interface MemberIrAutomationArgs {
    partition: string;
    /** The member account. */
    accountId: string;
    /** Regions of this account to watch, each with the provider that deploys there. */
    regions: Array<{ region: string; provider: aws.Provider }>;
    /** The security account and the IAM path of its engine roles, the only principals trusted to act here. */
    securityAccountId: string;
    engineRolePattern: string;
    organizationId: string;
    /** ARN of the security account's event bus that receives the forwarded events. */
    engineBusArn: pulumi.Input<string>;
    names: MemberNames;
    /** Event patterns forwarded to the engine (tag changes; GuardDuty findings when enabled). */
    patterns: Record<string, object>;
    /** The forensic account and its evidence-copier role: the only outside users of the IR key. */
    forensicAccountId: string;
    /** The forensic stack's region, where the copier makes the evidence copies (a cross-region copy from here). */
    forensicRegion: pulumi.Input<string>;
    evidenceCopierRoleArn: string;
    /** Content of the memory acquisition document (`memoryDocument` of functions/acquisition/memory.ts). */
    memoryDocument: object;
}

/** Tag keys the engine may set on instances (and its own security groups). */
export const ENGINE_TAG_KEYS = ["SecurityIncidentStatus", "SecurityIncidentCase"];

/**
 * The member role `npm run cases -- release` assumes (beside the footprint's path): the engine's own
 * responder role may pass only the IR and deny-all roles, and releasing must pass the instance's own role
 * back. Only a responder (a security-account role under the responders' path) whose own policy names this
 * role can assume it; the engine's functions cannot (their policies name the responder role only).
 */
export const RELEASER_ROLE_NAME = "ir-forensics-releaser";

/**
 * The thin footprint of the response in one member account: the responder role the engine assumes
 * (least privilege for triage, isolation and containment), the IR and deny-all instance profiles it
 * swaps in, and per region an EventBridge rule that forwards only `SecurityIncidentStatus` tag changes
 * (and, opted in, GuardDuty EC2 findings) to the security account's event bus. Account-global resources
 * are created once, through the first region's provider.
 */
export class MemberIrAutomation extends pulumi.ComponentResource {
    public readonly responderRole: aws.iam.Role;
    public readonly irProfile: aws.iam.InstanceProfile;
    public readonly containedProfile: aws.iam.InstanceProfile;
    public readonly forwarderRole: aws.iam.Role;
    /** Assumed by `npm run cases -- release` (a responder, never the engine). */
    public readonly releaserRole: aws.iam.Role;
    /** Rule ARNs by `<region>/<pattern name>`. */
    public readonly ruleArns: Record<string, pulumi.Output<string>> = {};
    /** The IR KMS key's ARN by region. */
    public readonly irKeyArns: Record<string, pulumi.Output<string>> = {};

    constructor(name: string, args: MemberIrAutomationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ir-forensics:member:MemberIrAutomation", name, {}, opts);
        if (args.regions.length === 0) {
            throw new Error(`member ${args.accountId}: at least one region`);
        }
        const global = { parent: this, provider: args.regions[0].provider };
        const p = args.partition;
        const acct = args.accountId;
        const n = args.names;

        const irRole = new aws.iam.Role(`${name}-ir-instance`, {
            name: n.irProfileName,
            path: n.path,
            description: "ir-forensics: instance role during acquisition (Session Manager only)",
            assumeRolePolicy: serviceTrustPolicy("ec2.amazonaws.com", acct),
        }, global);
        new aws.iam.RolePolicyAttachment(`${name}-ir-instance-ssm`, {
            role: irRole.name,
            policyArn: managedPolicyArn(p, "AmazonSSMManagedInstanceCore"),
        }, global);
        this.irProfile = new aws.iam.InstanceProfile(`${name}-ir-instance`, { name: n.irProfileName, path: n.path, role: irRole.name }, global);

        const containedRole = new aws.iam.Role(`${name}-contained`, {
            name: n.containedProfileName,
            path: n.path,
            description: "ir-forensics: instance role of a contained instance (denies everything)",
            assumeRolePolicy: serviceTrustPolicy("ec2.amazonaws.com", acct),
        }, global);
        new aws.iam.RolePolicy(`${name}-contained-deny-all`, {
            role: containedRole.name,
            policy: policyJson([{ Sid: "DenyEverything", Effect: "Deny", Action: "*", Resource: "*" }]),
        }, global);
        this.containedProfile = new aws.iam.InstanceProfile(`${name}-contained`, { name: n.containedProfileName, path: n.path, role: containedRole.name }, global);

        this.responderRole = new aws.iam.Role(`${name}-responder`, {
            name: n.responderRoleName,
            path: n.path,
            description: "ir-forensics: assumed by the security account's response engine only",
            maxSessionDuration: 3600,
            assumeRolePolicy: organizationTrustPolicy("ResponseEngineOnly", p, args.securityAccountId, args.engineRolePattern, args.organizationId),
        }, global);
        new aws.iam.RolePolicy(`${name}-responder`, {
            role: this.responderRole.name,
            policy: policyJson(responderStatements(p, acct, n, [irRole.arn, containedRole.arn], args.forensicAccountId)),
        }, global);

        this.releaserRole = new aws.iam.Role(`${name}-releaser`, {
            name: RELEASER_ROLE_NAME,
            path: n.path,
            description: "ir-forensics: assumed by a responder to release a contained instance (npm run cases -- release)",
            maxSessionDuration: 3600,
            assumeRolePolicy: organizationTrustPolicy("RespondersOnly", p, args.securityAccountId, args.engineRolePattern, args.organizationId),
        }, global);
        new aws.iam.RolePolicy(`${name}-releaser`, {
            role: this.releaserRole.name,
            policy: policyJson(releaserStatements(p, acct, n)),
        }, global);

        this.forwarderRole = new aws.iam.Role(`${name}-forwarder`, {
            name: n.forwarderRoleName,
            path: n.path,
            description: "ir-forensics: lets EventBridge forward incident events to the security account's bus",
            assumeRolePolicy: serviceTrustPolicy("events.amazonaws.com", acct),
        }, global);
        new aws.iam.RolePolicy(`${name}-forwarder`, {
            role: this.forwarderRole.name,
            policy: policyJson([{ Sid: "PutToEngineBus", Effect: "Allow", Action: "events:PutEvents", Resource: args.engineBusArn }]),
        }, global);

        for (const { region, provider } of args.regions) {
            const regional = { parent: this, provider };
            const irKey = new aws.kms.Key(`${name}-${region}-ir-key`, {
                description: "ir-forensics: re-encrypts snapshot copies shared with the forensic account (usable by it only)",
                enableKeyRotation: true,
                deletionWindowInDays: 30,
                policy: irKeyPolicy(p, acct, region, this.responderRole.arn, args.forensicAccountId, args.evidenceCopierRoleArn, args.forensicRegion),
            }, regional);
            new aws.kms.Alias(`${name}-${region}-ir-key`, { name: n.irKeyAlias, targetKeyId: irKey.keyId }, regional);
            this.irKeyArns[region] = irKey.arn;
            new aws.ssm.Document(`${name}-${region}-memory-document`, {
                name: n.memoryDocumentName,
                documentType: "Command",
                documentFormat: "JSON",
                targetType: "/AWS::EC2::Instance",
                content: JSON.stringify(args.memoryDocument),
            }, regional);
            for (const [pattern, eventPattern] of Object.entries(args.patterns)) {
                const rule = new aws.cloudwatch.EventRule(`${name}-${region}-${pattern}`, {
                    name: `ir-forensics-${pattern}`,
                    description: `ir-forensics: forward ${pattern} events to the security account's response engine`,
                    eventPattern: JSON.stringify(eventPattern),
                }, regional);
                new aws.cloudwatch.EventTarget(`${name}-${region}-${pattern}`, {
                    rule: rule.name,
                    arn: args.engineBusArn,
                    roleArn: this.forwarderRole.arn,
                    // Events that cannot be delivered right away are retried for up to a day.
                    retryPolicy: { maximumEventAgeInSeconds: 86400, maximumRetryAttempts: 185 },
                }, regional);
                this.ruleArns[`${region}/${pattern}`] = rule.arn;
            }
        }

        this.registerOutputs({
            responderRoleArn: this.responderRole.arn,
            releaserRoleArn: this.releaserRole.arn,
            irProfileArn: this.irProfile.arn,
            containedProfileArn: this.containedProfile.arn,
            ruleArns: this.ruleArns,
            irKeyArns: this.irKeyArns,
        });
    }
}

/**
 * The IR key's policy: the account administers it; the responder role encrypts snapshot copies with it
 * through EC2; the forensic account's copier role (and nobody else outside) decrypts them through EC2
 * to make its evidence copies.
 */
function irKeyPolicy(
    partition: string, account: string, region: string, responderRoleArn: pulumi.Input<string>, forensicAccount: string, copierRoleArn: string,
    forensicRegion: pulumi.Input<string>,
) {
    const suffix = dnsSuffixOf(partition);
    const viaEc2 = { "kms:ViaService": `ec2.${region}.${suffix}` };
    // The copier copies from here into the forensic region: EBS there uses this key for it (either region's EC2 may
    // be the one KMS sees, so both are admitted, and no other).
    const viaEc2ForCopier = { "kms:ViaService": pulumi.output(forensicRegion).apply((r) => [...new Set([`ec2.${region}.${suffix}`, `ec2.${r}.${suffix}`])]) };
    return policyJson([
        { Sid: "AccountAdministration", Effect: "Allow", Principal: { AWS: `arn:${partition}:iam::${account}:root` }, Action: "kms:*", Resource: "*" },
        {
            Sid: "ResponderEncryptsSnapshotCopies",
            Effect: "Allow",
            Principal: { AWS: responderRoleArn },
            Action: ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"],
            Resource: "*",
            Condition: { StringEquals: viaEc2 },
        },
        {
            Sid: "ResponderGrantsForSnapshots",
            Effect: "Allow",
            Principal: { AWS: responderRoleArn },
            Action: "kms:CreateGrant",
            Resource: "*",
            Condition: { StringEquals: viaEc2, Bool: { "kms:GrantIsForAWSResource": "true" } },
        },
        {
            Sid: "ForensicCopierDecryptsSharedCopies",
            Effect: "Allow",
            Principal: { AWS: `arn:${partition}:iam::${forensicAccount}:root` },
            Action: ["kms:Decrypt", "kms:ReEncryptFrom", "kms:DescribeKey", "kms:CreateGrant"],
            Resource: "*",
            Condition: { StringEquals: viaEc2ForCopier, ArnEquals: { "aws:PrincipalArn": copierRoleArn } },
        },
    ]);
}

/** What the engine may do in a member account: triage, isolation, acquisition, containment, Security Hub tagging. */
export function responderStatements(
    partition: string, account: string, names: MemberNames, passableRoles: pulumi.Input<string>[], forensicAccount: string,
): Statement[] {
    const ec2 = (type: string) => `arn:${partition}:ec2:*:${account}:${type}/*`;
    const snapshots = `arn:${partition}:ec2:*::snapshot/*`;
    return [
        {
            // Describe and list calls take no resource ARN.
            Sid: "Describe",
            Effect: "Allow",
            Action: [
                "ec2:DescribeInstances", "ec2:DescribeSecurityGroups", "ec2:DescribeVolumes", "ec2:DescribeIamInstanceProfileAssociations",
                "ec2:DescribeVpcEndpoints", "ec2:DescribeRouteTables", "ec2:DescribePrefixLists",
                // The group keeper: every VPC gets the engine's groups before its first case.
                "ec2:DescribeVpcs",
                "autoscaling:DescribeAutoScalingInstances", "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeLoadBalancers",
                // Who set the incident tag (CloudTrail's CreateTags event).
                "cloudtrail:LookupEvents",
                // Acquisition: snapshot states, memory size, SSM registration and command results.
                "ec2:DescribeSnapshots", "ec2:DescribeInstanceTypes",
                "ssm:DescribeInstanceInformation", "ssm:GetCommandInvocation",
            ],
            Resource: "*",
        },
        {
            // The crash-consistent set, and single volumes it left out (a terminated instance's kept volumes).
            Sid: "SnapshotEveryVolume",
            Effect: "Allow",
            Action: ["ec2:CreateSnapshots", "ec2:CreateSnapshot"],
            Resource: [ec2("instance"), ec2("volume"), snapshots],
        },
        {
            // Copying a snapshot of a volume under a customer-managed key: EBS uses that key for the caller
            // (AWS KMS developer guide, "How Amazon EBS uses AWS KMS"). The key's own policy must allow it too,
            // which it does when it delegates to IAM (docs/architecture.md "Volumes under customer-managed keys").
            Sid: "ReadVolumeKeysThroughEc2",
            Effect: "Allow",
            Action: ["kms:Decrypt", "kms:ReEncryptFrom", "kms:DescribeKey"],
            Resource: `arn:${partition}:kms:*:${account}:key/*`,
            Condition: { StringLike: { "kms:ViaService": "ec2.*.amazonaws.com" }, StringEquals: { "kms:CallerAccount": account } },
        },
        {
            Sid: "GrantVolumeKeysToEbs",
            Effect: "Allow",
            Action: "kms:CreateGrant",
            Resource: `arn:${partition}:kms:*:${account}:key/*`,
            Condition: {
                StringLike: { "kms:ViaService": "ec2.*.amazonaws.com" },
                StringEquals: { "kms:CallerAccount": account },
                Bool: { "kms:GrantIsForAWSResource": "true" },
            },
        },
        {
            // Copies are made from the originals; sharing is read back to record who may use them.
            Sid: "CopySnapshotsAndReadSharing",
            Effect: "Allow",
            Action: ["ec2:CopySnapshot", "ec2:DescribeSnapshotAttribute"],
            Resource: snapshots,
        },
        {
            Sid: "TagSnapshotsAtCreation",
            Effect: "Allow",
            Action: "ec2:CreateTags",
            Resource: snapshots,
            Condition: { StringEquals: { "ec2:CreateAction": ["CreateSnapshots", "CreateSnapshot", "CopySnapshot"] } },
        },
        {
            // Snapshots the engine made carry the case tag; it may share them with the forensic account only.
            Sid: "ShareCaseSnapshotsWithForensicOnly",
            Effect: "Allow",
            Action: "ec2:ModifySnapshotAttribute",
            Resource: snapshots,
            Condition: {
                Null: { "aws:ResourceTag/ir-forensics:case": "false" },
                "ForAllValues:StringEquals": { "ec2:Add/userId": [forensicAccount] },
            },
        },
        {
            Sid: "DeleteOnlyCaseSnapshots",
            Effect: "Allow",
            Action: "ec2:DeleteSnapshot",
            Resource: snapshots,
            Condition: { Null: { "aws:ResourceTag/ir-forensics:case": "false" } },
        },
        {
            // Only the project's own document: no arbitrary commands on a suspect host.
            Sid: "SendTheMemoryDocument",
            Effect: "Allow",
            Action: "ssm:SendCommand",
            Resource: `arn:${partition}:ssm:*:${account}:document/${names.memoryDocumentName}`,
        },
        {
            // ...and only to instances under incident (the trigger tag is set).
            Sid: "SendOnlyToInstancesUnderIncident",
            Effect: "Allow",
            Action: "ssm:SendCommand",
            Resource: ec2("instance"),
            Condition: { Null: { "ssm:resourceTag/SecurityIncidentStatus": "false" } },
        },
        {
            Sid: "ReadInstanceDetails",
            Effect: "Allow",
            Action: ["ec2:GetConsoleOutput", "ec2:DescribeInstanceAttribute"],
            Resource: ec2("instance"),
        },
        {
            Sid: "ProtectAndIsolateInstance",
            Effect: "Allow",
            Action: ["ec2:ModifyInstanceAttribute", "ec2:ModifyNetworkInterfaceAttribute"],
            Resource: [ec2("instance"), ec2("network-interface"), ec2("security-group"), ec2("volume")],
        },
        {
            Sid: "CreateIsolationGroups",
            Effect: "Allow",
            Action: "ec2:CreateSecurityGroup",
            Resource: [ec2("vpc"), ec2("security-group")],
        },
        {
            // Rules may change only on the engine's own groups (tagged at creation).
            Sid: "RulesOfEngineGroupsOnly",
            Effect: "Allow",
            Action: ["ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress"],
            Resource: ec2("security-group"),
            Condition: { Null: { "aws:ResourceTag/ir-forensics:purpose": "false" } },
        },
        {
            Sid: "TagEngineGroupsAtCreation",
            Effect: "Allow",
            Action: "ec2:CreateTags",
            Resource: ec2("security-group"),
            Condition: { StringEquals: { "ec2:CreateAction": "CreateSecurityGroup" } },
        },
        {
            Sid: "TagInstancesWithIncidentTagsOnly",
            Effect: "Allow",
            Action: "ec2:CreateTags",
            Resource: ec2("instance"),
            Condition: { "ForAllValues:StringEquals": { "aws:TagKeys": ENGINE_TAG_KEYS } },
        },
        {
            Sid: "SwapInstanceProfile",
            Effect: "Allow",
            Action: ["ec2:ReplaceIamInstanceProfileAssociation", "ec2:AssociateIamInstanceProfile"],
            Resource: ec2("instance"),
        },
        {
            Sid: "PassOnlyTheIrAndContainedRoles",
            Effect: "Allow",
            Action: "iam:PassRole",
            Resource: passableRoles,
            Condition: { StringEquals: { "iam:PassedToService": "ec2.amazonaws.com" } },
        },
        {
            Sid: "LeaveAutoScaling",
            Effect: "Allow",
            Action: ["autoscaling:SetInstanceProtection", "autoscaling:DetachInstances"],
            Resource: `arn:${partition}:autoscaling:*:${account}:autoScalingGroup:*:autoScalingGroupName/*`,
        },
        {
            Sid: "LeaveLoadBalancers",
            Effect: "Allow",
            Action: ["elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:DeregisterInstancesFromLoadBalancer"],
            Resource: [
                `arn:${partition}:elasticloadbalancing:*:${account}:targetgroup/*/*`,
                `arn:${partition}:elasticloadbalancing:*:${account}:loadbalancer/*`,
            ],
        },
        {
            Sid: "FindInstanceRoles",
            Effect: "Allow",
            Action: "iam:GetInstanceProfile",
            Resource: `arn:${partition}:iam::${account}:instance-profile/*`,
        },
        {
            // A deny conditioned on ec2:SourceInstanceARN revokes one instance's credentials, not the role's
            // (functions/response/revocation.ts): the role's inline revocation policy, and the room its other policies leave.
            Sid: "RevokeInstanceCredentials",
            Effect: "Allow",
            Action: ["iam:GetRolePolicy", "iam:PutRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies"],
            Resource: `arn:${partition}:iam::${account}:role/*`,
        },
        {
            // When the inline room is used up: the engine's own managed revocation policies, under their path only.
            Sid: "RevocationOverflowPolicies",
            Effect: "Allow",
            Action: ["iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicyVersion", "iam:ListPolicyVersions", "iam:GetPolicy", "iam:GetPolicyVersion"],
            Resource: `arn:${partition}:iam::${account}:policy${REVOCATION_POLICY_PATH}*`,
        },
        {
            Sid: "AttachOnlyRevocationPolicies",
            Effect: "Allow",
            Action: "iam:AttachRolePolicy",
            Resource: `arn:${partition}:iam::${account}:role/*`,
            Condition: { ArnLike: { "iam:PolicyARN": `arn:${partition}:iam::${account}:policy${REVOCATION_POLICY_PATH}*` } },
        },
        {
            Sid: "NeverEditTheEngineRoles",
            Effect: "Deny",
            Action: ["iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy"],
            Resource: [
                `arn:${partition}:iam::${account}:role${names.path}${names.responderRoleName}`,
                `arn:${partition}:iam::${account}:role${names.path}${names.forwarderRoleName}`,
                `arn:${partition}:iam::${account}:role${names.path}${names.containedProfileName}`,
                `arn:${partition}:iam::${account}:role${names.path}${RELEASER_ROLE_NAME}`,
            ],
        },
    ];
}

/**
 * What releasing an instance needs (functions/response/caseCommands.ts releaseCase), on instances a case tagged
 * only: read it, put its groups and instance profile back (passing its own role to EC2), lift its
 * revocation entries, rejoin Auto Scaling and load balancers, put its protections back, tag it Released.
 */
export function releaserStatements(partition: string, account: string, names: MemberNames): Statement[] {
    const ec2 = (type: string) => `arn:${partition}:ec2:*:${account}:${type}/*`;
    const underCase = { Null: { "aws:ResourceTag/SecurityIncidentCase": "false" } };
    return [
        {
            Sid: "Describe",
            Effect: "Allow",
            Action: ["ec2:DescribeInstances", "ec2:DescribeSecurityGroups", "ec2:DescribeIamInstanceProfileAssociations"],
            Resource: "*",
        },
        {
            // The ENIs' own groups back (the instance's ENIs and any group of the account).
            Sid: "RestoreGroups",
            Effect: "Allow",
            Action: "ec2:ModifyNetworkInterfaceAttribute",
            Resource: [ec2("instance"), ec2("network-interface"), ec2("security-group")],
        },
        {
            Sid: "RestoreProfileProtectionsAndTagOfCaseInstances",
            Effect: "Allow",
            Action: [
                "ec2:ReplaceIamInstanceProfileAssociation", "ec2:AssociateIamInstanceProfile", "ec2:DisassociateIamInstanceProfile", "ec2:ModifyInstanceAttribute",
            ],
            Resource: ec2("instance"),
            Condition: underCase,
        },
        {
            Sid: "TagCaseInstancesWithIncidentTagsOnly",
            Effect: "Allow",
            Action: "ec2:CreateTags",
            Resource: ec2("instance"),
            Condition: { ...underCase, "ForAllValues:StringEquals": { "aws:TagKeys": ENGINE_TAG_KEYS } },
        },
        {
            // The instance's own role goes back on it: any role of the account, to EC2 only.
            Sid: "PassInstanceRolesBackToEc2",
            Effect: "Allow",
            Action: "iam:PassRole",
            Resource: `arn:${partition}:iam::${account}:role/*`,
            Condition: { StringEquals: { "iam:PassedToService": "ec2.amazonaws.com" } },
        },
        {
            // Reading the revocation (containmentOnInstance) and lifting one instance's entry (removeRevokedInstance).
            Sid: "LiftInstanceRevocation",
            Effect: "Allow",
            Action: ["iam:GetRolePolicy", "iam:PutRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies"],
            Resource: `arn:${partition}:iam::${account}:role/*`,
        },
        {
            Sid: "LiftInstanceRevocationInOverflowPolicies",
            Effect: "Allow",
            Action: ["iam:GetPolicy", "iam:GetPolicyVersion", "iam:CreatePolicyVersion", "iam:DeletePolicyVersion", "iam:ListPolicyVersions"],
            Resource: `arn:${partition}:iam::${account}:policy${REVOCATION_POLICY_PATH}*`,
        },
        {
            Sid: "Rejoin",
            Effect: "Allow",
            Action: ["autoscaling:AttachInstances", "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:RegisterInstancesWithLoadBalancer"],
            Resource: [
                `arn:${partition}:autoscaling:*:${account}:autoScalingGroup:*:autoScalingGroupName/*`,
                `arn:${partition}:elasticloadbalancing:*:${account}:targetgroup/*/*`,
                `arn:${partition}:elasticloadbalancing:*:${account}:loadbalancer/*`,
            ],
        },
        {
            Sid: "NeverEditTheEngineRoles",
            Effect: "Deny",
            Action: ["iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy"],
            Resource: [names.responderRoleName, names.forwarderRoleName, names.containedProfileName, RELEASER_ROLE_NAME]
                .map((r) => `arn:${partition}:iam::${account}:role${names.path}${r}`),
        },
    ];
}
