/**
 * Typed IAM policy documents. Statements may hold Pulumi inputs (ARNs of resources not created yet);
 * `policyJson` resolves them into the JSON string that AWS expects.
 */
import * as pulumi from "@pulumi/pulumi";

type OneOrMany<T> = T | T[];

export type Principal = "*" | { AWS?: OneOrMany<pulumi.Input<string>>; Service?: OneOrMany<string>; Federated?: string };

export type ConditionBlock = Record<string, Record<string, pulumi.Input<OneOrMany<pulumi.Input<string>> | boolean>>>;

export interface Statement {
    Sid: string;
    Effect: "Allow" | "Deny";
    Principal?: Principal;
    Action?: OneOrMany<string>;
    NotAction?: OneOrMany<string>;
    Resource?: OneOrMany<pulumi.Input<string>>;
    NotResource?: OneOrMany<pulumi.Input<string>>;
    Condition?: ConditionBlock;
}

export interface PolicyDocument {
    Version: "2012-10-17";
    Statement: Statement[];
}

/** A policy document as the JSON string resources take. Empty statements (undefined) are dropped. */
export function policyJson(statements: Array<Statement | undefined | false>): pulumi.Output<string> {
    const doc: PolicyDocument = { Version: "2012-10-17", Statement: statements.filter((s): s is Statement => !!s) };
    return pulumi.jsonStringify(doc);
}

/** Trust policy for an AWS service principal, bound to one source account (confused-deputy guard). */
export function serviceTrustPolicy(service: string, sourceAccount: string): pulumi.Output<string> {
    return policyJson([{
        Sid: "TrustedService",
        Effect: "Allow",
        Principal: { Service: service },
        Action: "sts:AssumeRole",
        Condition: { StringEquals: { "aws:SourceAccount": sourceAccount } },
    }]);
}

/**
 * Trust for roles of another account of the organization: its account root, narrowed to the principals
 * matching `principalPattern` (an ARN pattern) inside the organization.
 */
export function organizationTrustPolicy(sid: string, partition: string, accountId: string, principalPattern: string, organizationId: string): pulumi.Output<string> {
    return policyJson([{
        Sid: sid,
        Effect: "Allow",
        Principal: { AWS: `arn:${partition}:iam::${accountId}:root` },
        Action: "sts:AssumeRole",
        Condition: {
            ArnLike: { "aws:PrincipalArn": principalPattern },
            StringEquals: { "aws:PrincipalOrgID": organizationId },
        },
    }]);
}

/** `arn:<partition>:iam::aws:policy/<name>`: an AWS managed policy. */
export function managedPolicyArn(partition: string, name: string): string {
    return `arn:${partition}:iam::aws:policy/${name}`;
}
