/**
 * Canned renders of both stacks, for specs that assert on them. The security stack reads the forensic
 * stack's outputs by StackReference: `forensicOutputs` stands in for them.
 */
import { renderStack, RenderedStack, RenderOptions } from "./pulumi";

export const FORENSIC_STACK = "organization/ir-forensics/forensic";

export function forensicOutputs(accountId = "111122223333"): Record<string, unknown> {
    return {
        accountId,
        region: "eu-west-1",
        evidenceBucketName: "evidence-bucket-1a2b3c",
        evidenceBucketArn: "arn:aws:s3:::evidence-bucket-1a2b3c",
        evidenceKeyArn: "arn:aws:kms:eu-west-1:111122223333:key/0000-1111",
    };
}

/** The security stack from Pulumi.security.yaml (plus overrides), reading a forensic stack of `forensicAccount`. */
export function renderSecurity(options: RenderOptions & { forensicAccount?: string; stack?: string } = {}): Promise<RenderedStack> {
    return renderStack(options.stack ?? "security", {
        file: "security",
        ...options,
        stackOutputs: options.stackOutputs ?? { [FORENSIC_STACK]: forensicOutputs(options.forensicAccount) },
    });
}
