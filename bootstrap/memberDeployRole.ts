/**
 * The role the security stack deploys each member account's footprint through, as a CloudFormation
 * template for a service-managed StackSet: the management account deploys it to OUs, and Organizations
 * deploys it to every account that joins them later. `OrganizationAccountAccessRole` cannot serve: it
 * trusts the management account only, so the security account's credentials are refused.
 *
 * The role is trusted only by the deploy principals of the security account, inside the organization,
 * and may do only what the member footprint's resources need (`FOOTPRINT_ACTIONS`, one entry per resource
 * type the footprint creates; test/unit/bootstrap.spec.ts checks the two agree). Resources are scoped by
 * the footprint's names and paths, KMS keys by the Project tag the stack's default tags set.
 *
 * `npm run bootstrap-template` writes `bootstrap/member-deploy-role.json` from this module.
 */

/** The role's name: the security stack's `memberDeployRoleName` default. */
export const MEMBER_DEPLOY_ROLE_NAME = "ir-forensics-member-deployer";

/** Names the footprint's resources share (components/shared/conventions.ts MEMBER_NAMES, components/member/memberIrAutomation.ts). */
const FOOTPRINT = {
    rolePath: "ir-forensics",
    rulePrefix: "ir-forensics-",
    documentPrefix: "ir-forensics-",
    aliasPrefix: "alias/ir-forensics-",
    projectTag: { key: "Project", value: "ir-forensics" },
    managedPolicies: ["AmazonSSMManagedInstanceCore"],
};

type Sub = { "Fn::Sub": string };
const sub = (s: string): Sub => ({ "Fn::Sub": s });

const roleArn = sub(`arn:\${AWS::Partition}:iam::\${AWS::AccountId}:role/${FOOTPRINT.rolePath}/*`);
const profileArn = sub(`arn:\${AWS::Partition}:iam::\${AWS::AccountId}:instance-profile/${FOOTPRINT.rolePath}/*`);
const ruleArn = sub(`arn:\${AWS::Partition}:events:*:\${AWS::AccountId}:rule/${FOOTPRINT.rulePrefix}*`);
const documentArn = sub(`arn:\${AWS::Partition}:ssm:*:\${AWS::AccountId}:document/${FOOTPRINT.documentPrefix}*`);
const keyArn = sub(`arn:\${AWS::Partition}:kms:*:\${AWS::AccountId}:key/*`);
const aliasArn = sub(`arn:\${AWS::Partition}:kms:*:\${AWS::AccountId}:${FOOTPRINT.aliasPrefix}*`);
const projectKey = { StringEquals: { [`aws:ResourceTag/${FOOTPRINT.projectTag.key}`]: FOOTPRINT.projectTag.value } };
const projectRequest = { StringEquals: { [`aws:RequestTag/${FOOTPRINT.projectTag.key}`]: FOOTPRINT.projectTag.value } };

interface Grant {
    sid: string;
    actions: string[];
    resource: Sub | Sub[] | "*";
    condition?: Record<string, Record<string, unknown>>;
}

/**
 * What the Pulumi AWS provider calls to create, read, update, tag and delete each resource type of the
 * member footprint, scoped to the footprint's resources.
 */
export const FOOTPRINT_ACTIONS: Record<string, Grant[]> = {
    "aws:iam/role:Role": [{
        sid: "FootprintRoles",
        actions: [
            "iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:UpdateRole", "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy",
            "iam:TagRole", "iam:UntagRole", "iam:ListRoleTags", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole",
        ],
        resource: roleArn,
    }],
    "aws:iam/rolePolicy:RolePolicy": [{
        sid: "FootprintInlinePolicies",
        actions: ["iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"],
        resource: roleArn,
    }],
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": [{
        sid: "FootprintManagedPolicies",
        actions: ["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
        resource: roleArn,
        condition: { ArnEquals: { "iam:PolicyARN": FOOTPRINT.managedPolicies.map((p) => sub(`arn:\${AWS::Partition}:iam::aws:policy/${p}`)) } },
    }],
    "aws:iam/instanceProfile:InstanceProfile": [
        {
            sid: "FootprintInstanceProfiles",
            actions: [
                "iam:CreateInstanceProfile", "iam:GetInstanceProfile", "iam:DeleteInstanceProfile", "iam:AddRoleToInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile", "iam:TagInstanceProfile", "iam:UntagInstanceProfile", "iam:ListInstanceProfileTags",
            ],
            resource: profileArn,
        },
        {
            // AddRoleToInstanceProfile needs iam:PassRole on the role (IAM API Reference), and so does a rule
            // target's role (EventBridge): the footprint's own roles only, by path.
            sid: "PassFootprintRoles",
            actions: ["iam:PassRole"],
            resource: roleArn,
        },
    ],
    "aws:ssm/document:Document": [{
        sid: "FootprintDocuments",
        actions: [
            "ssm:CreateDocument", "ssm:GetDocument", "ssm:DescribeDocument", "ssm:UpdateDocument", "ssm:UpdateDocumentDefaultVersion",
            "ssm:DeleteDocument", "ssm:DescribeDocumentPermission", "ssm:ListTagsForResource", "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource",
        ],
        resource: documentArn,
    }],
    "aws:cloudwatch/eventRule:EventRule": [{
        sid: "FootprintRules",
        actions: [
            "events:PutRule", "events:DescribeRule", "events:DeleteRule", "events:EnableRule", "events:DisableRule",
            "events:ListTagsForResource", "events:TagResource", "events:UntagResource",
        ],
        resource: ruleArn,
    }],
    "aws:cloudwatch/eventTarget:EventTarget": [{
        sid: "FootprintRuleTargets",
        actions: ["events:PutTargets", "events:RemoveTargets", "events:ListTargetsByRule"],
        resource: ruleArn,
    }],
    "aws:kms/key:Key": [
        {
            // A key has no name to scope by before it exists: it must be created with the project's tag.
            sid: "CreateFootprintKeys",
            actions: ["kms:CreateKey", "kms:TagResource"],
            resource: "*",
            condition: projectRequest,
        },
        {
            sid: "FootprintKeys",
            actions: [
                "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:GetKeyRotationStatus", "kms:EnableKeyRotation", "kms:ListResourceTags",
                "kms:TagResource", "kms:UntagResource", "kms:UpdateKeyDescription", "kms:ScheduleKeyDeletion",
            ],
            resource: keyArn,
            condition: projectKey,
        },
    ],
    "aws:kms/alias:Alias": [
        {
            sid: "FootprintAliases",
            actions: ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"],
            resource: aliasArn,
        },
        {
            // An alias call needs the permission on the key it names as well.
            sid: "FootprintAliasKeys",
            actions: ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"],
            resource: keyArn,
            condition: projectKey,
        },
        {
            // ListAliases takes no resource (Service Authorization Reference).
            sid: "ListAliases",
            actions: ["kms:ListAliases"],
            resource: "*",
        },
    ],
};

/** The role's permissions: every grant of every footprint resource type, merged by Sid. */
export function deployPolicy(): { Version: string; Statement: object[] } {
    const bySid = new Map<string, Grant>();
    for (const grants of Object.values(FOOTPRINT_ACTIONS)) {
        for (const g of grants) {
            if (bySid.has(g.sid)) {
                throw new Error(`duplicate Sid ${g.sid}`);
            }
            bySid.set(g.sid, g);
        }
    }
    return {
        Version: "2012-10-17",
        Statement: [...bySid.values()].map((g) => ({
            Sid: g.sid,
            Effect: "Allow",
            Action: g.actions,
            Resource: g.resource,
            ...(g.condition ? { Condition: g.condition } : {}),
        })),
    };
}

/** The CloudFormation template (JSON) of the StackSet. */
export function memberDeployRoleTemplate(): object {
    return {
        AWSTemplateFormatVersion: "2010-09-09",
        Description: "ir-forensics: the role the security account's stack deploys this member account's footprint through",
        Parameters: {
            SecurityAccountId: {
                Type: "String",
                AllowedPattern: "^\\d{12}$",
                Description: "The security account (ir-forensics:accounts.security)",
            },
            DeployPrincipalArns: {
                Type: "CommaDelimitedList",
                Description: "ARNs of the security account's roles that run `pulumi up -s security` (wildcards allowed, e.g. an SSO permission set's role)",
            },
            OrganizationId: {
                Type: "String",
                AllowedPattern: "^o-[a-z0-9]{10,32}$",
                Description: "The organization (ir-forensics:organizationId)",
            },
        },
        Resources: {
            MemberDeployRole: {
                Type: "AWS::IAM::Role",
                Properties: {
                    RoleName: MEMBER_DEPLOY_ROLE_NAME,
                    Description: "ir-forensics: deploys the member footprint from the security account (pulumi up -s security)",
                    MaxSessionDuration: 3600,
                    AssumeRolePolicyDocument: {
                        Version: "2012-10-17",
                        Statement: [{
                            Sid: "SecurityAccountDeployers",
                            Effect: "Allow",
                            Principal: { AWS: sub("arn:${AWS::Partition}:iam::${SecurityAccountId}:root") },
                            Action: "sts:AssumeRole",
                            Condition: {
                                StringEquals: { "aws:PrincipalOrgID": { Ref: "OrganizationId" } },
                                ArnLike: { "aws:PrincipalArn": { Ref: "DeployPrincipalArns" } },
                            },
                        }],
                    },
                    Policies: [{ PolicyName: "ir-forensics-member-footprint", PolicyDocument: deployPolicy() }],
                    Tags: [{ Key: FOOTPRINT.projectTag.key, Value: FOOTPRINT.projectTag.value }],
                },
            },
        },
        Outputs: {
            MemberDeployRoleArn: { Value: { "Fn::GetAtt": ["MemberDeployRole", "Arn"] } },
        },
    };
}

/** The template as committed (`bootstrap/member-deploy-role.json`). */
export function renderedTemplate(): string {
    return `${JSON.stringify(memberDeployRoleTemplate(), null, 2)}\n`;
}
