import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { organizationTrustPolicy, policyJson, Statement } from "../shared/iam";

export interface EvidenceCopierArgs {
    partition: string;
    /** The forensic account (this stack's). */
    accountId: string;
    organizationId: string;
    /** Role name and IAM path: the security stack assumes the role by this ARN. */
    roleName: string;
    rolePath: string;
    /** The security account and the pattern of its responder roles, the only principals that may assume the role. */
    responderAccountId: string;
    responderRolePattern: string;
    /** The evidence KMS key that evidence snapshots are encrypted under. */
    evidenceKeyArn: pulumi.Input<string>;
    /** Alias of the member accounts' IR keys that shared snapshot copies are encrypted under. */
    memberKeyAlias: string;
}

/**
 * The forensic account's evidence copier: the role the response engine assumes to copy the snapshot
 * copies members share with this account into evidence snapshots under the evidence key, tag them with
 * their case and lock them. It may decrypt the members' IR keys (by alias, inside the organization,
 * through EC2 only) and can never delete, unlock or share a snapshot.
 */
export class EvidenceCopier extends pulumi.ComponentResource {
    public readonly role: aws.iam.Role;

    constructor(name: string, args: EvidenceCopierArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ir-forensics:forensic:EvidenceCopier", name, {}, opts);
        const p = args.partition;

        this.role = new aws.iam.Role(`${name}-role`, {
            name: args.roleName,
            path: args.rolePath,
            description: "ir-forensics: copies shared snapshots into evidence snapshots (assumed by the response engine only)",
            maxSessionDuration: 3600,
            assumeRolePolicy: organizationTrustPolicy("ResponseEngineOnly", p, args.responderAccountId, args.responderRolePattern, args.organizationId),
        }, { parent: this });

        new aws.iam.RolePolicy(`${name}-policy`, {
            role: this.role.name,
            policy: policyJson(evidenceCopierStatements(p, args.accountId, args.organizationId, args.evidenceKeyArn, args.memberKeyAlias)),
        }, { parent: this });

        this.registerOutputs({ roleArn: this.role.arn });
    }
}

/** What the copier may do: copy shared snapshots, tag the copies at creation, lock case evidence; never delete, unlock or share. */
export function evidenceCopierStatements(
    p: string, accountId: string, organizationId: string, evidenceKeyArn: pulumi.Input<string>, memberKeyAlias: string,
): Statement[] {
    const snapshots = `arn:${p}:ec2:*::snapshot/*`;
    const viaEc2 = { "kms:ViaService": "ec2.*.amazonaws.com" };
    const args = { accountId, organizationId, evidenceKeyArn, memberKeyAlias };
    return [
        { Sid: "ReadSnapshots", Effect: "Allow", Action: "ec2:DescribeSnapshots", Resource: "*" },
        { Sid: "CopySharedSnapshots", Effect: "Allow", Action: "ec2:CopySnapshot", Resource: snapshots },
        {
            // Snapshot ARNs name no account (Service Authorization Reference, EC2 "snapshot"): the account
            // is a condition.
            Sid: "TagEvidenceAtCreation",
            Effect: "Allow",
            Action: "ec2:CreateTags",
            Resource: snapshots,
            Condition: { StringEquals: { "ec2:CreateAction": "CopySnapshot", "aws:ResourceAccount": args.accountId } },
        },
        {
            Sid: "LockCaseEvidence",
            Effect: "Allow",
            Action: "ec2:LockSnapshot",
            Resource: snapshots,
            Condition: { Null: { "aws:ResourceTag/ir-forensics:case": "false" }, StringEquals: { "aws:ResourceAccount": args.accountId } },
        },
        {
            Sid: "EncryptUnderTheEvidenceKey",
            Effect: "Allow",
            Action: ["kms:Encrypt", "kms:ReEncryptTo", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey", "kms:CreateGrant"],
            Resource: args.evidenceKeyArn,
            Condition: { StringLike: viaEc2 },
        },
        {
            Sid: "DecryptMembersSharedCopies",
            Effect: "Allow",
            Action: ["kms:Decrypt", "kms:ReEncryptFrom", "kms:DescribeKey", "kms:CreateGrant"],
            Resource: `arn:${p}:kms:*:*:key/*`,
            Condition: {
                StringLike: viaEc2,
                StringEquals: { "aws:ResourceOrgID": args.organizationId },
                "ForAnyValue:StringEquals": { "kms:ResourceAliases": args.memberKeyAlias },
            },
        },
        {
            Sid: "NeverDeleteUnlockOrShareEvidence",
            Effect: "Deny",
            Action: ["ec2:DeleteSnapshot", "ec2:UnlockSnapshot", "ec2:ModifySnapshotAttribute", "ec2:DisableSnapshotBlockPublicAccess"],
            Resource: "*",
        },
    
    ];
}
