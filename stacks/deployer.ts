/**
 * Who runs `pulumi preview` / `pulumi up` on the forensic stack. The evidence bucket and key deny every
 * change of their protection to anyone but the deploy roles and the break-glass role; an update run by
 * anybody else succeeds the first time (no policy exists yet) and fails for ever after. The program
 * therefore refuses to run as an identity that the policies it is about to write would lock out.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "./config";

/**
 * Set (to any non-empty value) by a CI job whose preview is never applied, such as the pull-request
 * preview with its read-only role: the mismatch is then a warning instead of an error.
 */
export const PREVIEW_ONLY_ENV = "IR_FORENSICS_PREVIEW_ONLY";

/**
 * The caller as `aws:PrincipalArn` names it in a policy: for an assumed role, the role's ARN with its path
 * (`getSessionContext` reads it with iam:GetRole), otherwise the user's ARN.
 */
export async function deployerArn(provider: pulumi.ProviderResource): Promise<string> {
    const caller = await aws.getCallerIdentity({}, { provider });
    const session = await aws.iam.getSessionContext({ arn: caller.arn }, { provider });
    return session.issuerArn;
}

/** IAM's ArnLike: the six colon-separated parts are matched one by one, `*` and `?` within a part. */
export function arnLike(arn: string, pattern: string): boolean {
    const split = (s: string) => {
        const parts = s.split(":");
        return [...parts.slice(0, 5), parts.slice(5).join(":")];
    };
    const arnParts = split(arn);
    const patternParts = split(pattern);
    return arnParts.length === patternParts.length && patternParts.every((p, i) => {
        const re = new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
        return re.test(arnParts[i]);
    });
}

/**
 * Fails (or, for a preview that is never applied, warns) when `caller` matches neither a deploy role nor the
 * break-glass role. Returns the message when it only warned.
 */
export function checkDeployer(caller: string, deployRoleArns: string[], breakGlassRoleArn: string | undefined, previewOnly: boolean): string | undefined {
    if (deployRoleArns.some((p) => arnLike(caller, p)) || (breakGlassRoleArn !== undefined && arnLike(caller, breakGlassRoleArn))) {
        return undefined;
    }
    const listed = (deployRoleArns.length > 0 ? `it lists ${deployRoleArns.join(", ")}` : "it is empty") +
        (caller.includes(":user/") ? "; run as a role, the list takes role ARNs" : "");
    const expected = `a list that matches the role this program runs as, ${caller} (${listed}): the evidence bucket's and key's ` +
        "policies deny protection changes to every other identity, so this identity's next update would fail with AccessDenied";
    if (previewOnly) {
        const message = `ir-forensics:evidence.deployRoleArns does not match ${caller}; pulumi up by this identity would be refused (${listed}).`;
        pulumi.log.warn(message);
        return message;
    }
    throw new ConfigError("evidence.deployRoleArns", expected);
}
