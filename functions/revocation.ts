/**
 * Credential revocation: the old role's credentials denied to one instance (`ec2:SourceInstanceARN`),
 * other instances sharing the role unaffected. Containment adds entries, `cases release` lifts them.
 */
import { DeleteRolePolicyCommand, GetRolePolicyCommand, IAMClient, PutRolePolicyCommand } from "@aws-sdk/client-iam";
import { errorCode } from "./steps";

/** The inline policy, one per role, that denies the role's credentials to the instances it lists. */
export const REVOCATION_POLICY = "ir-forensics-revoked-instances";
const REVOCATION_SID = "IrForensicsRevokedInstances";
const REVOCATION_TRIES = 3;

export function revocationPolicy(instanceArns: string[]): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [{
            Sid: REVOCATION_SID,
            Effect: "Deny",
            Action: "*",
            Resource: "*",
            Condition: { ArnEquals: { "ec2:SourceInstanceARN": instanceArns } },
        }],
    });
}

/** The instance ARNs a revocation policy document lists (IAM returns documents URL-encoded). */
export function revokedArns(document: string | undefined): string[] {
    if (!document) {
        return [];
    }
    const parsed = JSON.parse(document.trimStart().startsWith("{") ? document : decodeURIComponent(document)) as {
        Statement?: { Sid?: string; Condition?: { ArnEquals?: Record<string, string | string[]> } }[] | { Sid?: string };
    };
    const statements = Array.isArray(parsed.Statement) ? parsed.Statement : [];
    const values = statements.find((s) => s.Sid === REVOCATION_SID)?.Condition?.ArnEquals?.["ec2:SourceInstanceARN"];
    return values === undefined ? [] : Array.isArray(values) ? values : [values];
}

async function readRevoked(iam: IAMClient, roleName: string): Promise<string[]> {
    try {
        const out = await iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: REVOCATION_POLICY }));
        return revokedArns(out.PolicyDocument);
    } catch (err) {
        if (errorCode(err) === "NoSuchEntity" || errorCode(err) === "NoSuchEntityException") {
            return [];
        }
        throw err;
    }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Adds `arn` to the role's revocation policy, keeping the ARNs already there. IAM has no conditional
 * write and another case may write the same policy at the same time (a last writer that read before
 * our write drops our ARN): so after each write, a pause long enough for such a writer to land, then a
 * fresh read, and another write from what is there now until ours is in it. "noop" when it already was.
 */
export async function addRevokedInstance(iam: IAMClient, roleName: string, arn: string, settleMs = 1000): Promise<"ok" | "noop"> {
    let arns = await readRevoked(iam, roleName);
    if (arns.includes(arn)) {
        return "noop";
    }
    for (let attempt = 0; attempt < REVOCATION_TRIES; attempt++) {
        await iam.send(new PutRolePolicyCommand({
            RoleName: roleName,
            PolicyName: REVOCATION_POLICY,
            PolicyDocument: revocationPolicy([...new Set([...arns, arn])]),
        }));
        await pause(settleMs);
        arns = await readRevoked(iam, roleName);
        if (arns.includes(arn)) {
            return "ok";
        }
    }
    throw new Error(`${REVOCATION_POLICY} on ${roleName} kept changing: ${arn} not in it after ${REVOCATION_TRIES} writes`);
}

/** Whether the role's revocation policy denies its credentials to the instance `arn`. */
export async function isInstanceRevoked(iam: IAMClient, roleName: string, arn: string): Promise<boolean> {
    return (await readRevoked(iam, roleName)).includes(arn);
}

/**
 * Lifts the revocation of the instance `arn` (release): the other entries stay. Same write, settle,
 * re-read loop as `addRevokedInstance`, until `arn` is absent. "noop" when it was not revoked.
 */
export async function removeRevokedInstance(iam: IAMClient, roleName: string, arn: string, settleMs = 1000): Promise<"ok" | "noop"> {
    let arns = await readRevoked(iam, roleName);
    if (!arns.includes(arn)) {
        return "noop";
    }
    for (let attempt = 0; attempt < REVOCATION_TRIES; attempt++) {
        const rest = arns.filter((a) => a !== arn);
        if (rest.length === 0) {
            try {
                await iam.send(new DeleteRolePolicyCommand({ RoleName: roleName, PolicyName: REVOCATION_POLICY }));
            } catch (err) {
                if (errorCode(err) !== "NoSuchEntity" && errorCode(err) !== "NoSuchEntityException") {
                    throw err;
                }
            }
        } else {
            await iam.send(new PutRolePolicyCommand({ RoleName: roleName, PolicyName: REVOCATION_POLICY, PolicyDocument: revocationPolicy(rest) }));
        }
        await pause(settleMs);
        arns = await readRevoked(iam, roleName);
        if (!arns.includes(arn)) {
            return "ok";
        }
    }
    throw new Error(`${REVOCATION_POLICY} on ${roleName} kept changing: ${arn} still in it after ${REVOCATION_TRIES} writes`);
}
