/**
 * Names shared between the stacks by convention, so that each stack can be deployed without the
 * other existing yet (a bucket or key policy that names a role ARN that does not exist is rejected
 * by AWS; a pattern on `aws:PrincipalArn` is not). Change these only together with every stack.
 */

/** Project name, used in tags and resource names. */
export const PROJECT = "ir-forensics";

/** IAM path of the security account's responder roles (the engine's callbacks and state machines). */
export const RESPONDER_ROLE_PATH = "/ir-forensics/responder/";

/** IAM path of the forensic account's investigator roles (workstations and their writer variant). */
export const INVESTIGATOR_ROLE_PATH = "/ir-forensics/investigator/";

/** Role names of the analysis workstation (read-only) and its writer variant (may write `analysis/`). */
export const WORKSTATION_ROLE_NAME = "ir-forensics-workstation";
export const WORKSTATION_WRITER_ROLE_NAME = "ir-forensics-workstation-writer";

/** Name of the CloudTrail trail that records who read or wrote which evidence. */
export const EVIDENCE_TRAIL_NAME = "ir-forensics-evidence-access";

/** Key prefixes inside the evidence bucket. */
export const CASES_PREFIX = "cases/";
export const ANALYSIS_PREFIX = "analysis/";

/** Key prefix of the module store that investigators may read (Volatility 3 symbol tables). */
export const SYMBOLS_PREFIX = "symbols/";

/** `arn:<partition>:iam::<account>:role<path>*`: every role under an IAM path. */
export function rolePathPattern(partition: string, accountId: string, path: string): string {
    return `arn:${partition}:iam::${accountId}:role${path}*`;
}

/** ARN of a role under a path. */
export function roleArn(partition: string, accountId: string, path: string, name: string): string {
    return `arn:${partition}:iam::${accountId}:role${path}${name}`;
}

/**
 * The security account's module store bucket (LiME modules, AVML, Volatility symbols). The module
 * factory creates it under this name; the analysis network's S3 endpoint policy names it before it exists.
 */
export function moduleStoreBucketName(securityAccountId: string, region: string): string {
    return `${PROJECT}-modules-${securityAccountId}-${region}`;
}

/** AWS partition of a region: `aws`, `aws-cn` or `aws-us-gov`. */
export function partitionOf(region: string): string {
    if (region.startsWith("cn-")) {
        return "aws-cn";
    }
    if (region.startsWith("us-gov-")) {
        return "aws-us-gov";
    }
    return "aws";
}

/** DNS suffix of a partition's service endpoints (used for `kms:ViaService` and endpoint service names). */
export function dnsSuffixOf(partition: string): string {
    return partition === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
}

/** The member footprint's names, the same in every member account (the engine addresses them by name). */
export const MEMBER_NAMES = {
    path: "/ir-forensics/",
    responderRoleName: "ir-forensics-responder",
    forwarderRoleName: "ir-forensics-event-forwarder",
    irProfileName: "ir-forensics-ir-instance",
    containedProfileName: "ir-forensics-contained",
    /** KMS key (per region) that member-side snapshot copies are re-encrypted under, shared with the forensic account. */
    irKeyAlias: "alias/ir-forensics-ebs",
    /** SSM Command document (per region) that runs the memory acquisition script. */
    memoryDocumentName: "ir-forensics-acquire-memory",
} as const;

/**
 * The forensic account's role that the engine assumes to copy shared snapshots into evidence snapshots
 * (and lock them). It can copy, tag and lock, never delete.
 */
export const EVIDENCE_COPIER_ROLE_NAME = "ir-forensics-evidence-copier";
export const EVIDENCE_COPIER_ROLE_PATH = "/ir-forensics/";
